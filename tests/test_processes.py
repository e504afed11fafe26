"""`python -m mnistlib` where the test is about processes: study --jobs' workers, signals sent
to a command started as from a terminal, and two commands on one folder at once."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import PROJECT, write_idx
from tests.test_cli import one_line, run


def test_study_jobs_make_the_same_records_as_one_at_a_time(tiny_root, tmp_path, monkeypatch, capsys):
    """Seeds 0-1 stacked as one network, seed 2 alone; in this process, or in two workers."""
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    common = ["study", "iteration4", "--seeds", "0-2", "--data-root", str(tiny_root), "--set", "epochs=2",
              "--stack", "2"]
    code, _, err = run(capsys, *common, "--jobs", "1", "--threads", "1", "--runs-dir", str(tmp_path / "one"))
    assert code == 0, err
    code, out, err = run(capsys, *common, "--jobs", "2", "--runs-dir", str(tmp_path / "two"))  # worker processes
    assert code == 0, err
    assert "seeds 0-2: final-epoch test acc" in out
    strip = lambda p: [{k: v for k, v in h.items() if k != "seconds"} for h in json.loads(p.read_text())["history"]]
    files = sorted(p.name for p in (tmp_path / "one").glob("*.json"))
    assert files == sorted(p.name for p in (tmp_path / "two").glob("*.json")) and len(files) == 3
    for name in files:
        assert strip(tmp_path / "one" / name) == strip(tmp_path / "two" / name)
    stacked = [json.loads((tmp_path / "one" / name).read_text()).get("stacked") for name in files]
    assert stacked == [[0, 1], [0, 1], None]


@pytest.fixture
def small_root(tmp_path):
    """A synthetic MNIST of 2,048 training and 256 test images: an epoch of a second or so, long
    enough that a stop signal sent after a worker's first epoch finds every worker still training."""
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, n in (("train", 2048), ("t10k", 256)):
        labels = torch.arange(n) % 10
        write_idx(raw / f"{split}-images-idx3-ubyte", (labels * 25).view(n, 1, 1).expand(n, 28, 28).contiguous())
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
    return tmp_path / "mnist"


@pytest.mark.parametrize("stop", ["Ctrl-C twice", "SIGTERM to the parent"])
def test_stopping_study_jobs_keeps_each_workers_finished_epochs(small_root, tmp_path, stop):
    """Ctrl-C in a terminal reaches the whole process group (the second press is ignored while the
    epochs are kept); SIGTERM reaches the parent alone, which stops each worker. Either way each
    worker keeps its finished epochs in a .partial, and the command ends with 130, no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "mnistlib", "study", "iteration1", "--seeds", "0-1", "--jobs", "2",
                             "--epochs", "15", "--data-root", str(small_root), "--runs-dir", str(tmp_path)],
                            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MNISTLIB_FAST": "1"}, start_new_session=True,
                            # as from a terminal, even when the tests run as a background job (SIGINT ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    started, said = set(), []
    for line in proc.stdout:  # each worker says "[seed S] epoch  1 ..." when its first epoch is kept
        said.append(line)
        if "epoch  1 " in line:
            started.add(line.split("]")[0])
        if len(started) == 2:
            break
    assert len(started) == 2 and proc.poll() is None, \
        f"the study ended (exit {proc.wait()}) before the stop was sent:\n{''.join(said)}"
    if stop == "Ctrl-C twice":
        os.killpg(proc.pid, signal.SIGINT)
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    partials = sorted(tmp_path.glob("*.partial"))
    assert len(partials) == 2 and not list(tmp_path.glob("*.json"))
    for p in partials:
        rec = json.loads(p.read_text())
        assert rec["interrupted"] and 1 <= rec["epochs"] < 15 and str(p) in out


def test_a_killed_worker_is_one_line_naming_the_files_that_hold_the_epochs(small_root, tmp_path):
    """A worker killed outright (out of memory, kill -9): exit 1, one line naming every file that
    holds a seed's finished epochs; the other worker is stopped and keeps its own."""
    proc = subprocess.Popen([sys.executable, "-m", "mnistlib", "study", "iteration1", "--seeds", "0-1", "--jobs", "2",
                             "--stack", "1", "--epochs", "15", "--data-root", str(small_root), "--runs-dir",
                             str(tmp_path)], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MNISTLIB_FAST": "1"})
    while not list(tmp_path.glob("*.partial")) and proc.poll() is None:  # a worker's first epoch is kept
        time.sleep(0.05)
    workers = [pid for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
               if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    os.kill(int(workers[0]), signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    partials = sorted(tmp_path.glob("*.partial"))
    assert proc.returncode == 1 and one_line(err) and partials and all(str(p) in err for p in partials), err
    assert not list(tmp_path.glob("*.json")) and all(json.loads(p.read_text())["interrupted"] for p in partials)


def test_two_studies_on_one_runs_folder_keep_every_record(tiny_root, tmp_path, capsys, monkeypatch):
    """The issue's case: a 1-epoch study (here) and a 2-epoch one (another process) of the same seeds, at once."""
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    common = ["study", "iteration1", "--seeds", "0-1", "--jobs", "1", "--set", "epochs=2", "--data-root", str(tiny_root),
              "--runs-dir", str(tmp_path)]
    other = subprocess.Popen([sys.executable, "-m", "mnistlib", *common], cwd=PROJECT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    code, _, err = run(capsys, *common, "--epochs", "1")
    assert code == 0, err
    _, err = other.communicate(timeout=300)
    assert other.returncode == 0, err
    made = {p.name: json.loads(p.read_text())["epochs"] for p in tmp_path.glob("*.json")}
    assert made == {"iteration1+epochs2-1of2epochs-seed0.json": 1, "iteration1+epochs2-1of2epochs-seed1.json": 1,
                    "iteration1+epochs2-seed0.json": 2, "iteration1+epochs2-seed1.json": 2}
