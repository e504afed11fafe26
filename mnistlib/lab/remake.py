"""`python -m mnistlib notebooks`: execute the committed notebooks (`jupyter nbconvert --execute`, full
mode, one CPU thread per kernel), then normalise what they store so that it reads the same on a code
host, in JupyterLab and after a fresh clone, and a re-run gives a reviewable diff: the kernelspec as
JupyterLab writes it (opening a notebook does not mark it modified), no widget state (training cells
store plain text: mnistlib.notebook.replace_bars_by_text), no per-cell execution timestamps."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import Refusal
from ..paths import ROOT

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def normalise(nb: dict) -> dict:
    """The notebook (nbformat JSON) without volatile metadata and widget state, every cell with an id
    (nbformat 4.5) from its position, so re-runs keep it."""
    nb["metadata"].pop("widgets", None)
    nb["metadata"]["kernelspec"] = dict(KERNELSPEC)
    nb["nbformat"], nb["nbformat_minor"] = 4, max(nb.get("nbformat_minor", 5), 5)
    for i, cell in enumerate(nb["cells"]):
        cell.setdefault("id", f"cell-{i:02d}")
        cell.get("metadata", {}).pop("execution", None)
        outputs = [o for o in cell.get("outputs", []) if WIDGET_VIEW not in o.get("data", {})]
        if "outputs" in cell:
            cell["outputs"] = outputs
    return nb


def normalise_file(path: Path) -> None:
    nb = normalise(json.loads(path.read_text()))
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def execute(path: Path, data_root: Path) -> float:
    """Run one notebook in place, in full mode, on one CPU thread; returns the seconds it took."""
    env = {**os.environ, "MNISTLIB_DATA": str(data_root), "OMP_NUM_THREADS": "1",
           "MNISTLIB_SAVE_FIGURES": "1"}  # only here do the notebooks' figures go to figures/
    env.pop("MNISTLIB_FAST", None)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
                    "--ExecutePreprocessor.timeout=-1", str(path)], check=True, env=env, cwd=path.parent,
                   capture_output=True, text=True)
    return time.perf_counter() - start


def remake(paths: list[Path], data_root: Path, jobs: int = 2) -> None:
    """Execute and normalise `paths`, `jobs` at a time, printing each one's time as it ends."""
    if not (Path(data_root) / "MNIST" / "raw").is_dir():
        raise Refusal(f"no MNIST under {data_root}/MNIST/raw: pass --data-root or set MNISTLIB_DATA")

    def one(path: Path) -> None:
        try:
            seconds = execute(path, data_root)
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"{path.name} failed; jupyter nbconvert said:\n{e.stderr}") from None  # its traceback
        normalise_file(path)
        print(f"{path.relative_to(ROOT)}: executed in {seconds:.0f} s, normalised", flush=True)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, paths))
