"""The receptive-field figures: what each layer's centre unit sees of a digit, how a pool doubles
the jump, and the effective field measured by gradients (the numbers: mnistlib.rf)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

from .plots import SMALL, _digit, _finish
from .rf import RFRow, half_mass_side, receptive_field, spatial_rows


def plot_receptive_fields(model, data):
    """One panel per conv/pool layer: the input square seen by the centre unit of its output
    map, drawn over the first evaluation digit of `data`."""
    rows = spatial_rows(receptive_field(model))
    cols = math.ceil(len(rows) / math.ceil(len(rows) / 7))  # at most 7 panels a row
    fig, axes = plt.subplots(math.ceil(len(rows) / cols), cols, figsize=(2.0 * cols, 3.0 * math.ceil(len(rows) / cols)),
                             squeeze=False)
    for ax in axes.flat[len(rows):]:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows):
        centre = row.start + (row.size - 1) // 2 * row.j  # in input pixels; pixel i spans [i, i+1]
        _digit(ax, data.eval_x[0], extent=(0, 28, 28, 0))
        ax.add_patch(Rectangle((centre - row.r / 2,) * 2, row.r, row.r, fill=False, color="crimson", lw=2))
        ax.plot(centre, centre, "+", color="crimson")
        half = max(16, row.r / 2 + 2)  # a field wider than the digit shows how far it hangs over the edge
        ax.add_patch(Rectangle((0, 0), 28, 28, fill=False, color="0.6", lw=0.8))
        ax.set(xlim=(14 - half, 14 + half), ylim=(14 + half, 14 - half))
        ax.set_title(f"{row.layer}\n{row.size}x{row.size} map\nRF {row.r}", fontsize=SMALL + 1)
    alt = "receptive field of the centre unit per layer: " + ", ".join(f"{row.r} px" for row in rows)
    # an untrained model's geometry: fast mode changes nothing drawn, so no warning in the title; just never saved
    _finish(fig, "what the centre unit of each layer sees", alt).not_saved = data.fast and "fast mode"
    return fig


def plot_jumps(model):
    """Each conv/pool layer's units along one line of the 28-pixel input (a dot at each unit's
    centre) and the fields of two neighbouring units (bars): a conv widens the field by (k - 1)
    jumps and keeps the jump; a pool multiplies the jump by its stride, so each conv after a
    2x2 pool widens the field twice as much."""
    rows = [RFRow("the input", 28, 1, 1, 0, 1, 1, 0.5),
            *(row for row in spatial_rows(receptive_field(model)) if row.k > 1)]  # a 1x1 conv moves nothing
    fig, ax = plt.subplots(figsize=(11, 0.6 * len(rows) + 1.4))
    ends = [row.start + ((row.size - 1) // 2 + side * (row.size > 1)) * row.j + (side - 0.5) * row.r
            for row in rows for side in (0, 1)]  # of the bars drawn below: a field may hang over the digit's edge
    left, right = min(-1, *ends) - 0.5, max(29, *ends) + 0.5
    for y, row in enumerate(rows):
        pool = "Pool" in row.layer
        centres = [row.start + i * row.j for i in range(row.size)]
        ax.plot(centres, [y] * row.size, "o", ms=3, color="0.55")
        one = (row.size - 1) // 2  # the centre unit, and its right-hand neighbour
        for unit, colour, dy, label in ((one, "C0", -0.36, "what one unit sees"),
                                        (one + 1, "C1", 0.14, "what its neighbour sees, one jump to the right")):
            if unit < row.size:
                ax.add_patch(Rectangle((centres[unit] - row.r / 2, y + dy), row.r, 0.22, color=colour, alpha=0.4, lw=0,
                                       label=label if y == 1 else None))
                ax.plot(centres[unit], y, "o", ms=5, color=colour)
        what = f"jump {row.j}" + (f" (x{row.s}: a pool)" if pool else "") + f", RF {row.r}"
        ax.text(right + 0.2, y, what, va="center", fontsize=SMALL + 1, color="crimson" if pool else "black")
    for edge in (0, 28):
        ax.axvline(edge, color="0.7", lw=0.8)
    ax.set(xlim=(left, right + 0.36 * (right - left)), ylim=(len(rows) - 0.4, -0.6), xticks=range(0, 29, 4),
           xlabel="position on the input (pixels)")  # the labels' column, right of the widest bar
    ax.set_yticks(range(len(rows)), ["the input, 28x28"] + [f"{row.layer} {row.k}x{row.k}, {row.size}x{row.size} map"
                                                           for row in rows[1:]], fontsize=SMALL + 1)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(alpha=0.3, axis="x")
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=SMALL + 1, frameon=False)
    alt = ("each layer's unit centres along the input and two neighbours' fields; jump " +
           ", ".join(str(row.j) for row in rows[1:]) + " and receptive field " +
           ", ".join(str(row.r) for row in rows[1:]) + " px, layer by layer: a 2x2 pool doubles the jump")
    title = "where each layer's units sit on the input: a 2x2 pool doubles the jump"
    return _finish(fig, title, alt, legend_below=0.08)


def plot_effective_rf(maps: dict, rf: int):
    """Effective-field maps (mnistlib.rf.effective_rf), one panel each, with the theoretical
    rf x rf square (dashed) and the central square that holds half of the map (solid)."""
    fig, axes = plt.subplots(1, len(maps), figsize=(3.8 * len(maps) + 1, 4.2), squeeze=False)
    halves = {}
    for ax, (label, erf) in zip(axes[0], maps.items()):
        image = ax.imshow(erf.cpu().numpy(), cmap="magma", vmin=0, vmax=1, extent=(0, 28, 28, 0))
        halves[label] = side = half_mass_side(erf.cpu())
        for size, style in ((rf, "--"), (side, "-")):
            ax.add_patch(Rectangle((14 - size / 2,) * 2, size, size, fill=False, color="cyan", lw=1.5, ls=style))
        ax.set(xlim=(-1, 29), ylim=(29, -1), xticks=[], yticks=[])
        ax.set_title(f"{label}\nhalf of it in the central {side}x{side} px", fontsize=SMALL + 1)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="|gradient|, scaled to peak 1")
    alt = (f"effective receptive field against the theoretical {rf} px square: half of the gradient lies in "
           "the central " + "; ".join(f"{s}x{s} px ({label})" for label, s in halves.items()))
    title = f"effective receptive field of the centre unit\n(dashed: the theoretical {rf}x{rf} field)"
    return _finish(fig, title, alt, layout=False)  # beside a colorbar
