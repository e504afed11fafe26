"""Training output inside a notebook (JupyterLab, Colab), and the end of the notebooks' Colab
set-up cell. Standard library only at import: that cell runs this file before mnistlib is installed."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def in_notebook() -> bool:
    """Running in a Jupyter kernel (JupyterLab, Colab), where tqdm.auto draws widget bars."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return type(shell).__name__ in ("ZMQInteractiveShell", "Shell")  # Shell: Colab's kernel


def replace_bars_by_text(lines: list[str]) -> None:
    """Clear the cell's live progress bars and print `lines` instead: the stored notebook then reads
    the same everywhere, with no widget state."""
    from IPython.display import clear_output
    clear_output()
    print("\n".join(lines))


def set_up_colab(home: str) -> None:
    """Once the project is in `home` (cloned or uploaded): install mnistlib into Colab's own Python
    without touching its torch (--no-deps; only a dependency Colab lacks is fetched, torchinfo as a
    rule), make it importable in this kernel, and say in one line how it went and whether there is
    a GPU. A failure is one line too, a UsageError: IPython prints its message alone, with no
    traceback, and Run All stops there."""
    from importlib import invalidate_caches, metadata
    from IPython.core.error import UsageError

    def pip(*args: str) -> str | None:
        """pip install `args` quietly; None when it worked, else pip's last line."""
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *args], capture_output=True, text=True)
        return None if done.returncode == 0 else ([""] + (done.stderr + done.stdout).strip().splitlines())[-1]

    def installed(requirement: str) -> bool:
        try:
            metadata.distribution(re.match(r"[A-Za-z0-9_.-]+", requirement)[0])
            return True
        except metadata.PackageNotFoundError:
            return False

    # --no-build-isolation: the build uses Colab's setuptools, so this step needs no package index
    failed = pip("--no-deps", "--no-build-isolation", "-e", home) and pip("--no-deps", "-e", home)
    if failed:
        raise UsageError(f"Could not install mnistlib from {home} with pip ({failed.strip()}): check that folder "
                         "holds the whole project (pyproject.toml, mnistlib/), then run this cell again.")
    # pyproject.toml's dependencies, by regex: Python 3.10 has no tomllib
    listed = re.search(r"^dependencies = \[(.*?)\]", (Path(home) / "pyproject.toml").read_text(), re.M | re.S)
    missing = [r for r in re.findall(r'"([^"]+)"', listed[1]) if not installed(r)]
    if missing and pip(*missing):
        raise UsageError(f"Could not install {', '.join(missing)} with pip: the package index is out of reach "
                         "(no network?). Check the connection, then run this cell again.")
    if home not in sys.path:
        sys.path.insert(0, home)  # pip's editable install takes effect in new processes; this kernel needs this
    invalidate_caches()
    import torch
    if torch.cuda.is_available():
        print(f"mnistlib is installed from {home}; the GPU: {torch.cuda.get_device_name(0)}.")
    else:
        print("mnistlib is installed, but this runtime has no GPU (training on the CPU is several times slower): "
              "for one, Runtime > Change runtime type > T4 GPU > Save, then run the notebook again from the top.")
