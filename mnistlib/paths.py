"""Where the project's files live, in one place."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository (mnistlib is installed with pip install -e)
DATA = ROOT / "data"                            # MNIST's default root, downloaded once (see mnistlib.mnist_files)
FIGURES = ROOT / "figures"                      # the committed figures
RUNS_DIR = FIGURES / "runs"                     # the committed run records: the evidence
TEACHER_RUNS = RUNS_DIR / "teacher"             # the distillation search (validation split, one machine), kept apart
USER_RUNS_DIR = ROOT / "runs"                   # train/study's default (ignored by git)
NOTEBOOKS = ROOT / "notebooks"
