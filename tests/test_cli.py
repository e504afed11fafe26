import json
import os
import subprocess
import sys

import pytest

from mnistlib.cli import main
from mnistlib.recipes import get_recipe
from tests.conftest import PROJECT, members, record


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


BAD_INPUT = [  # (arguments, expected line fragment): each refused in one line, before any work
    (["train", "iteration9"], "unknown iteration 'iteration9'; choose from: iteration1"),
    (["summary", "resnet"], "unknown iteration 'resnet'"),
    (["train", "iteration1", "--epochs", "0"], "epochs must be a whole number from 1 to 15"),
    (["train", "iteration1", "--device", "tpu"], "invalid choice"),
    (["study", "iteration1", "--seeds", "4-2"], "bad seed list"),
    (["fly"], "invalid choice"),
    (["train", "iteration1", "--set", "colour=3"], "expected FIELD=VALUE with FIELD one of: cfg, head"),
    (["train", "iteration1", "--set", "batch_size=0"], "batch_size must be a whole number >= 1, got 0"),
    (["train", "iteration1", "--set", "batch_size=0.5"], "batch_size must be a whole number >= 1, got 0.5"),
    (["train", "iteration1", "--set", "batch_size='64'"], "batch_size must be a whole number >= 1, got '64'"),
    (["train", "iteration1", "--set", "lr=fast"], "lr must be a number > 0, got 'fast'"),
    (["train", "iteration1", "--set", "cfg=5"], "cfg=5 does not build"),
    (["train", "iteration1", "--set", "cfg=(16,'M','M','M','M',16)"], "shrinks the 28x28 input to nothing"),
    (["train", "iteration1", "--set", "milestones=6"], "milestones must be a tuple of increasing whole epochs"),
    (["train", "iteration1", "--set", "milestones=(6,20)"], "between 1 and 14"),
    (["train", "iteration1", "--set", "dropout=2"], "dropout must be a number in [0, 1)"),
    (["train", "iteration1", "--set", "epochs=0"], "epochs must be a whole number from 1 to 15"),
    (["train", "iteration1", "--set", "schedule=cosine"], "schedule must be one of step, onecycle"),
    (["study", "iteration1", "--set", "head=dense"], "head must be one of gap, conv"),
]


def test_unusable_outputs_are_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import mnistlib.runner
    monkeypatch.setattr(mnistlib.runner, "load_mnist", lambda *a, **k: pytest.fail("data loaded before the check"))
    (tmp_path / "a-file").write_text("")
    for out, fragment in ((tmp_path, "is a folder"), (tmp_path / "a-file" / "r.json", "a-file is a file, not a folder")):
        assert main(["train", "iteration1", "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert fragment in err and len(err.strip().splitlines()) == 1, err


def test_committed_records_are_never_replaced_by_other_runs(capsys, monkeypatch):
    """A fast-mode run, or a shorter one, aimed at the committed evidence is refused by name."""
    from mnistlib.paths import RUNS_DIR
    import mnistlib.runner
    monkeypatch.setattr(mnistlib.runner, "load_mnist", lambda *a, **k: pytest.fail("data loaded before the check"))
    committed = (RUNS_DIR / "iteration3-seed0.json").read_bytes()
    for extra, env, kind in (([], "1", "a fast-mode run"), (["--epochs", "1"], "0", "a short run")):
        monkeypatch.setenv("MNISTLIB_FAST", env)
        assert main(["study", "iteration3", "--seeds", "0-1", "--jobs", "1", "--runs-dir", str(RUNS_DIR), *extra]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"holds the committed evidence: {kind} is never kept there" in err
    monkeypatch.setenv("MNISTLIB_FAST", "0")  # a variant of another recipe aimed at a committed record's file
    assert main(["train", "iteration3", "--out", str(RUNS_DIR / "iteration3-seed0.json"), "--set", "lr=0.2"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "iteration3-seed0.json holds a run with a different recipe" in err
    assert "--overwrite" in err
    assert (RUNS_DIR / "iteration3-seed0.json").read_bytes() == committed


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
              "--seed", "2", "--set", "schedule=onecycle", env={"MNISTLIB_FAST": "1"})
    assert out.returncode == 0, out.stderr
    rec = json.loads((tmp_path / "r.json").read_text())
    assert (rec["iteration"], rec["params"], rec["seed"], rec["epochs"], rec["fast_mode"]) == ("iteration3", 7384, 2, 1, True)
    assert rec["recipe"]["schedule"] == "onecycle" and rec["epochs_asked"] == 1 and rec["schema"] == 2
    assert rec["command"][-2:] == ["--set", "schedule=onecycle"]
    assert "epoch  1" in out.stdout and "FAST MODE" in out.stdout
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o666 & ~umask  # like any file the user writes


def test_default_outputs_go_to_the_user_runs_folder_named_by_variant(tiny_root, tmp_path, monkeypatch, capsys):
    """Not in fast mode, on a tiny synthetic MNIST: one-epoch recipes make complete records."""
    import mnistlib.cli
    monkeypatch.setattr(mnistlib.cli, "USER_RUNS_DIR", tmp_path / "runs")
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


def test_study_jobs_make_the_same_records_as_one_at_a_time(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    common = ["study", "iteration4", "--seeds", "0-2", "--data-root", str(tiny_root), "--set", "epochs=2"]
    one = cli(*common, "--jobs", "1", "--threads", "1", "--runs-dir", str(tmp_path / "one"))
    two = cli(*common, "--jobs", "2", "--runs-dir", str(tmp_path / "two"))
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert "seeds 0-2: final-epoch test acc" in two.stdout
    strip = lambda p: [{k: v for k, v in h.items() if k != "seconds"} for h in json.loads(p.read_text())["history"]]
    files = sorted(p.name for p in (tmp_path / "one").glob("*.json"))
    assert files == sorted(p.name for p in (tmp_path / "two").glob("*.json")) and len(files) == 3
    for name in files:
        assert strip(tmp_path / "one" / name) == strip(tmp_path / "two" / name)


def test_train_on_the_validation_split(shared_root, tmp_path):
    out = cli("train", "iteration5", "--validation", "--set", "batch_size=64", "--set", "cfg=(4, 'M', 8)",
              "--data-root", str(shared_root), "--out", str(tmp_path / "v.json"), env={"MNISTLIB_FAST": "1"})
    assert out.returncode == 0, out.stderr
    rec = json.loads((tmp_path / "v.json").read_text())
    assert rec["evaluated_on"] == "validation" and "final-epoch validation acc" in out.stdout
    from mnistlib.recipes import changes
    assert changes(rec["recipe"]) == {"batch_size": 64, "cfg": [4, "M", 8]} and rec["params"] == 4 * 9 + 8 + 4 * 8 * 9 + 16 + 80
    from mnistlib import count_params, get_recipe, make_net
    assert rec["recipe"]["lr"] == get_recipe("iteration5").lr and rec["recipe"]["batch_size"] == 64
    assert rec["params"] == count_params(make_net(rec["recipe"]["cfg"], rec["recipe"]["head"]))  # rebuildable
    (tmp_path / "validation").mkdir()
    (tmp_path / "v.json").rename(tmp_path / "validation" / "v.json")
    table = cli("table", "--validation", "--runs-dir", str(tmp_path))  # a fast-mode run is no result either
    assert table.returncode == 1 and "no complete validation-split records" in table.stderr and not table.stdout
    from mnistlib.results import load_records
    assert load_records(runs_dir=tmp_path) == []  # never mixed into an iteration's results


def test_study_summarises_seeds(shared_root, tmp_path):
    out = cli("study", "iteration1", "--seeds", "0-1", "--data-root", str(shared_root),
              "--runs-dir", str(tmp_path / "runs"), env={"MNISTLIB_FAST": "1"})
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["iteration1-fast-seed0.json",
                                                                     "iteration1-fast-seed1.json"]
    assert "seeds 0-1: final-epoch test acc" in out.stdout and "FAST MODE" in out.stdout


def test_bench_prints_a_ratio_last(shared_root):
    out = cli("bench", "--epochs", "1", "--data-root", str(shared_root), env={"MNISTLIB_FAST": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1].startswith("speed-up: ")


def test_interrupted_train_keeps_the_epochs_in_a_partial_file(tiny_root, tmp_path, monkeypatch):
    import mnistlib.train as train
    real = train.evaluate
    calls = []

    def evaluate_then_interrupt(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C during the third epoch
        return real(*args)

    monkeypatch.setattr(train, "evaluate", evaluate_then_interrupt)
    out = tmp_path / "out" / "r.json"
    out.parent.mkdir()
    out.write_text("{}")  # an earlier record must survive
    code = main(["train", "iteration1", "--epochs", "5", "--data-root", str(tiny_root), "--out", str(out), "--overwrite"])
    assert code == 130 and out.read_text() == "{}"
    rec = json.loads((out.parent / "r.json.partial").read_text())
    assert rec["interrupted"] and rec["epochs"] == 2 and len(rec["history"]) == 2


def test_ctrl_c_during_study_jobs_keeps_each_workers_finished_epochs(shared_root, tmp_path):
    """Ctrl-C in a terminal reaches the whole process group: the parent asks each worker to stop,
    each keeps its finished epochs in <record>.partial, and the command ends with 130, no traceback."""
    import signal
    proc = subprocess.Popen([sys.executable, "-m", "mnistlib", "study", "iteration1", "--seeds", "0-1", "--jobs", "2",
                             "--epochs", "15", "--data-root", str(shared_root), "--runs-dir", str(tmp_path)],
                            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MNISTLIB_FAST": "1"}, start_new_session=True,
                            # as from a terminal, even when the tests run as a background job (SIGINT ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:
        if "epoch  1 " in line:
            break
    os.killpg(proc.pid, signal.SIGINT)
    os.killpg(proc.pid, signal.SIGINT)  # pressed twice: the second is ignored while the epochs are kept
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    partials = sorted(tmp_path.glob("*.partial"))
    assert partials and not list(tmp_path.glob("*.json"))
    for p in partials:
        rec = json.loads(p.read_text())
        assert rec["interrupted"] and 1 <= rec["epochs"] < 15


# --- probes: every bad input and fault answered in one line, before any training --------------

PROBES = [(args, {}, fragment) for args, fragment in BAD_INPUT] + [  # (arguments, environment, expected line)
    (["train", "iteration1", "--epochs", "16"], {}, "epochs must be a whole number from 1 to 15"),
    (["train", "iteration1", "--epochs", "1000"], {}, "epochs must be a whole number from 1 to 15"),
    (["train", "iteration1", "--set", "epochs=5", "--epochs", "6"], {}, "--epochs 6 is more than the recipe's 5"),
    (["train", "iteration1", "--seed", "-1"], {}, "a seed is a whole number from 0 to 4,294,967,295"),
    (["train", "iteration1", "--seed", "100000000000000000000000"], {}, "a seed is a whole number from 0"),
    (["study", "iteration1", "--seeds", "0-99999999999"], {}, "a seed is a whole number from 0"),
    (["study", "iteration1", "--seeds", "0-200000"], {}, "has more than 100 seeds"),
    (["study", "iteration1", "--jobs", "100000"], {}, "from 1 to 1024"),
    (["train", "iteration1", "--threads", "0"], {}, "from 1 to 1024"),
    (["train", "iteration3", "--set", "cfg=[8,16]"], {}, "builds 93,432 parameters, over the series' budget of 10,000"),
    (["train", "iteration1", "--set", "cfg=()"], {}, "has no conv"),
    (["train", "iteration1", "--set", "cfg=('M',)"], {}, "has no conv"),
    (["train", "iteration1", "--set", "cfg=((8,3),)"], {}, "layer (8, 3) in ((8, 3),): use n"),
    (["train", "iteration1", "--set", "lr=0.1", "--set", "lr=0.2"], {}, "--set lr given more than once"),
    (["train", "iteration6", "--set", "teacher=iteration99"], {}, "recipe field teacher: unknown iteration 'iteration99'"),
    (["train", "iteration6", "--set", "teacher=iteration4", "--set", "soft_weight=2"], {},
     "soft_weight must be a number in [0, 1]"),
    (["table", "--teacher", "--runs-dir", "/nonexistent/runs"], {}, "no runs folder /nonexistent/runs"),
    (["table", "--taught", "--runs-dir", "/nonexistent/runs"], {}, "no runs folder /nonexistent/runs"),
    (["table", "--taught", "--validation"], {}, "not allowed with argument"),
    (["train", "iteration3", "--set", "epochs=5"], {}, "between 1 and 4, e.g. (2, 3), got (6, 13)"),
    (["train", "iteration1"], {"MNISTLIB_FAST": "maybe"}, "MNISTLIB_FAST='maybe': use 1 or 0"),
    (["colab", "../.."], {}, "expected OWNER/NAME of a GitHub repository"),
    (["table", "--runs-dir", "/nonexistent/runs"], {}, "no runs folder /nonexistent/runs"),
    (["figures", "--runs-dir", "/nonexistent/runs"], {}, "no runs folder /nonexistent/runs"),
]


@pytest.mark.parametrize("args, env, fragment", PROBES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_probe_bad_input_is_one_line_before_any_training(args, env, fragment, capsys, monkeypatch):
    import mnistlib.runner
    monkeypatch.setattr(mnistlib.runner, "load_mnist", lambda *a, **k: pytest.fail("data loaded before the check"))
    monkeypatch.setattr(mnistlib.runner, "fit", lambda *a, **k: pytest.fail("training reached"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        code = main(args)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code != 0 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize("text, bad", [("[]", "is not a run record (no schema)"),
                                       ('{"schema": 2}', "is not a whole schema-2 record"),
                                       (json.dumps(record(0, [99.0] * 15, "iteration8", teacher=[{"seed": 0}])),
                                        "is not a whole schema-2 record (teacher members missing"),
                                       ('{"schema": 2, "iteration": "iter', "is not valid JSON (Unterminated string")])
def test_probe_a_bad_record_is_named_by_table_and_figures(tmp_path, capsys, text, bad):
    (tmp_path / "broken.json").write_text(text)
    for command in (["table"], ["figures"]):
        assert main([*command, "--runs-dir", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert f"{tmp_path / 'broken.json'} {bad}" in err and len(err.strip().splitlines()) == 1, err


def test_taught_iterations_stay_out_of_the_main_table_and_the_comparison(tmp_path, capsys, monkeypatch):
    import mnistlib.plots
    taught = record(0, [99.3] * 15, "iteration8", params=3822, teacher=members(0, "test", n=2))
    (tmp_path / "taught.json").write_text(json.dumps(taught))
    assert main(["table", "--runs-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "0 record(s), none a result" in err and "learn from a teacher: `table --taught`" in err, err
    assert main(["figures", "--runs-dir", str(tmp_path)]) == 0
    assert "iteration8-seeds.png" in capsys.readouterr().out and not (tmp_path / "comparison.png").exists()
    (tmp_path / "alone.json").write_text(json.dumps(record(0, [99.1] * 15, "iteration7")))
    drawn, real = [], mnistlib.plots.plot_comparison
    monkeypatch.setattr(mnistlib.plots, "plot_comparison", lambda by_name: drawn.append(list(by_name)) or real(by_name))
    assert main(["figures", "--runs-dir", str(tmp_path)]) == 0
    assert drawn == [["iteration7"]] and (tmp_path / "comparison.png").exists()


def test_probe_a_folder_without_results_says_why(tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps(record(0, [99.0], fast_mode=True)))
    (tmp_path / "b.json").write_text(json.dumps(record(1, [99.0] * 15, changes={"lr": 0.5})))
    for command in (["table"], ["figures"]):
        assert main([*command, "--runs-dir", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert "2 record(s), none a result (1 FAST MODE, 1 A VARIANT of iteration1);" in err, err
        assert "`table --validation`" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value, fast", [("1", True), ("true", True), ("YES", True), ("on", True), ("", False),
                                         ("0", False), ("false", False), ("No", False), ("off", False)])
def test_fast_mode_reads_the_usual_spellings(monkeypatch, value, fast):
    from mnistlib.data import fast_mode
    monkeypatch.setenv("MNISTLIB_FAST", value)
    assert fast_mode() is fast


def test_a_short_or_fast_run_never_meets_the_full_runs_record():
    from mnistlib.results import record_path
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
    from mnistlib.results import why_not_a_result
    assert rec["diverged"] and rec["epochs"] < 3 and why_not_a_result(rec).startswith("DIVERGED")


def test_a_record_written_meanwhile_by_another_process_is_kept(tiny_root, tmp_path, capsys, monkeypatch):
    """The no-replace rule holds when the record is written, not only before training starts."""
    import mnistlib.runner
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    out = tmp_path / "r.json"
    theirs = json.dumps(record(0, [99.0] * 15))
    real_fit = mnistlib.runner.fit

    def fit_while_another_writes(*args, **kwargs):
        run = real_fit(*args, **kwargs)
        out.write_text(theirs)  # another study finished first
        return run

    monkeypatch.setattr(mnistlib.runner, "fit", fit_while_another_writes)
    assert main(["train", "iteration1", "--data-root", str(tiny_root), "--set", "epochs=1", "--out", str(out)]) == 0
    assert out.read_text() == theirs
    kept = list(tmp_path.glob("r.json.kept-*"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["recipe"]["epochs"] == 1
    assert f"this run is kept in {kept[0]}" in capsys.readouterr().out


def test_a_failing_write_keeps_the_old_record_and_the_epochs(tiny_root, tmp_path, capsys, monkeypatch):
    """A full disk at the end: the old record stays byte for byte, no temporary file is left, and
    the finished epochs go to the .partial file (or the temporary folder), said in one line."""
    import errno
    import mnistlib.results
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    out = tmp_path / "out" / "r.json"
    out.parent.mkdir()
    out.write_text("{}")
    real_dump, calls = json.dump, []

    def full_disk(obj, f, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # 1: the epoch's .partial, 2: the final record, 3: the .partial again
            raise OSError(errno.ENOSPC, "No space left on device")
        real_dump(obj, f, **kwargs)

    monkeypatch.setattr(mnistlib.results.json, "dump", full_disk)
    code = main(["train", "iteration1", "--data-root", str(tiny_root), "--set", "epochs=1", "--out", str(out),
                 "--overwrite"])
    assert code == 0 and out.read_text() == "{}"
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.json", "r.json.partial"]
    assert f"cannot write {out} (No space left on device); its 1 epoch(s) are in {out}.partial" in capsys.readouterr().out


def test_sigterm_keeps_the_finished_epochs_like_ctrl_c(shared_root, tmp_path):
    import signal
    proc = subprocess.Popen([sys.executable, "-m", "mnistlib", "train", "iteration1", "--epochs", "15",
                             "--data-root", str(shared_root), "--out", str(tmp_path / "r.json")],
                            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MNISTLIB_FAST": "1"})
    for line in proc.stdout:
        if line.startswith("epoch  1 "):
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "interrupted: keeping the" in out and "finished epoch(s) are in" in out
    rec = json.loads((tmp_path / "r.json.partial").read_text())
    assert rec["interrupted"] and 1 <= rec["epochs"] < 15 and not (tmp_path / "r.json").exists()


def test_two_studies_on_one_runs_folder_keep_every_record(tiny_root, tmp_path):
    """The issue's case: a 1-epoch and a 2-epoch study of the same seeds, at the same time."""
    env = {"MNISTLIB_FAST": "0"}
    common = [sys.executable, "-m", "mnistlib", "study", "iteration1", "--seeds", "0-1", "--jobs", "1", "--set",
              "epochs=2", "--data-root", str(tiny_root), "--runs-dir", str(tmp_path)]
    procs = [subprocess.Popen(common + extra, cwd=PROJECT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for extra in (["--epochs", "1"], [])]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    made = {p.name: json.loads(p.read_text())["epochs"] for p in tmp_path.glob("*.json")}
    assert made == {"iteration1+epochs2-1of2epochs-seed0.json": 1, "iteration1+epochs2-1of2epochs-seed1.json": 1,
                    "iteration1+epochs2-seed0.json": 2, "iteration1+epochs2-seed1.json": 2}
