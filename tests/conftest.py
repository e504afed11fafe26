import gzip
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mnistlib.mnist_files import default_root
from mnistlib.recipes import get_recipe

PROJECT = Path(__file__).resolve().parent.parent
SHARED = default_root()  # the root conftest points MNISTLIB_DATA at ../shared/mnist where there is one


def write_idx(path: Path, tensor: torch.Tensor, gz: bool = True) -> None:
    """An MNIST-format (IDX) file: magic, dimensions, then the uint8 data."""
    magic = 2051 if tensor.dim() == 3 else 2049
    blob = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in tensor.shape)
    blob += tensor.to(torch.uint8).numpy().tobytes()
    if gz:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(blob)
    else:
        path.write_bytes(blob)


def record(seed, finals, iteration="iteration1", changes=None, **extra):
    """A schema-3 record of a registered recipe (with `changes`, a variant) trained len(finals) epochs."""
    recipe = replace(get_recipe(iteration), epochs=len(finals), **(changes or {}))
    history = [{"epoch": i + 1, "train_loss": 0.1, "train_acc": 99.0, "eval_loss": 0.1, "eval_acc": a,
                "lr": 0.01, "seconds": 1.0} for i, a in enumerate(finals)]
    return {"schema": 3, "iteration": iteration, "params": 7344, "seed": seed, "evaluated_on": "test",
            "epochs_asked": len(finals), "epochs": len(finals), "interrupted": False, "fast_mode": False,
            "recipe": recipe.to_dict(), "command": None, "environment": {}, "history": history,
            "final_acc": finals[-1], "best_acc": max(finals), **extra}


def members(seed, split="validation", n=1, acc=99.45, **change):
    """What a student's record keeps of a teacher of n iteration-4 members (Teacher.provenance)."""
    return [{"iteration": "iteration4", "seed": seed + i, "params": 7568, "evaluated_on": split,
             "train_images": 50_000 if split == "validation" else 60_000, "epochs": 15, "final_acc": acc,
             "seconds": 330.0, "recipe": get_recipe("iteration4").to_dict(), **change} for i in range(n)]


@pytest.fixture
def tiny_root(tmp_path):
    """A data root holding a tiny synthetic MNIST as the four .gz files: 40 train, 20 test
    images, each digit's image filled with its label x 25 (so content and label can be checked)."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, n in (("train", 40), ("t10k", 20)):
        labels = torch.arange(n) % 10
        images = (labels * 25).view(n, 1, 1).expand(n, 28, 28).contiguous()
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
    return tmp_path


@pytest.fixture
def shared_root():
    if not (SHARED / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST copy at {SHARED}")
    return SHARED
