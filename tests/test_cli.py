"""`python -m mnistlib`, called in this process (`main(argv)`) as the command line calls it (where
the test is about processes: test_processes.py)."""
import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch

from mnistlib.lab.cli import main
from mnistlib.errors import Refusal
from mnistlib.recipes import get_recipe
from tests.conftest import PROJECT, members, record


def run(capsys, *argv):
    """`python -m mnistlib ARGV` in this process: (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse: --help, or a bad argument
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err: str) -> bool:
    return len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.fixture
def no_training(monkeypatch):
    """The data is never loaded and no epoch trained: a refusal comes first."""
    import mnistlib.lab.runner
    monkeypatch.setattr(mnistlib.lab.runner, "load_mnist", lambda *a, **k: pytest.fail("data loaded before the check"))
    monkeypatch.setattr(mnistlib.lab.runner, "fit", lambda *a, **k: pytest.fail("training reached"))


def test_list_shows_the_parameter_counts(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()[:3]] == [["iteration1", "7,344"], ["iteration2", "8,624"],
                                                                  ["iteration3", "7,384"]]


def test_help(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(c in out for c in ("list", "summary", "train", "study", "bench"))


def test_summary_prints_torchinfo_and_the_rf_table(capsys):
    code, out, _ = run(capsys, "summary", "iteration1")
    assert code == 0
    assert "Trainable params: 7,344" in out and "AdaptiveAvgPool2d" in out
    assert out.splitlines()[-3].split()[-3] == "28"  # RF after global average pooling


# --- refusals: one line, a non-zero exit, before any training, nothing written ---------------

PROBES = [  # (arguments, environment, what the line must name: the offending value, field or way out)
    (["train", "iteration9"], {}, "iteration9"),
    (["summary", "resnet"], {}, "resnet"),
    (["fly"], {}, "fly"),
    (["train", "iteration1", "--device", "tpu"], {}, "tpu"),
    (["train", "iteration1", "--epochs", "0"], {}, "epochs"),
    (["train", "iteration1", "--epochs", "16"], {}, "16"),
    (["train", "iteration1", "--epochs", "1000"], {}, "1000"),
    (["train", "iteration1", "--set", "epochs=5", "--epochs", "6"], {}, "--epochs"),
    (["train", "iteration1", "--seed", "-1"], {}, "-1"),
    (["train", "iteration1", "--seed", "100000000000000000000000"], {}, "100000000000000000000000"),
    (["train", "iteration1", "--threads", "0"], {}, "--threads"),
    (["study", "iteration1", "--seeds", "4-2"], {}, "4-2"),
    (["study", "iteration1", "--seeds", "0-99999999999"], {}, "99999999999"),
    (["study", "iteration1", "--seeds", "0-200000"], {}, "0-200000"),
    (["study", "iteration1", "--jobs", "100000"], {}, "100000"),
    (["train", "iteration1", "--set", "colour=3"], {}, "colour"),
    (["train", "iteration1", "--set", "batch_size=0"], {}, "batch_size"),
    (["train", "iteration1", "--set", "batch_size=0.5"], {}, "batch_size"),
    (["train", "iteration1", "--set", "batch_size='64'"], {}, "batch_size"),
    (["train", "iteration1", "--set", "lr=fast"], {}, "'fast'"),
    (["train", "iteration1", "--set", "lr=0.1", "--set", "lr=0.2"], {}, "lr"),
    (["train", "iteration1", "--set", "cfg=5"], {}, "cfg"),
    (["train", "iteration1", "--set", "cfg=(16,'M','M','M','M',16)"], {}, "cfg"),
    (["train", "iteration1", "--set", "cfg=()"], {}, "cfg"),
    (["train", "iteration1", "--set", "cfg=('M',)"], {}, "cfg"),
    (["train", "iteration1", "--set", "cfg=((8,3),)"], {}, "(8, 3)"),
    (["train", "iteration3", "--set", "cfg=[8,16]"], {}, "--over-budget"),
    (["train", "iteration1", "--set", "milestones=6"], {}, "milestones"),
    (["train", "iteration1", "--set", "milestones=(6,20)"], {}, "milestones"),
    (["train", "iteration3", "--set", "epochs=5"], {}, "milestones"),  # its milestones no longer fit
    (["train", "iteration1", "--set", "dropout=2"], {}, "dropout"),
    (["train", "iteration1", "--set", "epochs=0"], {}, "epochs"),
    (["train", "iteration1", "--set", "schedule=cosine"], {}, "cosine"),
    (["study", "iteration1", "--set", "head=dense"], {}, "dense"),
    (["train", "iteration6", "--set", "teacher=iteration99"], {}, "iteration99"),
    (["train", "iteration6", "--set", "teacher=iteration4", "--set", "soft_weight=2"], {}, "soft_weight"),
    (["train", "iteration1"], {"MNISTLIB_FAST": "maybe"}, "maybe"),
    (["table", "--taught", "--validation"], {}, "--taught"),
    (["table", "--runs-dir", "/nonexistent/runs"], {}, "/nonexistent/runs"),
    (["table", "--teacher", "--runs-dir", "/nonexistent/runs"], {}, "/nonexistent/runs"),
    (["table", "--taught", "--runs-dir", "/nonexistent/runs"], {}, "/nonexistent/runs"),
    (["figures", "--runs-dir", "/nonexistent/runs"], {}, "/nonexistent/runs"),
    (["colab", "../.."], {}, "../.."),
]


@pytest.mark.parametrize("args, env, names", PROBES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_probe_bad_input_is_one_line_before_any_training(args, env, names, capsys, monkeypatch, tmp_path,
                                                         no_training):
    import mnistlib.lab.cli
    monkeypatch.setattr(mnistlib.lab.cli, "USER_RUNS_DIR", tmp_path / "runs")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    readme = (PROJECT / "README.md").read_bytes()
    code, out, err = run(capsys, *args)
    assert code in (1, 2) and one_line(err) and names in err, err
    assert not out and not (tmp_path / "runs").exists() and (PROJECT / "README.md").read_bytes() == readme


def test_unusable_outputs_are_refused_before_any_work(tmp_path, capsys, no_training):
    (tmp_path / "a-file").write_text("")
    for out in (tmp_path, tmp_path / "a-file" / "r.json"):
        code, _, err = run(capsys, "train", "iteration1", "--out", str(out))
        assert code == 1 and one_line(err) and str(out) in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_committed_records_are_never_replaced_by_other_runs(capsys, monkeypatch, no_training):
    """A fast-mode run, or a shorter one, aimed at the committed evidence is refused, even with
    --overwrite; a variant aimed at a committed record's file is refused unless --overwrite."""
    from mnistlib.paths import RUNS_DIR
    committed = (RUNS_DIR / "iteration3-seed0.json").read_bytes()
    for extra, fast in (([], "1"), (["--epochs", "1"], "0"), (["--overwrite"], "1")):
        monkeypatch.setenv("MNISTLIB_FAST", fast)
        code, _, err = run(capsys, "study", "iteration3", "--seeds", "0-1", "--jobs", "1", "--runs-dir", str(RUNS_DIR),
                           *extra)
        assert code == 1 and one_line(err) and str(RUNS_DIR) in err, err
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    code, _, err = run(capsys, "train", "iteration3", "--out", str(RUNS_DIR / "iteration3-seed0.json"), "--set", "lr=0.2")
    assert code == 1 and one_line(err) and "--overwrite" in err, err
    assert (RUNS_DIR / "iteration3-seed0.json").read_bytes() == committed


def test_missing_data_is_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "train", "iteration1", "--data-root", str(tmp_path / "nowhere"),
                       "--out", str(tmp_path / "r.json"))
    assert code == 1 and one_line(err) and str(tmp_path / "nowhere") in err, err
    assert not (tmp_path / "r.json").exists()


BAD_RECORDS = {
    "not a record": "[]", "no fields": '{"schema": 3}', "not JSON": '{"schema": 3, "iteration": "iter',
    "teacher members missing": json.dumps(record(0, [99.0] * 15, "iteration8", teacher=[{"seed": 0}])),
    "claims a final accuracy its history does not": json.dumps({**record(0, [99.0] * 15), "final_acc": 99.99}),
    "claims a best epoch it did not have": json.dumps({**record(0, [99.0] * 15), "best_acc": 99.99}),
    "a NaN accuracy": json.dumps(record(0, [99.0] * 14 + [math.nan])),
    "an infinite number": json.dumps(record(0, [99.0] * 15)).replace('"seconds": 1.0', '"seconds": 1e999', 1),
    "no epoch": json.dumps({**record(0, [99.0] * 15), "history": []}),
    "another iteration than its recipe's": json.dumps({**record(0, [99.0] * 15), "iteration": "iteration2"}),
    "an epoch count its history does not have": json.dumps({**record(0, [99.0] * 15), "epochs": 14}),
}


@pytest.mark.parametrize("text", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_probe_a_bad_record_is_named_by_table_and_figures(tmp_path, capsys, text):
    (tmp_path / "broken.json").write_text(text)
    for command in ("table", "figures"):
        code, out, err = run(capsys, command, "--runs-dir", str(tmp_path))
        assert code == 1 and one_line(err) and str(tmp_path / "broken.json") in err and not out, err
    assert [p.name for p in tmp_path.iterdir()] == ["broken.json"]


def test_probe_a_copy_of_a_record_never_counts_its_seed_twice(tmp_path, capsys):
    """A backup copy of a record (the same run under another name) stops table and figures in one
    line naming it; the records of other runs of the same seed (fast mode, fewer epochs) do not."""
    (tmp_path / "iteration1-seed0.json").write_text(json.dumps(record(0, [99.0] * 15)))
    (tmp_path / "iteration1-fast-seed0.json").write_text(json.dumps(record(0, [99.0] * 15, fast_mode=True)))
    (tmp_path / "iteration1-1of15epochs-seed0.json").write_text(json.dumps(
        {**record(0, [98.0]), "epochs_asked": 1, "recipe": get_recipe("iteration1").to_dict()}))
    code, out, err = run(capsys, "table", "--runs-dir", str(tmp_path))
    assert code == 0 and "99.00 ± 0.00" in out, err
    (tmp_path / "iteration1-seed0 (copy).json").write_text((tmp_path / "iteration1-seed0.json").read_text())
    for command in ("table", "figures"):
        code, out, err = run(capsys, command, "--runs-dir", str(tmp_path))
        assert code == 1 and one_line(err) and str(tmp_path / "iteration1-seed0 (copy).json") in err and not out, err


def test_probe_a_folder_without_results_says_why(tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps(record(0, [99.0], fast_mode=True)))
    (tmp_path / "b.json").write_text(json.dumps(record(1, [99.0] * 15, changes={"lr": 0.5})))
    for command in ("table", "figures"):
        code, _, err = run(capsys, command, "--runs-dir", str(tmp_path))
        assert code == 1 and one_line(err) and "FAST MODE" in err and "VARIANT" in err, err


# --- a bug is not a refusal: it keeps its traceback --------------------------------------------

def test_a_bug_in_training_keeps_its_traceback(tiny_root, tmp_path, capsys, monkeypatch):
    """A ValueError mnistlib did not mean (here math.sqrt(-1) in the evaluation) is not turned
    into `error: math domain error`: it leaves main() as it is, and the signals are restored."""
    import mnistlib.train
    monkeypatch.setattr(mnistlib.train, "evaluate", lambda *args: math.sqrt(-1))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(ValueError, match="math domain error") as e:
        main(["train", "iteration1", "--data-root", str(tiny_root), "--out", str(tmp_path / "r.json")])
    assert not isinstance(e.value, Refusal) and "error:" not in capsys.readouterr().err
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert not (tmp_path / "r.json").exists()


def test_a_bug_in_an_argument_check_is_no_usage_message(capsys, monkeypatch, no_training):
    import mnistlib.lab.cli
    monkeypatch.setattr(mnistlib.lab.cli, "check_seed", lambda seed: math.sqrt(-1) if seed == 3 else seed)
    with pytest.raises(RuntimeError) as e:  # argparse would make a ValueError a usage line: not a SystemExit
        main(["train", "iteration1", "--seed", "3"])
    assert isinstance(e.value.__cause__, ValueError) and not isinstance(e.value.__cause__, Refusal)


# --- training from the command line --------------------------------------------------------------

def test_train_writes_a_record(tiny_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNISTLIB_FAST", "1")
    code, out, err = run(capsys, "train", "iteration3", "--data-root", str(tiny_root), "--out", str(tmp_path / "r.json"),
                         "--seed", "2", "--set", "schedule=onecycle")
    assert code == 0, err
    rec = json.loads((tmp_path / "r.json").read_text())
    assert (rec["iteration"], rec["params"], rec["seed"], rec["epochs"], rec["fast_mode"]) == ("iteration3", 7384, 2, 1, True)
    assert rec["recipe"]["schedule"] == "onecycle" and rec["epochs_asked"] == 1 and rec["schema"] == 3
    assert rec["command"][-2:] == ["--set", "schedule=onecycle"]
    assert "epoch  1" in out and "FAST MODE" in out
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o666 & ~umask  # like any file the user writes


def test_default_outputs_go_to_the_user_runs_folder_named_by_variant(tiny_root, tmp_path, monkeypatch, capsys):
    """Not in fast mode, on a tiny synthetic MNIST: one-epoch recipes make complete records."""
    import mnistlib.lab.cli
    monkeypatch.setattr(mnistlib.lab.cli, "USER_RUNS_DIR", tmp_path / "runs")
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    base = ["--data-root", str(tiny_root), "--validation", "--set", "epochs=1"]
    assert main(["train", "iteration5", *base]) == 0
    assert main(["train", "iteration5", *base, "--set", "batch_size=8", "--set", "cfg=(4,'M',8)"]) == 0
    assert main(["train", "iteration5", *base, "--epochs", "1"]) == 0  # the same run again: a re-make, allowed
    made = sorted(p.name for p in (tmp_path / "runs" / "validation").iterdir())
    assert made == ["iteration5+batch_size8+cfgbd2854aa+epochs1-seed0.json", "iteration5+epochs1-seed0.json"]
    capsys.readouterr()
    assert main(["table", "--validation", "--runs-dir", str(tmp_path / "runs")]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split("|")[1].strip() for row in rows] == [
        "`iteration5 + batch_size=8, cfg=(4,'M',8), epochs=1`", "`iteration5 + epochs=1`"]


def test_train_on_the_validation_split(tiny_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNISTLIB_FAST", "1")
    code, out, err = run(capsys, "train", "iteration5", "--validation", "--set", "batch_size=64", "--set",
                         "cfg=(4, 'M', 8)", "--data-root", str(tiny_root), "--out", str(tmp_path / "v.json"))
    assert code == 0, err
    rec = json.loads((tmp_path / "v.json").read_text())
    assert rec["evaluated_on"] == "validation" and "validation acc" in out
    from mnistlib.recipes import changes
    assert changes(rec["recipe"]) == {"batch_size": 64, "cfg": [4, "M", 8]} and rec["params"] == 4 * 9 + 8 + 4 * 8 * 9 + 16 + 80
    from mnistlib import count_params, make_net
    assert rec["recipe"]["lr"] == get_recipe("iteration5").lr and rec["recipe"]["batch_size"] == 64
    assert rec["params"] == count_params(make_net(rec["recipe"]["cfg"], rec["recipe"]["head"]))  # rebuildable
    (tmp_path / "validation").mkdir()
    (tmp_path / "v.json").rename(tmp_path / "validation" / "v.json")
    code, out, err = run(capsys, "table", "--validation", "--runs-dir", str(tmp_path))  # fast mode: no result
    assert code == 1 and one_line(err) and not out
    from mnistlib.lab.records import load_records
    assert load_records(runs_dir=tmp_path) == []  # never mixed into an iteration's results


def test_study_summarises_seeds(tiny_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNISTLIB_FAST", "1")
    code, out, err = run(capsys, "study", "iteration1", "--seeds", "0-1", "--jobs", "1", "--data-root", str(tiny_root),
                         "--runs-dir", str(tmp_path / "runs"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["iteration1-fast-seed0.json",
                                                                     "iteration1-fast-seed1.json"]
    assert "seeds 0-1: final-epoch test acc" in out and "FAST MODE" in out


def test_study_keeps_complete_records_and_trains_only_the_rest(tiny_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MNISTLIB_FAST", "1")
    common = ["study", "iteration1", "--data-root", str(tiny_root), "--runs-dir", str(tmp_path), "--jobs", "1"]
    assert main([*common, "--seeds", "0-1"]) == 0
    made = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")}
    seed1 = tmp_path / "iteration1-fast-seed1.json"
    seed1.write_text(json.dumps({**json.loads(seed1.read_text()), "interrupted": True}))  # not complete: trained again
    capsys.readouterr()
    assert main([*common, "--seeds", "0-2"]) == 0
    out = capsys.readouterr().out
    assert "seeds 0-2:" in out and len([line for line in out.splitlines() if "kept" in line]) == 1
    assert (tmp_path / "iteration1-fast-seed0.json").stat().st_mtime_ns == made["iteration1-fast-seed0.json"]
    assert not json.loads(seed1.read_text())["interrupted"] and len(list(tmp_path.glob("*.json"))) == 3


def test_study_resumes_after_an_interruption_keeping_what_was_finished(tiny_root, tmp_path, capsys, monkeypatch):
    """Ctrl-C in seed 1's second epoch: seed 0's record is whole, seed 1's first epoch in a .partial;
    the same study again keeps seed 0 (said in one line), trains seeds 1 and 2, and leaves both files."""
    import mnistlib.train as train
    folder = tmp_path / "runs"  # beside tiny_root's files
    argv = ["study", "iteration1", "--seeds", "0-2", "--epochs", "2", "--jobs", "1", "--stack", "1",
            "--data-root", str(tiny_root), "--runs-dir", str(folder)]
    real, calls = train.evaluate, []

    def interrupt_in_seed_1(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train, "evaluate", interrupt_in_seed_1)
    assert run(capsys, *argv)[0] == 130
    made = {p: p.read_bytes() for p in folder.iterdir()}
    assert sorted((json.loads(blob)["seed"], json.loads(blob)["epochs"], p.suffix) for p, blob in made.items()) == [
        (0, 2, ".json"), (1, 1, ".partial")]
    monkeypatch.setattr(train, "evaluate", real)
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "seeds 0-2:" in out and len([line for line in out.splitlines() if "kept" in line]) == 1
    assert all(p.read_bytes() == blob for p, blob in made.items()) and len(list(folder.glob("*.json"))) == 3


def test_bench_prints_a_ratio_last(tiny_root, capsys, monkeypatch):
    """The smallest bench: one epoch of each pipeline on the tiny MNIST (not in fast mode, whose
    4,096-image subset the tiny files do not hold)."""
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    code, out, err = run(capsys, "bench", "--epochs", "1", "--data-root", str(tiny_root))
    assert code == 0, err
    assert out.splitlines()[-1].startswith("speed-up: ")


def test_bench_seeds_prints_each_way_and_the_ratio(tiny_root, capsys):
    from mnistlib.lab.bench import bench_seeds
    out = bench_seeds(tiny_root, torch.device("cpu"), names=("iteration5",), k=2, processes=1)  # no process to start
    assert len(out) == 4 and all(seconds > 0 for seconds in out.values())
    assert capsys.readouterr().out.splitlines()[-1].startswith("iteration5  speed-up of 2 stacked")


def test_interrupted_train_keeps_its_epochs_in_a_partial_of_its_own(tiny_root, tmp_path, monkeypatch):
    """Ctrl-C in the third epoch: the earlier record of the same run stays byte for byte, the two
    finished epochs are in a .partial, and an earlier run's .partial is never replaced."""
    import mnistlib.train as train
    folder = tmp_path / "out"  # beside tiny_root's files
    out = folder / "r.json"
    argv = ["train", "iteration1", "--epochs", "5", "--data-root", str(tiny_root), "--out", str(out)]
    assert main(argv) == 0
    earlier = out.read_bytes()
    (folder / "r.json.partial").write_text("an earlier run's epochs")
    real, calls = train.evaluate, []

    def evaluate_then_interrupt(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C during the third epoch
        return real(*args)

    monkeypatch.setattr(train, "evaluate", evaluate_then_interrupt)
    assert main(argv) == 130
    assert out.read_bytes() == earlier and (folder / "r.json.partial").read_text() == "an earlier run's epochs"
    partials = [json.loads(p.read_text()) for p in folder.glob("*.partial") if p.name != "r.json.partial"]
    assert len(partials) == 1 and partials[0]["interrupted"] and len(partials[0]["history"]) == 2


def test_taught_iterations_stay_out_of_the_main_table_and_the_comparison(tmp_path, capsys, monkeypatch):
    import mnistlib.lab.plots_results as plots_results
    taught = record(0, [99.3] * 15, "iteration8", params=3822, teacher=members(0, "test", n=2))
    (tmp_path / "taught.json").write_text(json.dumps(taught))
    code, _, err = run(capsys, "table", "--runs-dir", str(tmp_path))
    assert code == 1 and one_line(err) and "--taught" in err, err  # says where they are
    assert main(["figures", "--runs-dir", str(tmp_path)]) == 0
    assert "iteration8-seeds.png" in capsys.readouterr().out and not (tmp_path / "comparison.png").exists()
    (tmp_path / "alone.json").write_text(json.dumps(record(0, [99.1] * 15, "iteration7")))
    drawn, real = [], plots_results.plot_comparison
    monkeypatch.setattr(plots_results, "plot_comparison", lambda by_name: drawn.append(list(by_name)) or real(by_name))
    assert main(["figures", "--runs-dir", str(tmp_path)]) == 0
    assert drawn == [["iteration7"]] and (tmp_path / "comparison.png").exists()


@pytest.mark.parametrize("value, fast", [("1", True), ("true", True), ("YES", True), ("on", True), ("", False),
                                         ("0", False), ("false", False), ("No", False), ("off", False)])
def test_fast_mode_reads_the_usual_spellings(monkeypatch, value, fast):
    from mnistlib.data import fast_mode
    monkeypatch.setenv("MNISTLIB_FAST", value)
    assert fast_mode() is fast


def test_a_short_or_fast_run_never_meets_the_full_runs_record():
    from mnistlib.lab.records import record_path
    recipe = get_recipe("iteration3")
    names = {record_path(recipe, 0, PROJECT / "runs").name, record_path(recipe, 0, PROJECT / "runs", epochs=1).name,
             record_path(recipe, 0, PROJECT / "runs", fast=True, epochs=1).name}
    assert names == {"iteration3-seed0.json", "iteration3-1of15epochs-seed0.json", "iteration3-fast-seed0.json"}


def test_a_diverged_run_stops_at_once_and_is_no_result(tiny_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    out = tmp_path / "r.json"
    code = main(["train", "iteration1", "--data-root", str(tiny_root), "--set", "lr=1e12", "--set", "epochs=3",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1 and not out.exists() and "diverged" in captured.out
    text = (tmp_path / "r.json.partial").read_text()
    rec = json.loads(text, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    from mnistlib.lab.records import why_not_a_result
    assert rec["diverged"] and rec["epochs"] < 3 and why_not_a_result(rec).startswith("DIVERGED")


def test_a_record_written_meanwhile_by_another_run_is_kept_and_so_is_this_run(tiny_root, tmp_path, capsys,
                                                                               monkeypatch):
    """The no-replace rule holds when the record is written, not only before training starts: the
    other run's record stays; this run ends in one line (exit 1) naming the file that holds it whole."""
    import mnistlib.lab.runner
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    folder = tmp_path / "out"  # beside tiny_root's files
    out = folder / "r.json"
    theirs = json.dumps(record(0, [99.0] * 15))
    real_fit = mnistlib.lab.runner.fit

    def fit_while_another_writes(*args, **kwargs):
        run = real_fit(*args, **kwargs)
        out.write_text(theirs)  # another study finished first
        return run

    monkeypatch.setattr(mnistlib.lab.runner, "fit", fit_while_another_writes)
    code, _, err = run(capsys, "train", "iteration1", "--data-root", str(tiny_root), "--set", "epochs=2", "--out", str(out))
    assert code == 1 and one_line(err) and out.read_text() == theirs
    [kept] = [p for p in folder.iterdir() if p != out]
    assert str(kept) in err and json.loads(kept.read_text())["epochs"] == 2


@pytest.mark.parametrize("fails", ["the record", "the first epoch", "the second epoch"])
def test_a_failing_write_is_an_error_exit_that_names_where_the_epochs_are(tiny_root, tmp_path, capsys, monkeypatch,
                                                                         fails):
    """A full disk: exit 1, one line naming the file that holds the finished epochs (or saying none
    was kept), the old record of the run byte for byte, no temporary file, nothing else written."""
    import errno
    import mnistlib.lab.records
    folder = tmp_path / "out"  # beside tiny_root's files
    out = folder / "r.json"
    argv = ["train", "iteration1", "--epochs", "2", "--data-root", str(tiny_root), "--out", str(out)]
    assert run(capsys, *argv)[0] == 0
    old, real_replace, writes = out.read_bytes(), os.replace, []

    def full_disk(src, dst):
        writes.append(dst)
        partials = [d for d in writes if str(d).endswith(".partial")]
        if {"the record": str(dst) == str(out), "the first epoch": len(partials) == 1,
                "the second epoch": len(partials) == 2}[fails]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(mnistlib.lab.records.os, "replace", full_disk)
    code, _, err = run(capsys, *argv)
    assert code == 1 and one_line(err) and "No space left" in err, err
    assert out.read_bytes() == old
    left = [p for p in folder.iterdir() if p != out]
    if fails == "the first epoch":
        assert left == [] and str(out) in err
    else:
        [partial] = left
        assert str(partial) in err and len(json.loads(partial.read_text())["history"]) == (fails == "the record") + 1


def test_a_partial_taken_meanwhile_by_another_run_is_left_alone_and_this_run_takes_the_next(tiny_root, tmp_path,
                                                                                               capsys, monkeypatch):
    """Two runs of one record path: the second to write its first epoch finds the .partial taken and
    keeps its epochs in the next free name; the first run's file is untouched, this run ends well."""
    import mnistlib.lab.runner
    folder = tmp_path / "out"  # beside tiny_root's files
    out, theirs = folder / "r.json", folder / "r.json.partial"
    real_fit = mnistlib.lab.runner.fit

    epochs = json.dumps({**record(0, [50.0], fast_mode=True), "recipe": get_recipe("iteration1").to_dict()})

    def another_run_claims_it_first(*args, **kwargs):
        folder.mkdir(exist_ok=True)
        theirs.write_text(epochs)  # the first epoch of the same run, started at the same time
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(mnistlib.lab.runner, "fit", another_run_claims_it_first)
    code, _, err = run(capsys, "train", "iteration1", "--data-root", str(tiny_root), "--out", str(out))
    assert code == 0, err
    assert theirs.read_text() == epochs and sorted(folder.iterdir()) == [out, theirs]


def test_a_record_of_a_recipe_since_changed_is_said_not_dropped_quietly(tmp_path, capsys):
    for seed in range(3):
        (tmp_path / f"iteration1-seed{seed}.json").write_text(json.dumps(record(seed, [99.0 + seed / 10] * 15)))
    changed = json.loads((tmp_path / "iteration1-seed2.json").read_text())
    changed["recipe"]["lr"] = 0.02  # the registry's lr was 0.02 when it was made
    (tmp_path / "iteration1-seed2.json").write_text(json.dumps(changed))
    code, out, err = run(capsys, "table", "--runs-dir", str(tmp_path))
    assert code == 0 and "| 0-1 |" in out and one_line(err) and "iteration1-seed2.json" in err


def test_a_copy_of_a_record_counts_once_even_with_its_prose_edited(tmp_path, capsys):
    for seed in range(2):
        (tmp_path / f"iteration1-seed{seed}.json").write_text(json.dumps(record(seed, [99.0] * 15)))
    backup = record(0, [99.0] * 15)
    backup["recipe"]["summary"] = "an older wording of the same recipe"
    (tmp_path / "iteration1-seed0-backup.json").write_text(json.dumps(backup))
    code, _, err = run(capsys, "table", "--runs-dir", str(tmp_path))
    assert code == 1 and one_line(err) and "iteration1-seed0-backup.json" in err


def test_a_bug_that_opens_a_missing_file_keeps_its_traceback(tmp_path, monkeypatch):
    import mnistlib.lab.cli
    monkeypatch.setattr(mnistlib.lab.cli, "cmd_list", lambda args: open(tmp_path / "no-such-file"))
    with pytest.raises(FileNotFoundError):
        main(["list"])


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_probe_a_run_replaces_only_a_record_never_another_file(tmp_path, capsys, no_training, overwrite):
    """--out onto a device, a folder, a link or a file that is no record: refused before any work, in
    one line naming it, with or without --overwrite (never suggested for them); nothing changes."""
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    (tmp_path / "link.json").symlink_to(notes)
    for target in ("/dev/null", tmp_path, tmp_path / "link.json", notes):
        code, _, err = run(capsys, "train", "iteration1", "--out", str(target), *overwrite)
        assert code == 1 and one_line(err) and str(target) in err and "--overwrite" not in err, err
    assert notes.read_text() == "my notes" and (tmp_path / "link.json").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "notes.txt"] and Path("/dev/null").is_char_device()


def test_fast_studies_of_different_lengths_keep_both(tiny_root, tmp_path, capsys):
    folder = tmp_path / "runs"  # beside tiny_root's files
    common = ["study", "iteration1", "--seeds", "0", "--jobs", "1", "--data-root", str(tiny_root),
              "--runs-dir", str(folder)]
    assert run(capsys, *common)[0] == 0 and run(capsys, *common, "--epochs", "2")[0] == 0
    assert sorted(json.loads(p.read_text())["epochs"] for p in folder.iterdir()) == [1, 2]


def test_sigterm_keeps_the_finished_epochs_like_ctrl_c(tiny_root, tmp_path, capsys, monkeypatch):
    """SIGTERM (here sent to this process as the first epoch is kept) stops `train` as Ctrl-C does."""
    import mnistlib.lab.runner as runner
    real = runner.save_record

    def save_then_sigterm(record, path, *args, **kwargs):
        real(record, path, *args, **kwargs)
        if path.suffix == ".partial":
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(runner, "save_record", save_then_sigterm)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code, out, err = run(capsys, "train", "iteration1", "--epochs", "5", "--data-root", str(tiny_root),
                             "--out", str(tmp_path / "r.json"))
    finally:  # after a stop signal the CLI ignores the next ones until its process ends: not pytest's
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert code == 130 and "Traceback" not in err, err
    assert "interrupted: keeping the" in out and "finished epoch(s) are in" in out
    rec = json.loads((tmp_path / "r.json.partial").read_text())
    assert rec["interrupted"] and 1 <= rec["epochs"] < 5 and not (tmp_path / "r.json").exists()
