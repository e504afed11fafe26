"""The networks: one small builder turns a layer list into an nn.Sequential. The list reads like
the write-up (the convention of torchvision's VGG `cfgs`):

    (16, 16, "M", 16, "M", 16)  ->  conv 1->16, conv 16->16, maxpool, conv 16->16, maxpool, conv 16->16

    n           3x3 conv to n channels, no padding, no bias, then ReLU, then BatchNorm
    (n, k, p)   the same with kernel k and padding p (e.g. (8, 1, 0) is a 1x1 conv)
    "M"         2x2 max-pool, followed by Dropout when the recipe sets dropout > 0

The head turns the last map into 10 logits, with no ReLU or BatchNorm after it: "gap" (global
average pool, then a 1x1 conv) or "conv" (one conv whose kernel covers the whole remaining map).
A flat Sequential keeps the receptive-field walk (mnistlib.rf) and torchinfo's summary in order.
"""
from __future__ import annotations

import difflib

import torchinfo
from torch import nn

from .errors import Refusal

MNIST_SIZE = 28
NUM_CLASSES = 10
BUDGET = 10_000  # the series' parameter budget (python -m mnistlib refuses more without --over-budget)


def conv_block(cin: int, cout: int, k: int = 3, p: int = 0) -> list[nn.Module]:
    """Conv -> ReLU -> BatchNorm, the write-up's order. No bias: the BatchNorm before this conv ends in a
    learnable shift per channel, which an unpadded conv turns into a constant per output channel."""
    return [nn.Conv2d(cin, cout, k, padding=p, bias=False), nn.ReLU(inplace=True), nn.BatchNorm2d(cout)]


def make_net(cfg, head: str = "gap", dropout: float = 0.0) -> nn.Sequential:
    if not isinstance(cfg, (tuple, list)):
        raise Refusal(f"a layer list is a tuple such as (16, 'M', 16), got {cfg!r}")
    if all(item == "M" for item in cfg):
        raise Refusal(f"layer list {cfg!r} has no conv: the head alone is a linear model, not a CNN")
    layers: list[nn.Module] = []
    c, size = 1, MNIST_SIZE  # channels and side of the map so far
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            size //= 2
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        else:
            cout, k, p = conv_spec(item, cfg)
            layers += conv_block(c, cout, k, p)
            c, size = cout, size + 2 * p - k + 1
        if size < 1:
            raise Refusal(f"layer list {cfg!r} shrinks the {MNIST_SIZE}x{MNIST_SIZE} input to nothing")
    if head == "gap":
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, NUM_CLASSES, 1, bias=False)]
    elif head == "conv":
        layers += [nn.Conv2d(c, NUM_CLASSES, size, bias=False)]
    else:
        raise Refusal(f"unknown head {head!r}: use 'gap' or 'conv'")
    return nn.Sequential(*layers, nn.Flatten())


def conv_spec(item, cfg) -> tuple[int, int, int]:
    """A conv entry of the layer list `cfg` as (channels, kernel, padding): n is (n, 3, 0)."""
    spec = (item, 3, 0) if isinstance(item, int) else item
    if not (isinstance(spec, (tuple, list)) and len(spec) == 3 and all(type(v) is int for v in spec)
            and spec[0] >= 1 and spec[1] >= 1 and spec[2] >= 0):
        raise Refusal(f"layer {item!r} in {cfg!r}: use n (3x3 conv to n channels), (n, k, p) or 'M'")
    return tuple(spec)


def count_params(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm's running statistics are buffers, not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def summary(recipe, **kwargs):
    """torchinfo's layer-by-layer summary of a recipe's network, for one 28x28 digit."""
    return torchinfo.summary(recipe.build(), **{
        "input_size": (1, 1, MNIST_SIZE, MNIST_SIZE), "col_names": ("output_size", "num_params"),
        "row_settings": ("var_names",), "verbose": 0, **kwargs})


def layer_diff(old, new, names=("before", "after")) -> list[str]:
    """Two layer lists side by side, headed by `names`, layer by layer: kept, changed, added or
    removed (difflib's alignment, as `diff` aligns lines of text)."""
    width = max(len(text) for text in (*map(repr, (*old, *new)), *names)) + 3
    rows = [f"{names[0]:<{width}}{names[1]}"]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            a = repr(old[i1 + k]) if i1 + k < i2 else "-"
            b = repr(new[j1 + k]) if j1 + k < j2 else "-"
            what = "" if op == "equal" else "removed" if b == "-" else "added" if a == "-" else "changed"
            rows.append(f"{a:<{width}}{b:<{width}}{what}".rstrip())
    return rows
