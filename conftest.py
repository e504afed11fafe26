# Every test run, notebooks included, uses fast mode unless told otherwise: nbval's kernels inherit
# this environment, so each notebook trains 1 epoch on 8,192 images instead of 15 on 60,000.
# The data root: $MNISTLIB_DATA if set, else the offline copy ../shared/mnist beside the checkout if
# there is one, else mnistlib's default (data/ in the repository, downloaded once).
import os
from pathlib import Path

os.environ.setdefault("MNISTLIB_FAST", "1")
_shared = Path(__file__).resolve().parent.parent / "shared" / "mnist"
if "MNISTLIB_DATA" not in os.environ and (_shared / "MNIST" / "raw").is_dir():
    os.environ["MNISTLIB_DATA"] = str(_shared)
