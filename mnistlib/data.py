"""MNIST on the training device, with no DataLoader: each split is one normalised tensor on the
device (`load_mnist`), batches are drawn by index (`Batches`), and augmentation is one
`grid_sample` call on the whole batch (`augment`). The files themselves: mnistlib.mnist_files.

Fast mode (MNISTLIB_FAST=1, for tests and nbval) is decided here, once, when the data is loaded;
training, records and figures read it from the data (`MNISTTensors.fast`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .errors import Refusal
from .mnist_files import read_mnist

MEAN, STD = 0.1307, 0.3081                      # MNIST training-set pixel statistics (0..1 scale)
BACKGROUND = (0.0 - MEAN) / STD                  # a black pixel after normalisation
FAST_IMAGES = 4096                               # per split, in fast mode: enough to learn something in 1 epoch
TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def fast_mode() -> bool:
    """MNISTLIB_FAST=1 (or true, yes, on): tests, CI and nbval train 1 epoch on FAST_IMAGES images;
    unset, empty, 0, false, no or off: full mode; anything else is refused."""
    value = os.environ.get("MNISTLIB_FAST", "").strip().lower()
    if value not in TRUE + FALSE:
        raise Refusal(f"MNISTLIB_FAST={os.environ['MNISTLIB_FAST']!r}: use 1 or 0 (or true/false, yes/no, on/off)")
    return value in TRUE


@dataclass
class MNISTTensors:
    """Training images and an evaluation split (the test set, or the validation split), normalised, on
    one device: x is (N, 1, 28, 28) float32, y is (N,) int64."""
    train_x: torch.Tensor
    train_y: torch.Tensor
    eval_x: torch.Tensor
    eval_y: torch.Tensor
    split: str = "test"   # what eval_x/eval_y are: "test" or "validation"
    fast: bool = False    # fast mode: a few images, for tests; nothing trained on it is a result

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def validation_split(self, n: int | None = None) -> "MNISTTensors":
        """Train on all but the last `n` training images (default: 10,000 of 60,000) and measure on
        those: the split for choosing between configurations, so the test set never does."""
        n = len(self.train_x) // 6 if n is None else n
        if not 0 < n < len(self.train_x):
            raise Refusal(f"validation size must be between 1 and {len(self.train_x) - 1}, got {n}")
        return MNISTTensors(self.train_x[:-n], self.train_y[:-n], self.train_x[-n:], self.train_y[-n:], "validation",
                            self.fast)


def normalise(images_uint8: torch.Tensor) -> torch.Tensor:
    return (images_uint8.float().div(255) - MEAN).div(STD).unsqueeze(1)


def load_mnist(root: str | Path | None = None, device="cpu", download: bool = True,
               limit: int | None = None, fast: bool | None = None) -> MNISTTensors:
    """Both splits on `device` (the files: mnistlib.mnist_files): the first `limit` images of each,
    or FAST_IMAGES in fast mode (default: MNISTLIB_FAST)."""
    fast = fast_mode() if fast is None else fast
    limit = FAST_IMAGES if limit is None and fast else limit
    train_x, train_y, test_x, test_y = read_mnist(root, download)  # swapped or mixed-up files: refused here
    return MNISTTensors(normalise(train_x[:limit]).to(device), train_y[:limit].to(device),
                        normalise(test_x[:limit]).to(device), test_y[:limit].to(device), fast=fast)


def augment(x: torch.Tensor, u: torch.Tensor, z: torch.Tensor | None, degrees: float, translate: float,
            scale: float = 0.0) -> torch.Tensor:
    """Rotate, shift and zoom each image of a batch by its own amount, in one grid_sample call.

    With u (n, 3) and z (n,) uniform in [-1, 1): image i turns by u[i, 0] x degrees, shifts by
    u[i, 1:] x translate x the image size and, if z is given, is magnified by 1 + scale x z[i]
    (torchvision RandomAffine's parameters). What comes in from outside is a black pixel.
    """
    angle = u[:, 0] * math.radians(degrees)
    shift = u[:, 1:] * 2 * translate  # grid_sample's coordinates: the image spans -1..1
    cos, sin = angle.cos(), angle.sin()
    if z is not None:  # the grid says where each output pixel samples: 1/zoom magnifies
        zoom = 1 + scale * z
        cos, sin = cos / zoom, sin / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - BACKGROUND, grid, padding_mode="zeros", align_corners=False) + BACKGROUND


class Batches:
    """Shuffled minibatches of tensors already on the device, augmented batch-wise.

    One seeded CPU generator draws the order and the augmentation, so seed S gives the same
    batches on a CPU and a GPU. An epoch's draws are made at its start (per batch: angle and
    shifts, then the zoom, drawn last so recipes without zoom keep their random stream) and reach
    the device in one copy per tensor: nothing crosses between host and device per step.
    """

    def __init__(self, x, y, batch_size: int, seed: int = 0, rotate: float = 0.0, translate: float = 0.0,
                 scale: float = 0.0):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rotate, self.translate, self.scale = rotate, translate, scale
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def _uniform(self, *shape) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator) * 2 - 1

    def __iter__(self):
        device = self.x.device
        order = torch.randperm(len(self.x), generator=self.generator)
        sizes = [len(idx) for idx in order.split(self.batch_size)]
        u = z = [None] * len(sizes)
        if self.rotate or self.translate or self.scale:
            draws = [(self._uniform(n, 3), self._uniform(n) if self.scale else None) for n in sizes]
            u = torch.cat([d[0] for d in draws]).to(device, non_blocking=True).split(sizes)
            if self.scale:
                z = torch.cat([d[1] for d in draws]).to(device, non_blocking=True).split(sizes)
        for idx, ui, zi in zip(order.to(device, non_blocking=True).split(self.batch_size), u, z):
            xb = self.x[idx] if ui is None else augment(self.x[idx], ui, zi, self.rotate, self.translate, self.scale)
            yield xb, self.y[idx]
