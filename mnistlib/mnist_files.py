"""The four MNIST files in `<root>/MNIST/raw/` (a torchvision root: the `root` argument, else
$MNISTLIB_DATA, else data/ in the repository), found, checked, and extracted or downloaded.

torchvision reads the extracted files, and downloads them when none are there; a failed download
leaves nothing behind. Where only the `.gz` files are (an offline copy, or a manual download after
the usual HTTP 403), we extract them ourselves, into the root, or a cache folder when the root is
read-only: torchvision's downloader checks their md5, so it refuses re-compressed ones.
Every file's header and length, and the counts, are checked before torchvision reads an image:
swapped or mixed-up files are refused, not trained on.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
from pathlib import Path

from .errors import Refusal
from .paths import DATA

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class MNISTDataError(Refusal):
    """MNIST is missing, incomplete or corrupt; the message says which file and where."""


def default_root() -> Path:
    return Path(os.environ.get("MNISTLIB_DATA") or DATA)


def check_idx(source: Path, name: str, head: bytes, size: int) -> int:
    """How many images or labels an IDX file (`head`: its first 16 bytes) holds, once its header
    and length are checked (torchvision's reader would fail on an assert)."""
    magic, header, per_item = (2051, 16, 28 * 28) if "images" in name else (2049, 8, 1)
    if len(head) < header or int.from_bytes(head[:4], "big") != magic:
        raise MNISTDataError(f"{source} is not an MNIST {name} file (bad header); delete it and fetch it again")
    if header == 16 and head[8:16] != (28).to_bytes(4, "big") * 2:
        raise MNISTDataError(f"{source}: images are not 28x28; delete it and fetch it again")
    count = int.from_bytes(head[4:8], "big")
    if size != header + count * per_item:
        raise MNISTDataError(f"{source} is truncated or corrupt: {size:,} bytes where its header "
                             f"promises {header + count * per_item:,}; delete it and fetch it again")
    return count


def check_extracted(raw: Path) -> None:
    """Each extracted file's header and length, then the counts: as many labels as images in each
    split, and more training than test images."""
    count = {}
    for n in FILES:
        with open(raw / n, "rb") as f:
            count[n] = check_idx(raw / n, n, f.read(16), (raw / n).stat().st_size)
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


def _writable(folder: Path) -> bool:
    """Writable, and not marked read-only (the root user may write anywhere, but should not here)."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & stat.S_IWUSR)


def _cache_root(root: Path) -> Path:
    """Where to extract the .gz files of a read-only root, one folder per root. The XDG rule: a
    relative XDG_CACHE_HOME is ignored."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "mnistlib"
    return base / hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]


def _extract(gz: Path, dest: Path) -> None:
    """Decompress one .gz (gzip's CRC catches corruption), check it, write it atomically."""
    try:
        with gzip.open(gz) as f:
            blob = f.read()
    except (OSError, EOFError) as e:  # BadGzipFile is an OSError; a truncated stream raises EOFError
        raise MNISTDataError(f"{gz} is corrupt or truncated ({e}); delete it and fetch it again") from None
    check_idx(gz, dest.name, blob[:16], len(blob))
    part = dest.with_name(f"{dest.name}.{os.getpid()}.part")  # written whole, then renamed: never half a file
    try:
        part.write_bytes(blob)
        os.replace(part, dest)
    except BaseException:  # e.g. a full disk: no partial file left behind
        part.unlink(missing_ok=True)
        raise


def _not_found(raw: Path, missing: list[str], failed: str = "") -> MNISTDataError:
    return MNISTDataError(f"MNIST not found: {raw} lacks {', '.join(missing)}.{failed} Download the four files "
                          + ", ".join(f"{n}.gz" for n in FILES) + f" into {raw}/ (or their extracted versions), "
                          "or pass --data-root (or set MNISTLIB_DATA) to a folder that holds MNIST/raw/ with them.")


def prepare_root(root: str | Path | None = None, download: bool = True) -> Path:
    """The torchvision root that holds the four extracted files, checked."""
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
    elif not all((raw / n).is_file() for n in FILES):
        target = root if _writable(raw) else _cache_root(root)
        try:
            (target / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
            for n in FILES:
                dest = target / "MNIST" / "raw" / n
                if (raw / n).is_file() and not dest.is_file():  # extracted already, in a read-only root: copy
                    shutil.copyfile(raw / n, dest)
                elif not dest.is_file():
                    _extract(raw / f"{n}.gz", dest)
        except OSError as e:
            raise MNISTDataError(f"cannot extract MNIST from {raw} into {target / 'MNIST' / 'raw'} "
                                 f"({e.strerror or e}); make that folder writable, or set XDG_CACHE_HOME to a "
                                 "writable folder") from None
        root = target
    check_extracted(root / "MNIST" / "raw")
    return root
