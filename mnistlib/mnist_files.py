"""The four MNIST files on disk: where they are, checked, extracted, or downloaded.

The data root is, in order: the `root` argument, the MNISTLIB_DATA environment variable,
`data/` in the repository (whatever the working folder: Jupyter starts in notebooks/). It is a
torchvision dataset root: the files live in `<root>/MNIST/raw/`.

- Extracted files present: torchvision.datasets.MNIST reads them.
- Only the four `.gz` files present (an offline copy, or a manual download after the usual
  HTTP 403 from the original host): we check and extract them ourselves, into the root when it
  is writable, else into a cache folder. torchvision's downloader would not accept
  re-compressed `.gz` files (it checks their md5), so we never call it for them.
- Nothing present: torchvision downloads (if `download=True`); when that fails, one clear
  error names the four files and the folder they belong in.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import Refusal
from .paths import DATA

FILES = {  # name -> (magic number, bytes per item)
    "train-images-idx3-ubyte": (2051, 28 * 28),
    "train-labels-idx1-ubyte": (2049, 1),
    "t10k-images-idx3-ubyte": (2051, 28 * 28),
    "t10k-labels-idx1-ubyte": (2049, 1),
}


class MNISTDataError(Refusal):
    """MNIST is missing, incomplete or corrupt; the message says which file and where (a Refusal,
    like every error mnistlib raises on purpose)."""


def default_root() -> Path:
    return Path(os.environ.get("MNISTLIB_DATA") or DATA)


def check_idx(source: Path, name: str, head: bytes, size: int) -> None:
    """Header and length of an IDX file (`head`: its first 16 bytes, `size`: its length).

    Catches truncated or foreign files with a message naming the file, where torchvision's
    reader would fail on an assert.
    """
    magic, per_item = FILES[name]
    header = 16 if magic == 2051 else 8
    if len(head) < header or int.from_bytes(head[:4], "big") != magic:
        raise MNISTDataError(f"{source} is not an MNIST {name} file (bad header); delete it and fetch it again")
    if magic == 2051 and head[8:16] != (28).to_bytes(4, "big") * 2:
        raise MNISTDataError(f"{source}: images are not 28x28; delete it and fetch it again")
    expected = header + int.from_bytes(head[4:8], "big") * per_item
    if size != expected:
        raise MNISTDataError(f"{source} is truncated or corrupt: {size:,} bytes where its header "
                             f"promises {expected:,}; delete it and fetch it again")


def check_extracted(raw: Path) -> None:
    """Each extracted file's header and length (e.g. after an interrupted download)."""
    for n in FILES:
        with open(raw / n, "rb") as f:
            check_idx(raw / n, n, f.read(16), (raw / n).stat().st_size)


def _writable(folder: Path) -> bool:
    """Writable, and not marked read-only (root may write anywhere, but should not here)."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & stat.S_IWUSR)


def _cache_root(root: Path) -> Path:
    """Where to extract the .gz files of a read-only root (one folder per source root)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "mnistlib"  # the XDG rule: relative is ignored
    return base / hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]


def _extract(gz: Path, dest: Path) -> None:
    """Decompress one .gz (gzip's CRC catches corruption), check it, write it atomically."""
    try:
        with gzip.open(gz) as f:
            blob = f.read()
    except (OSError, EOFError) as e:  # BadGzipFile is an OSError; a truncated stream raises EOFError
        raise MNISTDataError(f"{gz} is corrupt or truncated ({e}); delete it and fetch it again") from None
    check_idx(gz, dest.name, blob[:16], len(blob))
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        try:
            tmp.write(blob)
            tmp.close()
            os.chmod(tmp.name, 0o644)
            os.replace(tmp.name, dest)  # an interrupted extraction never leaves a half-written file
        except BaseException:  # e.g. a full disk: no temporary file left behind
            os.unlink(tmp.name)
            raise


def _missing_message(raw: Path, missing: list[str], tried_download: str | None) -> str:
    lines = [f"MNIST not found: {raw} lacks {', '.join(missing)}."]
    if tried_download:
        lines.append(f"Downloading failed too ({tried_download}).")
    lines.append("Download the four files " + ", ".join(f"{n}.gz" for n in FILES) + f" into {raw}/ "
                 "(or their extracted versions), or pass --data-root (or set MNISTLIB_DATA) to a folder "
                 "that holds MNIST/raw/ with them.")
    return " ".join(lines)


def prepare_root(root: str | Path | None = None, download: bool = True) -> Path:
    """Make sure the four extracted files exist somewhere; return that torchvision root."""
    root = Path(root) if root is not None else default_root()
    raw = root / "MNIST" / "raw"
    if all((raw / n).is_file() for n in FILES):
        return root
    if all((raw / n).is_file() or (raw / f"{n}.gz").is_file() for n in FILES):
        target = root if _writable(raw) else _cache_root(root)
        try:
            (target / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
            for n in FILES:
                src, dest = raw / n, target / "MNIST" / "raw" / n
                if dest.is_file():
                    continue
                if src.is_file():  # already extracted in a read-only root: copy it across
                    dest.write_bytes(src.read_bytes())
                else:
                    _extract(raw / f"{n}.gz", dest)
        except OSError as e:
            raise MNISTDataError(f"cannot extract MNIST from {raw} into {target / 'MNIST' / 'raw'} ({e.strerror or e}); "
                                 "make that folder writable, or set XDG_CACHE_HOME to a writable folder") from None
        return target
    missing = [n for n in FILES if not (raw / n).is_file() and not (raw / f"{n}.gz").is_file()]
    error = None
    if download:
        from torchvision.datasets import MNIST
        try:
            MNIST(root, train=True, download=True)
            return root
        except Exception as e:  # network errors, HTTP 403, md5 mismatch: all end the same way
            error = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    raise MNISTDataError(_missing_message(raw, missing, error))
