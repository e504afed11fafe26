"""Receptive-field arithmetic, computed layer by layer from the model itself (the theoretical
field), the layer list annotated with it, and the effective field measured by gradients.

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

import torch
from torch import nn

from .errors import Refusal
from .models import MNIST_SIZE, count_params, make_net

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
            raise Refusal(f"only square kernels/strides/paddings are supported, got {v}")
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
            raise Refusal(f"AdaptiveAvgPool2d({out}) on a {n}x{n} map has uneven windows")
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


def layer_listing(cfg, head: str = "gap") -> str:
    """The layer list as Python, each layer with its output, receptive field and parameters beside
    it, computed from the network it builds (mnistlib.models.make_net):

        cfg = (
            16,    # conv 1->16      -> 16 x 26x26   RF  3   params 176
            ...
        )
        head = "gap"  # GAP, 1x1 conv 16->10 -> 10 x 1x1   RF 28 (whole digit)   params 160
    """
    model = make_net(cfg, head)
    modules = list(model)
    rows = iter(spatial_rows(receptive_field(model)))
    lines, i, c, listed = ["cfg = ("], 0, 1, 0
    width = max(len(repr(item)) for item in cfg) + 1

    def block_params(start: int) -> int:  # this layer's weights plus the BatchNorm after it
        params = count_params(modules[start])
        if start + 2 < len(modules) and isinstance(modules[start + 2], nn.BatchNorm2d):
            params += count_params(modules[start + 2])
        return params

    for item in cfg:
        while not isinstance(modules[i], (nn.Conv2d, nn.MaxPool2d)):
            i += 1
        row = next(rows)
        if item == "M":
            what = "max-pool 2x2"
        else:
            m = modules[i]
            what = f"conv{m.kernel_size[0]}x{m.kernel_size[0]} {m.in_channels}->{m.out_channels}" + (
                f" pad {m.padding[0]}" if m.padding[0] else "")
            c = m.out_channels
        params = block_params(i) if item != "M" else 0
        listed += params
        lines.append(f"    {repr(item) + ',':<{width}}  # {what:<20} -> {c:>2} x {row.size:>2}x{row.size:<2}  "
                     f"RF {row.r:>2}" + (f"   params {params:,}" if params else ""))
        i += 1
    lines.append(")")
    head_rows = list(rows)
    head_params = count_params(model) - listed
    what = f"GAP, 1x1 conv {c}->10" if head == "gap" else f"{head_rows[-1].k}x{head_rows[-1].k} conv {c}->10"
    r = head_rows[-1].r
    sees = "the whole digit" if r >= 28 else f"only {r} of 28 px"
    lines.append(f'head = "{head}"  # {what} -> 10 x 1x1, RF {r} ({sees})   params {head_params:,}')
    lines.append(f"# {count_params(model):,} parameters in all")
    return "\n".join(lines)


def effective_rf(model: nn.Module, images, layer: int) -> torch.Tensor:
    """The effective receptive field (Luo et al., 2016) of the centre unit of `model[layer]`'s
    output: |d(that unit, summed over channels) / d(input)|, averaged over `images` (N, 1, 28, 28),
    as a 28x28 map scaled to a maximum of 1. The model is used in eval mode, as it is tested."""
    was_training = model.training
    model.eval()
    x = images.detach().to(next(model.parameters()).device).requires_grad_(True)
    out = model[: layer + 1](x)
    (grad,) = torch.autograd.grad(out[:, :, out.shape[2] // 2, out.shape[3] // 2].sum(), x)  # no .grad left on weights
    model.train(was_training)
    erf = grad.abs().mean(0)[0].cpu()
    return erf / erf.max().clamp_min(1e-12)


def half_mass_side(erf, centre: int = 14) -> int:
    """Side of the smallest square around the centre unit that holds half of an effective-field
    map's total (in pixels; the centre unit of a 28-pixel input sits at pixel corner 14)."""
    total = erf.sum()
    for side in range(2, 2 * centre + 1, 2):
        lo, hi = centre - side // 2, centre + side // 2
        if erf[lo:hi, lo:hi].sum() >= total / 2:
            return side
    return 2 * centre
