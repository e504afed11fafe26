"""Every figure the notebooks and the CLI show, one function each.

Each returns its matplotlib Figure (notebooks display it inline); `save(fig, name)` writes
figures/<name>.png, except in fast mode, whose tiny runs must not overwrite the real figures.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch

from .data import MEAN, STD, fast_mode
from .recipes import RECIPES
from .results import ROOT, split_held_out, summarize

FIGURES = ROOT / "figures"


def save(fig, name: str, folder: Path = FIGURES) -> Path | None:
    if fast_mode():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(folder) / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def plot_history(history: list[dict], title: str = ""):
    """Train and test accuracy and loss per epoch, side by side."""
    epochs = [h["epoch"] for h in history]
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(11, 3.8))
    for split, style in (("train", "o--"), ("test", "o-")):
        acc.plot(epochs, [h[f"{split}_acc"] for h in history], style, ms=3, label=split)
        loss.plot(epochs, [h[f"{split}_loss"] for h in history], style, ms=3, label=split)
    acc.axhline(99.4, color="grey", lw=0.8, ls=":", label="99.4% target")
    acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    acc.set_ylim(min(min(h["test_acc"] for h in history) - 0.5, 97.0), 100)
    loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss", yscale="log")
    for ax in (acc, loss):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@torch.inference_mode()
def misclassified(model, x, y, batch_size: int = 1000):
    """Indices, predictions and confidences of the wrongly classified images, most confident first."""
    from .train import predict
    probs = predict(model, x, batch_size).softmax(1)
    conf, pred = probs.max(1)
    wrong = (pred != y).nonzero().flatten()
    order = conf[wrong].argsort(descending=True)
    wrong = wrong[order]
    return wrong.cpu(), pred[wrong].cpu(), conf[wrong].cpu()


def plot_misclassified(model, x, y, n: int = 24, cols: int = 8, title: str = "misclassified test digits"):
    """A grid of wrongly classified images: true label, prediction and its confidence."""
    idx, pred, conf = misclassified(model, x, y)
    n = min(n, len(idx))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.45 * cols, 1.75 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        img = (x[idx[k]].squeeze().float().cpu() * STD + MEAN).numpy()
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"true {y[idx[k]].item()}  pred {pred[k].item()}\n{100 * conf[k].item():.0f}% sure", fontsize=8)
    fig.suptitle(f"{title}: {len(idx)} of {len(y):,} wrong (showing the {n} most confident)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_seeds(records: list[dict], title: str | None = None):
    """Each seed's test-accuracy curve, and its final-epoch value against the seeds' mean."""
    s = summarize(records)
    fig, (curves, finals) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    for r in records:
        curves.plot([h["epoch"] for h in r["history"]], [h["test_acc"] for h in r["history"]],
                    "-", lw=1.2, label=f"seed {r['seed']}")
    curves.axhline(99.4, color="grey", lw=0.8, ls=":")
    curves.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy per epoch")
    curves.set_ylim(min(r["final_test_acc"] for r in records) - 0.6, 100)  # zoom on where runs end
    curves.legend(fontsize=8, ncol=2)
    seeds = [r["seed"] for r in records]
    finals.plot(range(len(seeds)), [r["final_test_acc"] for r in records], "o", label="final epoch")
    finals.plot(range(len(seeds)), [r["best_test_acc"] for r in records], "x", color="grey",
                label="best epoch (test-selected)")
    finals.axhline(s["final_mean"], lw=1, label=f"mean final {s['final_mean']:.2f} ± {s['final_std']:.2f}")
    finals.axhline(99.4, color="grey", lw=0.8, ls=":")
    finals.set_xticks(range(len(seeds)), [str(v) for v in seeds])
    finals.set(xlabel="seed", ylabel="test accuracy (%)", title="per seed")
    finals.legend(fontsize=8)
    for ax in (curves, finals):
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"{s['iteration']} ({s['params']:,} params), {len(records)} seeds")
    fig.tight_layout()
    return fig


def plot_comparison(records_by_name: dict[str, list[dict]]):
    """All iterations: mean test curve over seeds, and params vs final-epoch accuracy (± std),
    with the write-up's single best-epoch claims as hollow grey markers. Seeds 0-4 only:
    held-out seeds are reported beside them, not mixed in."""
    fig, (curves, scatter) = plt.subplots(1, 2, figsize=(11, 4))
    claimed = False
    for name, records in records_by_name.items():
        records = split_held_out(records)[0]
        if not records:
            continue
        epochs = [h["epoch"] for h in records[0]["history"]]
        mean = [sum(r["history"][e]["test_acc"] for r in records) / len(records) for e in range(len(epochs))]
        curves.plot(epochs, mean, "o-", ms=3, label=name)
        s = summarize(records)
        scatter.errorbar(s["params"], s["final_mean"], yerr=s["final_std"], fmt="o", capsize=4)  # named in place
        scatter.annotate(name, (s["params"], s["final_mean"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
        claim = RECIPES[name].reported if name in RECIPES else {}
        if "best_test_acc" in claim:
            scatter.plot(claim["params"], claim["best_test_acc"], "o", mfc="none", color="grey",
                         label="write-up (best epoch, one run)" if not claimed else None)
            claimed = True
    curves.set(xlabel="epoch", ylabel="test accuracy (%), mean over seeds", title="test accuracy")
    curves.set_ylim(97.5, 99.8)
    scatter.set(xlabel="trainable parameters", ylabel="final-epoch test accuracy (%)",
                title="size vs accuracy (mean ± std over seeds)")
    for ax in (curves, scatter):
        ax.axhline(99.4, color="grey", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    curves.legend(fontsize=8, loc="lower right")
    if claimed:
        scatter.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_receptive_fields(model, image: torch.Tensor, title: str = "what the centre unit of each layer sees"):
    """One panel per conv/pool layer: the input square seen by the centre unit of its output
    map, drawn over a digit (image: one normalised 1x28x28 tensor)."""
    from matplotlib.patches import Rectangle
    from .rf import receptive_field, spatial_rows
    rows = spatial_rows(receptive_field(model))
    img = (image.squeeze().float().cpu() * STD + MEAN).numpy()
    fig, axes = plt.subplots(1, len(rows), figsize=(1.9 * len(rows), 2.6), squeeze=False)
    for ax, row in zip(axes[0], rows):
        centre = row.start + (row.size - 1) // 2 * row.j  # in input pixels; pixel i spans [i, i+1]
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=1, extent=(0, 28, 28, 0))
        ax.add_patch(Rectangle((centre - row.r / 2,) * 2, row.r, row.r, fill=False, color="crimson", lw=2))
        ax.plot(centre, centre, "+", color="crimson")
        ax.set_xlim(-2, 30)
        ax.set_ylim(30, -2)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{row.layer}\n{row.size}x{row.size} map, RF {row.r}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
