"""Receptive-field arithmetic, computed layer by layer from the model itself.

For a layer with kernel k, stride s and padding p, applied to a map whose units each see
r input pixels, are j input pixels apart, and whose first unit is centred at `start`:

    n'     = (n + 2p - k) // s + 1        output size
    j'     = j * s                        jump: distance between neighbouring units, in input pixels
    r'     = r + (k - 1) * j              receptive field: side of the input square one unit sees
    start' = start + ((k - 1)/2 - p) * j  centre of the first unit, in input pixel coordinates

starting from the image itself: n = 28, r = 1, j = 1, start = 0.5 (pixel i spans [i, i+1]).
Pointwise layers (ReLU, BatchNorm, Dropout, Flatten) change none of these.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

from torch import nn

from .models import MNIST_SIZE

POINTWISE = (nn.ReLU, nn.BatchNorm2d, nn.Dropout, nn.Dropout2d, nn.Flatten, nn.Identity)


@dataclass
class RFRow:
    layer: str
    size: int      # output map side n'
    k: int | None  # None for pointwise layers
    s: int | None
    p: int | None
    r: int         # receptive field side, in input pixels
    j: int         # jump, in input pixels
    start: float   # centre of the first output unit, in input pixels


def _pair(v) -> int:
    """Square kernels only: (3, 3) -> 3."""
    if isinstance(v, tuple):
        if len(set(v)) != 1:
            raise ValueError(f"only square kernels/strides/paddings are supported, got {v}")
        v = v[0]
    return int(v)


def _geometry(m: nn.Module, n: int):
    """(k, s, p) of a spatial layer on an n x n map, or None for a pointwise/unknown layer."""
    if isinstance(m, nn.Conv2d):
        d = _pair(m.dilation)
        return d * (_pair(m.kernel_size) - 1) + 1, _pair(m.stride), _pair(m.padding)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k = _pair(m.kernel_size)
        return k, _pair(m.stride if m.stride is not None else k), _pair(m.padding)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        out = _pair(m.output_size)
        if n % out:
            raise ValueError(f"AdaptiveAvgPool2d({out}) on a {n}x{n} map has uneven windows")
        return n // out, n // out, 0
    return None


def receptive_field(model: nn.Module, input_size: int = MNIST_SIZE) -> list[RFRow]:
    """One row per layer of `model` (its leaf modules, in the order they were registered).

    Pointwise layers repeat the previous numbers; a layer this function does not know
    gives a warning and is treated as pointwise.
    """
    n, r, j, start = input_size, 1, 1, 0.5
    rows = []
    for name, m in model.named_modules():
        if list(m.children()):
            continue  # containers: their leaves are visited on their own
        geo = _geometry(m, n)
        if geo is None:
            if not isinstance(m, POINTWISE):
                warnings.warn(f"receptive_field: treating unknown layer {name} ({type(m).__name__}) as pointwise")
            k = s = p = None
        else:
            k, s, p = geo
            n = (n + 2 * p - k) // s + 1
            r, start, j = r + (k - 1) * j, start + ((k - 1) / 2 - p) * j, j * s
        rows.append(RFRow(f"{name} {type(m).__name__}", n, k, s, p, r, j, start))
    return rows


def spatial_rows(rows: list[RFRow]) -> list[RFRow]:
    """Only the rows of layers that change the geometry (convs and pools)."""
    return [row for row in rows if row.k is not None]


def format_rf_table(rows: list[RFRow]) -> str:
    """A plain-text table, one line per layer."""
    head = f"{'layer':<24}{'out':>5}{'k':>4}{'s':>4}{'p':>4}{'RF':>6}{'jump':>6}{'start':>7}"
    lines = [head, "-" * len(head)]
    for row in rows:
        k, s, p = ("-" if v is None else v for v in (row.k, row.s, row.p))
        lines.append(f"{row.layer:<24}{row.size:>5}{k:>4}{s:>4}{p:>4}{row.r:>6}{row.j:>6}{row.start:>7.1f}")
    return "\n".join(lines)

