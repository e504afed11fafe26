"""Each notebook's Colab set-up cell, run as on Colab, with no network: a stand-in for /content,
the Colab markers set (the COLAB_RELEASE_TAG variable, or google.colab imported), GitHub replaced
by a local folder of repositories (git's url.<base>.insteadOf), Colab's python by a fake that
only logs what pip is asked. Every case ends in one line; a failure stops the cell as a
UsageError, which IPython prints as its message alone (checked once in a real kernel)."""
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import types

import pytest
import torch
from IPython.core.error import UsageError

from tests.conftest import PROJECT

NOTEBOOKS = sorted((PROJECT / "notebooks").glob("*.ipynb"))
PYTHON = sys.executable  # the real one: the tests put a fake in its place

# Colab's python, as the cell and mnistlib.notebook.set_up_colab use it: `python -m pip install ...`.
# It logs each call, one line of arguments, and fails as pip does when an argument matches $FAKE_PIP_FAIL.
FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "$FAKE_PIP_LOG"
if [ -n "$FAKE_PIP_FAIL" ] && echo "$*" | grep -q -- "$FAKE_PIP_FAIL"; then
  echo "ERROR: Could not find a version that satisfies the requirement (from versions: none)" >&2
  exit 1
fi
"""


def setup_cell(path=NOTEBOOKS[1]) -> str:
    code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    return "".join(code[0]["source"])


def one_line(text: str) -> bool:
    return len(text.strip().splitlines()) == 1 and "Traceback" not in text


def test_every_notebook_has_the_same_set_up_cell_folded_on_colab():
    assert len({setup_cell(path) for path in NOTEBOOKS}) == 1
    title = setup_cell().splitlines()[0]
    assert title.startswith("# @title ") and title.endswith('{ display-mode: "form" }')  # Colab shows the title only
    assert "SystemExit" not in setup_cell() and 'isdir("/content")' not in setup_cell()  # Colab, not a folder
    shown = " ".join(line for line in setup_cell().splitlines() if line.startswith("# @markdown "))
    assert all(step in shown for step in ("Upload", "Files pane", "!unzip -q mnistlib.zip"))  # shown by the form too


class Colab:
    """A simulated Colab runtime in tmp_path; `run` executes the set-up cell there."""

    def __init__(self, tmp_path, monkeypatch):
        self.tmp, self.mp = tmp_path, monkeypatch
        mp = monkeypatch
        self.content = tmp_path / "content"
        self.content.mkdir()
        self.home = self.content / "mnistlib"
        self.github = tmp_path / "github"  # stands for https://github.com/
        self.pip_log = tmp_path / "pip.log"
        self.pip_log.touch()
        fake = tmp_path / "bin" / "python"
        fake.parent.mkdir()
        fake.write_text(FAKE_PYTHON)
        fake.chmod(0o755)
        mp.setattr(sys, "executable", str(fake))
        mp.setattr(sys, "path", list(sys.path))  # the cell adds the project to it
        mp.setenv("FAKE_PIP_LOG", str(self.pip_log))
        mp.delenv("FAKE_PIP_FAIL", raising=False)
        mp.delenv("COLAB_RELEASE_TAG", raising=False)
        mp.delitem(sys.modules, "google.colab", raising=False)
        for key, value in {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_COUNT": "1",
                           "GIT_CONFIG_KEY_0": f"url.file://{self.github}/.insteadOf",
                           "GIT_CONFIG_VALUE_0": "https://github.com/"}.items():
            mp.setenv(key, value)
        self.gpu(True)

    def publish(self, address="someone/mnistlib"):
        """A repository at `address` on the stand-in GitHub holding this project's package."""
        repo = self.github / address
        self.copy_project(repo)
        git = lambda *args: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                                           check=True, capture_output=True)
        git("init", "-q")
        git("add", "-A")
        git("commit", "-q", "-m", "the project")
        return address

    def copy_project(self, to):
        """What the set-up needs of the project: pyproject.toml and the package."""
        to.mkdir(parents=True)
        shutil.copy(PROJECT / "pyproject.toml", to)
        shutil.copytree(PROJECT / "mnistlib", to / "mnistlib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    def gpu(self, present):
        self.mp.setattr(torch.cuda, "is_available", lambda: present)
        self.mp.setattr(torch.cuda, "get_device_name", lambda *_: "Simulated GPU")

    def lacks(self, *names):
        """Colab's Python without these distributions (torchinfo, as a rule)."""
        real = importlib.metadata.distribution

        def distribution(name):
            if name in names:
                raise importlib.metadata.PackageNotFoundError(name)
            return real(name)
        self.mp.setattr(importlib.metadata, "distribution", distribution)

    def pip_calls(self):
        return self.pip_log.read_text().splitlines()

    def run(self, capsys, address="YOUR-GITHUB-USER/mnistlib", on_colab="env"):
        """Execute the cell as on Colab; returns what IPython would print (stdout, then a UsageError's
        one line as IPython's show_usage_error prints it) and the UsageError, if any."""
        if on_colab == "env":
            self.mp.setenv("COLAB_RELEASE_TAG", "release-colab-simulated")
        elif on_colab == "module":
            self.mp.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
        source = setup_cell().replace('"/content/mnistlib"', f'"{self.home}"')
        source = re.sub(r'REPOSITORY = "[^"]+"', f'REPOSITORY = "{address}"', source)
        capsys.readouterr()
        stop = None
        try:
            exec(compile(source, "<set-up cell>", "exec"), {})
        except UsageError as e:  # IPython: print("UsageError: %s" % exc, file=sys.stderr), no traceback
            stop = e
        out, err = capsys.readouterr()
        return out + err + (f"UsageError: {stop}\n" if stop else ""), stop


@pytest.fixture
def colab(tmp_path, monkeypatch):
    return Colab(tmp_path, monkeypatch)


def test_off_colab_the_cell_does_nothing(colab, capsys):
    colab.copy_project(colab.home)  # a folder named like Colab's is no sign of Colab
    shown, stop = colab.run(capsys, on_colab=None)
    assert shown == "" and stop is None and colab.pip_calls() == [] and str(colab.home) not in sys.path


def test_not_published_says_so_in_one_line(colab, capsys):
    shown, stop = colab.run(capsys)
    assert one_line(shown) and type(stop) is UsageError  # exactly UsageError: IPython shows subclasses in full
    assert "upload" in shown  # the way round it: the steps are in the form, above
    assert not colab.home.exists() and colab.pip_calls() == []


def test_no_network_says_so_in_one_line(colab, capsys):
    shown, stop = colab.run(capsys, address="someone/mnistlib")  # nothing at the stand-in address: git fails
    assert one_line(shown) and type(stop) is UsageError and "someone/mnistlib" in shown and "upload" in shown
    assert not colab.home.exists() and colab.pip_calls() == []


def test_published_it_clones_and_installs_into_colabs_own_torch(colab, capsys):
    shown, stop = colab.run(capsys, address=colab.publish(), on_colab="module")
    assert one_line(shown) and stop is None and "Simulated GPU" in shown
    assert (colab.home / ".git").is_dir() and sys.path[0] == str(colab.home)
    (install,) = colab.pip_calls()  # nothing else was missing: no dependency fetched, torch left alone
    assert install.startswith("-m pip install") and "--no-deps" in install and install.endswith(f"-e {colab.home}")


def test_the_install_needs_no_package_index(colab, capsys):
    """The command the cell gives pip, run by the real pip with no index at all (a dry run)."""
    colab.publish()
    colab.run(capsys, address="someone/mnistlib")
    (install,) = colab.pip_calls()
    args = [a for a in install.split()[3:] if a != "-q"]  # after "-m pip install"; not quiet: "Would install"
    done = subprocess.run([PYTHON, "-m", "pip", "install", "--dry-run", "--no-index", *args],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "Would install mnistlib" in done.stdout, done.stderr


def test_uploaded_it_installs_without_cloning(colab, capsys):
    colab.copy_project(colab.home)  # the upload route: the project unzipped into /content/mnistlib
    shown, stop = colab.run(capsys)  # not published, and no need to be
    assert one_line(shown) and stop is None and not (colab.home / ".git").exists()
    assert len(colab.pip_calls()) == 1 and sys.path[0] == str(colab.home)


def test_a_missing_dependency_is_fetched_alone(colab, capsys):
    colab.lacks("torchinfo")
    shown, stop = colab.run(capsys, address=colab.publish())
    assert one_line(shown) and stop is None
    install, fetch = colab.pip_calls()
    assert "--no-deps" in install and [a for a in fetch.split()[3:] if a != "-q"] == ["torchinfo>=1.8"]


def test_no_package_index_says_so_in_one_line(colab, capsys, monkeypatch):
    colab.lacks("torchinfo")
    monkeypatch.setenv("FAKE_PIP_FAIL", "torchinfo")  # mnistlib itself installs (no index needed), torchinfo not
    shown, stop = colab.run(capsys, address=colab.publish())
    assert one_line(shown) and type(stop) is UsageError and "torchinfo" in shown
    assert str(colab.home) not in sys.path


def test_pip_failing_on_the_project_says_so_in_one_line(colab, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_PIP_FAIL", "-e ")
    shown, stop = colab.run(capsys, address=colab.publish())
    assert one_line(shown) and type(stop) is UsageError and len(colab.pip_calls()) == 2  # offline, then as usual


def test_no_gpu_says_how_to_pick_one_in_one_line(colab, capsys):
    colab.gpu(False)
    shown, stop = colab.run(capsys, address=colab.publish())
    assert one_line(shown) and stop is None and "Change runtime type" in shown
    assert len(colab.pip_calls()) == 1 and sys.path[0] == str(colab.home)  # installed all the same


def test_in_a_real_kernel_a_failure_prints_one_line_and_stops_run_all(tmp_path):
    """What IPython's kernel shows of the cell unpublished: one line on stderr, no error output
    (no traceback, no %tb hint, no SystemExit warning), and the cell counts as failed, so
    Run All stops there."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    source = setup_cell().replace('"/content/mnistlib"', f'"{tmp_path / "mnistlib"}"')
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('import os; os.environ["COLAB_RELEASE_TAG"] = "release-colab-simulated"'),
        nbformat.v4.new_code_cell(source), nbformat.v4.new_code_cell('print("after")')])
    with pytest.raises(nbclient.exceptions.CellExecutionError):
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute(cwd=str(tmp_path))
    outputs = nb.cells[1].outputs
    assert [(o.output_type, o.get("name")) for o in outputs] == [("stream", "stderr")], outputs
    assert one_line(outputs[0].text) and outputs[0].text.startswith("UsageError: ")
    assert nb.cells[2].outputs == []  # Run All stopped at the set-up cell
