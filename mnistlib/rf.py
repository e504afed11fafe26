"""Receptive fields, computed layer by layer from the model itself, the layer list annotated with
them, and the effective field measured by gradients.

For a layer with kernel k, stride s and padding p, on a map of side n whose units each see r input
pixels, sit j input pixels apart, and whose first unit is centred at `start`:

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
    r: int
    j: int
    start: float


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
        return _pair(m.dilation) * (_pair(m.kernel_size) - 1) + 1, _pair(m.stride), _pair(m.padding)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):  # torch sets their stride to the kernel when not given
        return _pair(m.kernel_size), _pair(m.stride), _pair(m.padding)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        out = _pair(m.output_size)
        if n % out:
            raise Refusal(f"AdaptiveAvgPool2d({out}) on a {n}x{n} map has uneven windows")
        return n // out, n // out, 0
    return None


def receptive_field(model: nn.Module) -> list[RFRow]:
    """One row per leaf module of `model`, in registration order. A layer this function does not
    know warns and is treated as pointwise."""
    n, r, j, start = MNIST_SIZE, 1, 1, 0.5
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
            16,   # conv3x3 1->16        -> 16 x 26x26  RF  3   params 176
            ...
        )
        head = "gap"  # GAP, 1x1 conv 16->10 -> 10 x 1x1, RF 28 (the whole digit)   params 160
    """
    model = make_net(cfg, head)
    rows = spatial_rows(receptive_field(model))  # one per item of cfg, then the head's
    convs = (m for m in model if isinstance(m, nn.Conv2d))
    norms = (m for m in model if isinstance(m, nn.BatchNorm2d))  # one after each conv of cfg
    width = max(len(repr(item)) for item in cfg) + 1
    lines, c, listed = ["cfg = ("], 1, 0
    for item, row in zip(cfg, rows):
        if item == "M":
            what, params = "max-pool 2x2", 0
        else:
            conv = next(convs)
            k, pad = conv.kernel_size[0], conv.padding[0]
            what = f"conv{k}x{k} {conv.in_channels}->{conv.out_channels}" + (f" pad {pad}" if pad else "")
            c, params = conv.out_channels, count_params(conv) + count_params(next(norms))
        listed += params
        lines.append(f"    {repr(item) + ',':<{width}}  # {what:<20} -> {c:>2} x {row.size:>2}x{row.size:<2}  "
                     f"RF {row.r:>2}" + (f"   params {params:,}" if params else ""))
    lines.append(")")
    last = rows[-1]
    what = f"GAP, 1x1 conv {c}->10" if head == "gap" else f"{last.k}x{last.k} conv {c}->10"
    sees = "the whole digit" if last.r >= 28 else f"only {last.r} of 28 px"
    total = count_params(model)
    lines.append(f'head = "{head}"  # {what} -> 10 x 1x1, RF {last.r} ({sees})   params {total - listed:,}')
    lines.append(f"# {total:,} parameters in all")
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


def half_mass_side(erf) -> int:
    """Side of the smallest square around the centre unit (at pixel corner 14) that holds half of
    an effective-field map's total."""
    for side in range(2, 28, 2):
        if erf[14 - side // 2: 14 + side // 2, 14 - side // 2: 14 + side // 2].sum() >= erf.sum() / 2:
            return side
    return 28
