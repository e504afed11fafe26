import gzip
import os
from pathlib import Path

import pytest
import torch

PROJECT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MNISTLIB_DATA", PROJECT.parent / "shared" / "mnist"))


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


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Extraction caches go to a per-test folder; fast mode is the default in tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MNISTLIB_FAST", "1")
