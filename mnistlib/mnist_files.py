"""The four MNIST files in `<root>/MNIST/raw/` (a torchvision root: the `root` argument, else
$MNISTLIB_DATA, else data/ in the repository), read as uint8 tensors.

An IDX file is a short header (a magic number, then the sizes) followed by the bytes: we read each
file as it is, extracted or `.gz` (an offline copy may hold either), which spares every process
the second and a half that importing torchvision takes. torchvision downloads the files when none
are there; a failed download leaves nothing behind. Every header, length and count is checked
before an image is used: swapped or mixed-up files are refused, not trained on.
"""
from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import torch

from .errors import Refusal
from .paths import DATA

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class MNISTDataError(Refusal):
    """MNIST is missing, incomplete or corrupt; the message says which file and where."""


def default_root() -> Path:
    return Path(os.environ.get("MNISTLIB_DATA") or DATA)


def check_idx(source: Path, name: str, head: bytes, size: int) -> int:
    """How many images or labels an IDX file (`head`: its first 16 bytes) holds, once its header
    and length are checked."""
    magic, header, per_item = (2051, 16, 28 * 28) if "images" in name else (2049, 8, 1)
    if len(head) < header or int.from_bytes(head[:4], "big") != magic:
        raise MNISTDataError(f"{source} is not an MNIST {name} file (bad header); delete it and fetch it again")
    if header == 16 and head[8:16] != (28).to_bytes(4, "big") * 2:
        raise MNISTDataError(f"{source}: images are not 28x28; delete it and fetch it again")
    count = int.from_bytes(head[4:8], "big")
    if count == 0:
        raise MNISTDataError(f"{source} holds no {name.split('-')[1]}; delete it and fetch it again")
    if size != header + count * per_item:
        raise MNISTDataError(f"{source} is truncated or corrupt: {size:,} bytes where its header "
                             f"promises {header + count * per_item:,}; delete it and fetch it again")
    return count


def read_idx(raw: Path, name: str) -> torch.Tensor:
    """One file, extracted or else its .gz (gzip's CRC catches corruption): images (N, 28, 28) uint8,
    or labels (N,) int64."""
    path = raw / name if (raw / name).is_file() else raw / f"{name}.gz"
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            blob = f.read()
    except (OSError, EOFError) as e:  # BadGzipFile: an OSError without errno; a truncated stream: EOFError
        if getattr(e, "errno", None):  # the machine's (no permission, ...): not the file's content
            raise MNISTDataError(f"cannot read {path} ({e.strerror})") from None
        raise MNISTDataError(f"{path} is corrupt or truncated ({e}); delete it and fetch it again") from None
    count = check_idx(path, name, blob[:16], len(blob))
    if "images" in name:
        return torch.frombuffer(bytearray(blob), dtype=torch.uint8, offset=16).view(count, 28, 28)
    return torch.frombuffer(bytearray(blob), dtype=torch.uint8, offset=8).long()


def _not_found(raw: Path, missing: list[str], failed: str = "") -> MNISTDataError:
    return MNISTDataError(f"MNIST not found: {raw} lacks {', '.join(missing)}.{failed} Download the four files "
                          + ", ".join(f"{n}.gz" for n in FILES) + f" into {raw}/ (or their extracted versions), "
                          "or pass --data-root (or set MNISTLIB_DATA) to a folder that holds MNIST/raw/ with them.")


def read_mnist(root: str | Path | None = None, download: bool = True) -> list[torch.Tensor]:
    """[train images, train labels, test images, test labels], downloaded first if none are there,
    checked: as many labels as images in each split, and more training than test images."""
    root = Path(root) if root is not None else default_root()
    raw = root / "MNIST" / "raw"
    missing = [n for n in FILES if not (raw / n).is_file() and not (raw / f"{n}.gz").is_file()]
    if missing:
        if not download:
            raise _not_found(raw, missing)
        from torchvision.datasets import MNIST
        new = next((p for p in (*reversed(raw.parents), raw) if not p.exists()), None)  # the folder it will make
        try:
            MNIST(root, train=True, download=True)
        except Exception as e:  # network errors, HTTP 403, md5 mismatch: all end the same way, leaving nothing
            if new:
                shutil.rmtree(new, ignore_errors=True)
            raise _not_found(raw, missing, f" Downloading failed too ({type(e).__name__}: "
                                           f"{' '.join(str(e).split())[:300]}).") from None
    tensors = [read_idx(raw, n) for n in FILES]
    count = dict(zip(FILES, map(len, tensors)))
    train, test = "train-images-idx3-ubyte", "t10k-images-idx3-ubyte"
    if count[train] <= count[test]:
        raise MNISTDataError(f"{raw}: {train} holds {count[train]:,} images and {test} {count[test]:,}, but the "
                             "training split is the larger (MNIST: 60,000 and 10,000): the training and test files "
                             "look swapped; put each file (and its .gz) back under its own name")
    for images, labels in ((train, "train-labels-idx1-ubyte"), (test, "t10k-labels-idx1-ubyte")):
        if count[labels] != count[images]:
            raise MNISTDataError(f"{raw}: {labels} holds {count[labels]:,} labels for the {count[images]:,} images "
                                 f"of {images}: a labels file of the other split? put each file (and its .gz) "
                                 "back under its own name")
    return tensors
