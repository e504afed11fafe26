"""MNIST on the training device: loading (online or offline), batches, batched augmentation.

The data root is, in order: the `root` argument, the MNISTLIB_DATA environment variable,
`data/` in the repository (whatever the working folder: Jupyter starts in notebooks/). It is a
torchvision dataset root: the files live in `<root>/MNIST/raw/`.

- Extracted files present: torchvision.datasets.MNIST reads them.
- Only the four `.gz` files present (an offline copy such as ../shared/mnist, or a manual
  download after the usual HTTP 403 from the original host): we check and extract them
  ourselves, into the root when it is writable, else into a cache folder. torchvision's
  downloader would not accept re-compressed `.gz` files (it checks their md5), so we never
  call it for them.
- Nothing present: torchvision downloads (if `download=True`); when that fails, one clear
  error names the four files and the folder they belong in.

Training then never touches a DataLoader: both splits sit on the device as one normalised
tensor each, batches are drawn by index, and augmentation (rotation, shift and zoom) is one
`affine_grid`/`grid_sample` call on the whole batch.

Fast mode (MNISTLIB_FAST=1, for tests and nbval) is decided here, once, when the data is
loaded: `load_mnist` then keeps FAST_IMAGES images per split and marks the data `fast`;
training, records and figures read it from there.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

MEAN, STD = 0.1307, 0.3081                      # MNIST training-set pixel statistics (0..1 scale)
BACKGROUND = (0.0 - MEAN) / STD                  # a black pixel after normalisation
FILES = {                                        # name -> (magic number, bytes per item)
    "train-images-idx3-ubyte": (2051, 28 * 28),
    "train-labels-idx1-ubyte": (2049, 1),
    "t10k-images-idx3-ubyte": (2051, 28 * 28),
    "t10k-labels-idx1-ubyte": (2049, 1),
}


FAST_IMAGES = 8192                               # per split, in fast mode: enough to learn something in 1 epoch


def fast_mode() -> bool:
    """MNISTLIB_FAST=1 in the environment: tests, CI and nbval train 1 epoch on FAST_IMAGES images.
    Read by load_mnist only; everything downstream asks the data (`MNISTTensors.fast`)."""
    return os.environ.get("MNISTLIB_FAST", "").strip() not in ("", "0")


class MNISTDataError(RuntimeError):
    """MNIST is missing, incomplete or corrupt; the message says which file and where."""


ROOT = Path(__file__).resolve().parent.parent  # the repository (mnistlib is installed with pip install -e)


def default_root() -> Path:
    return Path(os.environ.get("MNISTLIB_DATA") or ROOT / "data")


def _check_idx(source: Path, name: str, head: bytes, size: int) -> None:
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


def _writable(folder: Path) -> bool:
    """Writable, and not marked read-only (root may write anywhere, but should not here)."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & stat.S_IWUSR)


def _cache_root(root: Path) -> Path:
    """Where to extract the .gz files of a read-only root (one folder per source root)."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mnistlib"
    return base / hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]


def _extract(gz: Path, dest: Path) -> None:
    """Decompress one .gz (gzip's CRC catches corruption), check it, write it atomically."""
    try:
        with gzip.open(gz) as f:
            blob = f.read()
    except (OSError, EOFError) as e:  # BadGzipFile is an OSError; a truncated stream raises EOFError
        raise MNISTDataError(f"{gz} is corrupt or truncated ({e}); delete it and fetch it again") from None
    _check_idx(gz, dest.name, blob[:16], len(blob))
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        tmp.write(blob)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, dest)  # an interrupted extraction never leaves a half-written file


def _missing_message(raw: Path, missing: list[str], tried_download: str | None) -> str:
    lines = [f"MNIST not found: {raw} lacks {', '.join(missing)}."]
    if tried_download:
        lines.append(f"Downloading failed too ({tried_download}).")
    lines.append("Put the four files " + ", ".join(f"{n}.gz" for n in FILES) + f" in {raw}/ "
                 "(or their extracted versions), or point MNISTLIB_DATA / --data-root at a folder "
                 "that holds MNIST/raw/ (offline copy: ../shared/mnist).")
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


@dataclass
class MNISTTensors:
    """Training images and a held-out split, normalised, on one device: x is (N, 1, 28, 28)
    float32, y is (N,) int64. The held-out split is the test set, or the validation split."""
    train_x: torch.Tensor
    train_y: torch.Tensor
    eval_x: torch.Tensor
    eval_y: torch.Tensor
    eval_split: str = "test"  # what eval_x/eval_y are: "test", or "validation" (see validation_split)
    fast: bool = False        # fast mode: a few images, for tests; nothing trained on it is a result

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def validation_split(self, n: int | None = None) -> "MNISTTensors":
        """Train on all but the last `n` training images (default: one sixth, 10,000 of 60,000)
        and measure on those instead of the test set: the split for choosing between
        configurations, so the test set never does."""
        if n is None:
            n = len(self.train_x) // 6
        if not 0 < n < len(self.train_x):
            raise ValueError(f"validation size must be between 1 and {len(self.train_x) - 1}, got {n}")
        return MNISTTensors(self.train_x[:-n], self.train_y[:-n], self.train_x[-n:], self.train_y[-n:], "validation",
                            self.fast)


def normalise(images_uint8: torch.Tensor) -> torch.Tensor:
    return (images_uint8.float().div(255) - MEAN).div(STD).unsqueeze(1)


def load_mnist(root: str | Path | None = None, device="cpu", download: bool = True,
               limit: int | None = None, fast: bool | None = None) -> MNISTTensors:
    """Load both splits through torchvision.datasets.MNIST and move them to `device`.

    `fast` (default: MNISTLIB_FAST in the environment) keeps FAST_IMAGES images per split and
    marks the data fast; `limit` keeps only the first `limit` images of each split.
    """
    fast = fast_mode() if fast is None else fast
    if limit is None and fast:
        limit = FAST_IMAGES
    from torchvision.datasets import MNIST
    path = prepare_root(root, download)
    raw = path / "MNIST" / "raw"
    for n in FILES:  # e.g. an interrupted download: name the file rather than fail on an assert
        with open(raw / n, "rb") as f:
            _check_idx(raw / n, n, f.read(16), (raw / n).stat().st_size)
    splits = []
    for train in (True, False):
        ds = MNIST(path, train=train, download=False)
        x, y = ds.data[:limit], ds.targets[:limit]
        splits += [normalise(x).to(device), y.to(device)]
    return MNISTTensors(*splits, fast=fast)


# --- batches and augmentation, all on the device ------------------------------------------

def affine(x: torch.Tensor, angle: torch.Tensor, shift: torch.Tensor,
           zoom: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate image i by angle[i] radians, shift it by shift[i] = (dx, dy), in units of
    half the image size (grid_sample's coordinates: the image spans -1..1), and, if given,
    magnify it by zoom[i]. The area that comes in from outside is background (a black
    pixel), as with torchvision's fill=0.
    """
    cos, sin = angle.cos(), angle.sin()
    if zoom is not None:  # the grid says where each output pixel samples: 1/zoom magnifies
        cos, sin = cos / zoom, sin / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - BACKGROUND, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + BACKGROUND


def draw_affine(n: int, generator: torch.Generator, scale: float = 0.0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Uniform draws for n images: (n, 3) in [-1, 1) for angle, dx, dy, and (if scale > 0) n
    more for the zoom, drawn after the others so recipes without zoom keep their random stream."""
    u = torch.rand(n, 3, generator=generator) * 2 - 1
    z = torch.rand(n, generator=generator) * 2 - 1 if scale else None
    return u, z


def apply_affine(x: torch.Tensor, u: torch.Tensor, z: torch.Tensor | None, degrees: float, translate: float,
                 scale: float = 0.0) -> torch.Tensor:
    """Angles uniform in +-degrees, shifts uniform in +-translate x image size on each axis and,
    if scale > 0, zoom uniform in 1 +- scale (torchvision RandomAffine's parameters), from the
    uniform draws u, z of draw_affine."""
    zoom = 1 + scale * z if z is not None else None
    return affine(x, u[:, 0] * math.radians(degrees), u[:, 1:] * 2 * translate, zoom)


def random_affine(x: torch.Tensor, degrees: float, translate: float,
                  generator: torch.Generator | None = None, scale: float = 0.0) -> torch.Tensor:
    """The whole batch at once, drawing its parameters from `generator` (a CPU generator)."""
    generator = generator or torch.default_generator
    u, z = draw_affine(x.shape[0], generator, scale)
    u, z = u.to(x.device), (z.to(x.device) if z is not None else None)
    return apply_affine(x, u, z, degrees, translate, scale)


class Batches:
    """Shuffled minibatches of tensors already on the device, augmented batch-wise.

    One seeded CPU generator draws the shuffling and the augmentation parameters, so seed S
    gives the same batches on a CPU and on a GPU. An epoch's draws are made at its start, in
    the order one batch after another would make them, and reach the device in one copy per
    tensor: nothing crosses between host and device per step.
    """

    def __init__(self, x, y, batch_size: int, seed: int = 0, rotate: float = 0.0, translate: float = 0.0,
                 scale: float = 0.0):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rotate, self.translate, self.scale = rotate, translate, scale
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self):
        device, augment = self.x.device, bool(self.rotate or self.translate or self.scale)
        order = torch.randperm(len(self.x), generator=self.generator)
        sizes = [len(idx) for idx in order.split(self.batch_size)]
        if augment:
            draws = [draw_affine(n, self.generator, self.scale) for n in sizes]
            u = torch.cat([d[0] for d in draws]).to(device, non_blocking=True).split(sizes)
            z = torch.cat([d[1] for d in draws]).to(device, non_blocking=True).split(sizes) if self.scale else None
        for i, idx in enumerate(order.to(device, non_blocking=True).split(self.batch_size)):
            xb = self.x[idx]
            if augment:
                xb = apply_affine(xb, u[i], z[i] if z is not None else None, self.rotate, self.translate, self.scale)
            yield xb, self.y[idx]


def baseline_loader(root, recipe, workers: int = 2, limit: int | None = None, pin_memory: bool = False):
    """The conventional pipeline, kept only as the benchmark's baseline: PIL images through
    per-sample torchvision transforms in DataLoader workers (the same augmentation
    parameters, from the same recipe). `limit` keeps the first images only (fast mode)."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms
    tf = transforms.Compose([
        transforms.RandomAffine(recipe.rotate, translate=(recipe.translate, recipe.translate),
                                scale=(1 - recipe.scale, 1 + recipe.scale) if recipe.scale else None),
        transforms.ToTensor(),
        transforms.Normalize((MEAN,), (STD,)),
    ])
    ds = datasets.MNIST(prepare_root(root), train=True, transform=tf)
    if limit is not None:
        ds = Subset(ds, range(limit))
    return DataLoader(ds, batch_size=recipe.batch_size, shuffle=True, num_workers=workers,
                      persistent_workers=workers > 0, pin_memory=pin_memory)
