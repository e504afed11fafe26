import json
import os
import subprocess
import sys

import pytest

from mnistlib.cli import main
from tests.conftest import PROJECT


def cli(*args, env=None):
    """Run `python -m mnistlib ARGS` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "mnistlib", *args], capture_output=True, text=True,
                          cwd=PROJECT, env=full_env, timeout=300)


def test_list_shows_the_parameter_counts():
    out = cli("list")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["iteration1", "7,344"], ["iteration2", "8,624"],
                                                        ["iteration3", "7,384"]]


def test_help():
    out = cli("--help")
    assert out.returncode == 0 and all(c in out.stdout for c in ("list", "summary", "train", "study", "bench"))


@pytest.mark.parametrize("args, fragment", [
    (["train", "iteration9"], "unknown iteration 'iteration9'; choose from: iteration1"),
    (["summary", "resnet"], "unknown iteration 'resnet'"),
    (["train", "iteration1", "--epochs", "0"], "at least 1"),
    (["train", "iteration1", "--device", "tpu"], "invalid choice"),
    (["study", "iteration1", "--seeds", "4-2"], "bad seed list"),
    (["fly"], "invalid choice"),
    (["train", "iteration1", "--set", "colour=3"], "expected FIELD=VALUE with FIELD one of: cfg, head"),
    (["train", "iteration1", "--set", "lr=fast"], "'fast' is not a Python literal"),
])
def test_bad_input_is_one_line_and_nonzero(args, fragment, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err
    assert e.value.code != 0 and fragment in err and len(err.strip().splitlines()) == 1


def test_missing_data_is_one_line(tmp_path, capsys):
    code = main(["train", "iteration1", "--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 1 and "MNIST not found" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_summary_prints_torchinfo_and_the_rf_table():
    out = cli("summary", "iteration1")
    assert out.returncode == 0
    assert "Trainable params: 7,344" in out.stdout and "AdaptiveAvgPool2d" in out.stdout
    assert out.stdout.splitlines()[-3].split()[-3] == "28"  # RF after global average pooling


def test_train_writes_a_record(shared_root, tmp_path):
    out = cli("train", "iteration3", "--data-root", str(shared_root), "--out", str(tmp_path / "r.json"),
              "--seed", "2", env={"MNISTLIB_FAST": "1"})
    assert out.returncode == 0, out.stderr
    rec = json.loads((tmp_path / "r.json").read_text())
    assert (rec["iteration"], rec["params"], rec["seed"], rec["epochs"], rec["fast_mode"]) == ("iteration3", 7384, 2, 1, True)
    assert "epoch  1" in out.stdout


def test_train_on_the_validation_split(shared_root, tmp_path):
    out = cli("train", "iteration5", "--validation", "--set", "batch_size=64", "--set", "cfg=(4, 'M', 8)",
              "--data-root", str(shared_root), "--out", str(tmp_path / "v.json"), env={"MNISTLIB_FAST": "1"})
    assert out.returncode == 0, out.stderr
    rec = json.loads((tmp_path / "v.json").read_text())
    assert rec["evaluated_on"] == "validation" and "final-epoch validation acc" in out.stdout
    assert rec["recipe_changes"] == {"batch_size": 64, "cfg": [4, "M", 8]} and rec["params"] == 4 * 9 + 8 + 4 * 8 * 9 + 16 + 80
    from mnistlib import count_params, get_recipe, make_net
    assert rec["recipe"]["lr"] == get_recipe("iteration5").lr and rec["recipe"]["batch_size"] == 64
    assert rec["params"] == count_params(make_net(rec["recipe"]["cfg"], rec["recipe"]["head"]))  # rebuildable
    table = cli("table", "--validation", "--runs-dir", str(tmp_path))  # a fast-mode run is no result either
    assert table.returncode == 1 and "no complete validation-split records" in table.stderr and not table.stdout
    from mnistlib.results import load_records
    assert load_records(runs_dir=tmp_path) == []  # never mixed into an iteration's results


def test_study_summarises_seeds(shared_root, tmp_path):
    out = cli("study", "iteration1", "--seeds", "0-1", "--data-root", str(shared_root),
              "--runs-dir", str(tmp_path / "runs"), env={"MNISTLIB_FAST": "1"})
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["iteration1-seed0.json", "iteration1-seed1.json"]
    assert "seeds 0-1: final-epoch test acc" in out.stdout


def test_bench_prints_a_ratio_last(shared_root):
    out = cli("bench", "--epochs", "1", "--data-root", str(shared_root), env={"MNISTLIB_FAST": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1].startswith("speed-up: ")


def test_interrupted_train_keeps_the_epochs_in_a_partial_file(shared_root, tmp_path, monkeypatch):
    import mnistlib.train as train
    real = train.evaluate
    calls = []

    def evaluate_then_interrupt(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C during the third epoch
        return real(*args)

    monkeypatch.setattr(train, "evaluate", evaluate_then_interrupt)
    out = tmp_path / "r.json"
    out.write_text("{}")  # an earlier record must survive
    code = main(["train", "iteration1", "--epochs", "5", "--data-root", str(shared_root), "--out", str(out)])
    assert code == 130 and out.read_text() == "{}"
    rec = json.loads((tmp_path / "r.json.partial").read_text())
    assert rec["interrupted"] and rec["epochs"] == 2 and len(rec["history"]) == 2
