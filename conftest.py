# Every test run, notebooks included, uses fast mode unless told otherwise: nbval's kernels inherit
# this environment, so each notebook trains on 4,096 images instead of 60,000.
# The data root: $MNISTLIB_DATA if set, else the offline copy ../shared/mnist beside the checkout if
# there is one, else mnistlib's default (data/ in the repository, downloaded once).
# The notebooks' two class-time knobs are set here, for the tests only, so that a student's cells
# hold no test plumbing: `EPOCHS = 15` runs as `EPOCHS = 1`, and `TRY = False` as `TRY = True` (the
# "Try a variant" cell is tested too).
import os
import re
from pathlib import Path

os.environ.setdefault("MNISTLIB_FAST", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n N: N processes of one thread each, as study --jobs runs
    os.environ.setdefault("OMP_NUM_THREADS", "1")
_shared = Path(__file__).resolve().parent.parent / "shared" / "mnist"
if "MNISTLIB_DATA" not in os.environ and (_shared / "MNIST" / "raw").is_dir():
    os.environ["MNISTLIB_DATA"] = str(_shared)

KNOBS = {r"^EPOCHS = 15\b": "EPOCHS = 1", r"^TRY = False\b": "TRY = True"}


def pytest_collection_modifyitems(items):
    for item in items:
        cell = getattr(item, "cell", None)  # nbval's notebook cells
        if cell is not None and cell.cell_type == "code":
            for knob, test_value in KNOBS.items():
                cell.source = re.sub(knob, test_value, cell.source, flags=re.M)
