"""The lesson's figures, one function each (those of run records: lab/plots_results.py). Each
returns its Figure with a one-line text alternative in `fig.alt_text`, shown as its caption by
`show`. A figure of a run that is not a result (mnistlib.train.why_not_a_result) says so in its
title and is never saved, so tests and short class runs never overwrite the real figures.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator

from .data import MEAN, STD, Batches
from .errors import Refusal
from .notebook import in_notebook
from .paths import FIGURES
from .train import make_schedule, predict, why_not_a_result

TITLE = 12  # font sizes
SMALL = 9


def _finish(fig, title: str, alt: str, warning: str | None = None, legend_below: float = 0.0, layout: bool = True):
    """Suptitle (and the warning, in red), text alternative, and a tight layout above a shared legend."""
    fig.not_saved = warning
    fig.alt_text = (f"[{warning}] " if warning else "") + alt
    fig.suptitle(f"{warning}\n{title}" if warning else title, fontsize=TITLE, color="crimson" if warning else "black")
    if layout:
        fig.tight_layout(rect=(0, legend_below, 1, 1))
    return fig


def save(fig, name: str, folder: Path = FIGURES) -> Path | None:
    """figures/<name>.png, or None for a figure of a run that is not a result."""
    if getattr(fig, "not_saved", None):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def show(fig, name: str | None = None, folder: Path = FIGURES) -> None:
    """The figure's caption, its text alternative (Markdown in a notebook, so it wraps). Saved as
    figures/<name>.png only while `python -m mnistlib notebooks` re-makes the committed notebooks
    (MNISTLIB_SAVE_FIGURES=1): a student's own run never changes the project's files."""
    if name and os.environ.get("MNISTLIB_SAVE_FIGURES") == "1":
        save(fig, name, folder)
    if in_notebook():
        from IPython.display import Markdown, display
        display(Markdown(f"*Figure: {fig.alt_text}*"))
    else:
        print(f"Figure: {fig.alt_text}")


def _curves(series, target: str | None = None):
    """Accuracy and loss per epoch, a line for each (history, key, style, label), and the 99.4%
    target; from 6 epochs on, the late epochs (where runs differ) enlarged in an inset."""
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(12, 4.2))
    loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log")
    for history, key, style, label in series:
        epochs = [h["epoch"] for h in history]
        acc.plot(epochs, [h[f"{key}_acc"] for h in history], style, ms=3, label=label)
        loss.plot(epochs, [h[f"{key}_loss"] for h in history], style, ms=3, label=label)
    acc.axhline(99.4, color="grey", lw=0.8, ls=":", label=target)
    if len(series[0][0]) >= 6:
        inset = acc.inset_axes([0.42, 0.12, 0.55, 0.45])
        for history, key, style, _ in series:
            late = history[len(history) // 3:]
            inset.plot([h["epoch"] for h in late], [h[f"{key}_acc"] for h in late], style, ms=2)
        inset.axhline(99.4, color="grey", lw=0.8, ls=":")
        inset.tick_params(labelsize=7)
    for ax in (acc, loss, *acc.child_axes):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs, even for one
    fig.legend(*acc.get_legend_handles_labels(), loc="lower center", ncol=len(series) + bool(target), fontsize=SMALL,
               frameon=False)
    return fig, acc, loss


def _digit(ax, image, **extent) -> None:
    """A normalised MNIST image drawn as the digit it is (ink dark on white), without ticks."""
    ax.imshow((image.squeeze().float().cpu() * STD + MEAN).numpy(), cmap="gray_r", vmin=0, vmax=1, **extent)
    ax.set(xticks=[], yticks=[])


def plot_history(run, title: str | None = None):
    """Train and evaluation accuracy and loss per epoch of a Run, or of a record's history."""
    if hasattr(run, "history"):
        history, warning, split, recipe = run.history, why_not_a_result(run), run.split, run.recipe
        train = "train (augmented batches)" if recipe.rotate or recipe.translate or recipe.scale else "train"
        title = title or f"{recipe.name}, seed {run.seed}"
    else:
        history, warning, split, train = run, None, "test", "train"
    fig, acc, loss = _curves([(history, "train", "o--", train), (history, "eval", "o-", split)], "99.4% target")
    acc.set_ylim(min(h[f"{k}_acc"] for h in history for k in ("train", "eval")) - 0.5, 100.2)
    acc.set(xlabel="epoch", ylabel="accuracy (%)", xlim=(0.5, len(history) + 0.5))
    acc.set_title("accuracy", fontsize=TITLE)
    loss.set(xlim=(0.5, len(history) + 0.5))
    loss.set_title("loss", fontsize=TITLE)
    for inset in acc.child_axes:  # the late epochs, enlarged
        late = history[len(history) // 3:]
        values = [h[f"{k}_acc"] for h in late for k in ("train", "eval")]
        inset.set_ylim(min(values) - 0.1, max(values) + 0.1)
        inset.set_title(f"epochs {late[0]['epoch']}-{late[-1]['epoch']}", fontsize=8)
    h = history[-1]
    alt = (f"accuracy and loss per epoch over {len(history)} epoch(s); final epoch: train {h['train_acc']:.2f}%, "
           f"{split} {h['eval_acc']:.2f}%")
    return _finish(fig, title or "", alt, warning, legend_below=0.07)


def plot_schedule(recipe):
    """The learning rate at every step of `recipe` on 60,000 images, from training's own scheduler."""
    steps = math.ceil(60_000 / recipe.batch_size)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=recipe.lr, momentum=recipe.momentum)
    scheduler = make_schedule(recipe, optimizer, recipe.epochs, steps)
    optimizer.step()  # no gradient: nothing moves; the scheduler sees the optimizer step first, as in training
    lrs = []
    for _ in range(recipe.epochs * steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.plot([i / steps for i in range(len(lrs))], lrs, lw=1.8)
    ax.set(xlabel="epochs trained", ylabel="learning rate", xlim=(0, recipe.epochs), ylim=(0, max(lrs) * 1.1))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if len(set(lrs)) == 1:
        what = f"constant {lrs[0]:g}"
    elif recipe.schedule == "onecycle":
        what = (f"one-cycle: from {lrs[0]:.2g} up to {max(lrs):g} at {100 * lrs.index(max(lrs)) / len(lrs):.0f}% "
                f"of the steps, then down to {lrs[-1]:.1g}")
    else:
        what = f"{lrs[0]:g}, x{recipe.gamma:g} after epochs {', '.join(map(str, recipe.milestones))}"
    return _finish(fig, f"{recipe.name}: learning rate per step ({steps} steps an epoch)",
                   f"{recipe.name}'s learning rate over {recipe.epochs} epochs: {what}")


def plot_augmentations(recipe, data, n: int = 7):
    """The first training digit, then `n` draws of `recipe`'s rotation, shift and zoom, made by the
    training batches' own code (mnistlib.data.Batches)."""
    x, y = data.train_x[:1].expand(n, -1, -1, -1), data.train_y[:1].expand(n)
    augmented = next(iter(Batches(x, y, n, 0, recipe.rotate, recipe.translate, recipe.scale)))[0]
    fig, axes = plt.subplots(1, n + 1, figsize=(1.5 * (n + 1), 2.1))
    for k, (ax, img) in enumerate(zip(axes, [data.train_x[0], *augmented])):
        _digit(ax, img)
        ax.set_title("the digit" if k == 0 else f"draw {k}", fontsize=SMALL)
    parts = [f"rotation up to ±{recipe.rotate:g}°" if recipe.rotate else "",
             f"shift up to {100 * recipe.translate:g}% of the image" if recipe.translate else "",
             f"zoom up to ±{100 * recipe.scale:g}%" if recipe.scale else ""]
    what = ", ".join(p for p in parts if p) or "no augmentation: every epoch sees the digits as they are"
    return _finish(fig, f"{recipe.name}'s training batches: {what}",
                   f"one training digit and {n} draws of {recipe.name}'s augmentation ({what})")


@torch.inference_mode()
def misclassified(model, x, y):
    """Indices, predictions and confidences of the wrongly classified images, most confident first."""
    conf, pred = predict(model, x).softmax(1).max(1)
    wrong = (pred != y).nonzero().flatten()
    wrong = wrong[conf[wrong].argsort(descending=True)]
    return wrong.cpu(), pred[wrong].cpu(), conf[wrong].cpu()


def plot_misclassified(run, data, n: int = 24, cols: int = 8):
    """The evaluation images the run's model gets wrong, most confident mistakes first."""
    x, y = data.eval_x, data.eval_y
    idx, pred, conf = misclassified(run.model, x, y)
    n = min(n, len(idx))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.45 * cols, 1.75 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        _digit(ax, x[idx[k]])
        ax.set_title(f"true {y[idx[k]].item()}  pred {pred[k].item()}\n{100 * conf[k].item():.0f}% sure",
                     fontsize=SMALL)
    what = f"misclassified {data.split} digits: {len(idx)} of {len(y):,} wrong"
    return _finish(fig, f"{what} (showing the {n} most confident)",
                   f"{what}; the {n} it was most sure of, each with its true label, prediction and confidence",
                   why_not_a_result(run))


@torch.no_grad()
def plot_soft_targets(teacher, data, temperatures=(1.0, 4.0), n: int = 6):
    """The training digits (of the first 10,000) the teacher is least sure of, each with its class
    probabilities at each temperature: what a soft target tells a student that the label does not."""
    x, y = data.train_x[:10_000], data.train_y[:10_000]
    idx = teacher.soft_targets(x, 1.0).max(1).values.argsort()[:n].cpu()  # the least sure first
    probs = {t: teacher.soft_targets(x[idx], t).cpu() for t in temperatures}
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.0), gridspec_kw={"height_ratios": [1, 1.1]}, squeeze=False)
    width = 0.8 / len(temperatures)
    for k, (img, bars) in enumerate(axes.T):  # a digit over its bars
        _digit(img, x[idx[k]])
        img.set_title(f"label {y[idx[k]].item()}", fontsize=SMALL)
        img.axis("off")
        for j, t in enumerate(temperatures):
            bars.bar(torch.arange(10) + (j - (len(temperatures) - 1) / 2) * width, probs[t][k], width,
                     label=f"T = {t:g}", color=f"C{j}")
        bars.set(xticks=range(10), ylim=(0, 1))
        bars.tick_params(labelsize=7)
        bars.grid(alpha=0.3, axis="y")
        if k:
            bars.set_yticklabels([])
    axes[1, 0].set_ylabel("probability", fontsize=SMALL)
    fig.legend(*axes[1, 0].get_legend_handles_labels(), loc="lower center", ncol=len(temperatures), fontsize=SMALL,
               frameon=False)
    top = [f"{probs[temperatures[0]][k].max().item():.0%}" for k in range(n)]
    return _finish(fig, f"the teacher's outputs for the {n} training digits it is least sure of",
                   f"{n} training digits with the teacher's class probabilities at T = "
                   f"{' and '.join(f'{t:g}' for t in temperatures)}; its top class gets {', '.join(top)} at T = "
                   f"{temperatures[0]:g}, and the other classes more at the higher temperature",
                   next(filter(None, (why_not_a_result(r, teacher.split, registered=False) for r in teacher.records)),
                        None), legend_below=0.07)


def plot_with_and_without(alone, taught):
    """Two runs of one seed, alone and with a teacher: evaluation accuracy every epoch (the late
    ones enlarged) and evaluation loss. The training loss is not drawn: with a teacher it holds the
    soft term too, so the two would not measure the same thing."""
    if (alone.seed, alone.split, alone.recipe.cfg) != (taught.seed, taught.split, taught.recipe.cfg):
        raise Refusal("plot_with_and_without compares one network and seed on one split, alone and with a teacher; "
                      f"got seeds {alone.seed} and {taught.seed}, splits {alone.split} and {taught.split}")
    split = alone.split
    fig, acc, loss = _curves([(run.history, "eval", "o-", f"{label}: {run.final_acc:.2f}%")
                              for run, label in ((alone, "alone"), (taught, "with the teacher"))])
    acc.set(xlabel="epoch", ylabel=f"{split} accuracy (%)")
    acc.set_title(f"{split} accuracy (final epoch in the legend)", fontsize=TITLE)
    loss.set_title(f"{split} loss", fontsize=TITLE)
    warning = why_not_a_result(alone, split, registered=False) or why_not_a_result(taught, split, registered=False)
    return _finish(fig, f"{alone.recipe.name}, seed {alone.seed}: alone and with its teacher",
                   f"{split} accuracy and loss per epoch of one seed trained alone and with the teacher; final epoch "
                   f"{alone.final_acc:.2f}% alone, {taught.final_acc:.2f}% with the teacher", warning,
                   legend_below=0.07)
