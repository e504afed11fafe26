"""Every figure the notebooks and the CLI show, one function each.

Each returns its matplotlib Figure (notebooks display it inline) with a one-line text
alternative in `fig.alt_text`. `show(fig, name)` shows that line as the figure's caption and,
while `python -m mnistlib notebooks` re-makes the notebooks, saves figures/<name>.png, except
for a figure drawn from a run that is not a result
(mnistlib.results.why_not_a_result: fast-mode data, fewer epochs than its recipe's, the
validation split, a variant): its title says so and it is never saved, so tests and short
class runs never overwrite the real figures.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from .data import MEAN, STD, Batches
from .notebook import in_notebook
from .paths import FIGURES
from .recipes import RECIPES
from .results import format_seeds, split_held_out, summarize, why_not_a_result
from .rf import half_mass_side, receptive_field, spatial_rows
from .train import make_schedule, predict

TITLE = 12  # font sizes
SMALL = 9


def _finish(fig, title: str, alt: str, warning: str | None = None, legend_below: float = 0.0):
    """Suptitle (with the warning, if any, in red), text alternative, tight layout (leaving the
    bottom `legend_below` of the figure to a shared legend)."""
    fig.not_saved = warning
    fig.alt_text = (f"[{warning}] " if warning else "") + alt
    fig.suptitle(f"{warning}\n{title}" if warning else title, fontsize=TITLE, color="crimson" if warning else "black")
    fig.tight_layout(rect=(0, legend_below, 1, 1))
    return fig


def save(fig, name: str, folder: Path = FIGURES) -> Path | None:
    """figures/<name>.png, or None for a figure of a run that is not a result."""
    if getattr(fig, "not_saved", None):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(folder) / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def show(fig, name: str | None = None, folder: Path = FIGURES) -> None:
    """Show the figure's caption, its text alternative, under it (as Markdown in a notebook, so
    it wraps at word boundaries). With a name, the figure is also saved as figures/<name>.png,
    but only while `python -m mnistlib notebooks` re-makes the committed notebooks
    (MNISTLIB_SAVE_FIGURES=1): a student's own run never changes the project's files."""
    if name and os.environ.get("MNISTLIB_SAVE_FIGURES") == "1":
        save(fig, name, folder)
    if in_notebook():
        from IPython.display import Markdown, display
        display(Markdown(f"*Figure: {fig.alt_text}*"))
    else:
        print(f"Figure: {fig.alt_text}")


def plot_history(run, title: str | None = None):
    """Train and held-out accuracy and loss per epoch (a Run, or a record's history), every
    point on the axes, with the late epochs enlarged in an inset."""
    history, warning = (run.history, why_not_a_result(run)) if hasattr(run, "history") else (run, None)
    split = getattr(run, "split", "test")
    epochs = [h["epoch"] for h in history]
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(12, 4.2))
    curves = {"train": "o--", "test": "o-"}
    recipe = getattr(run, "recipe", None)
    augmented = recipe is not None and bool(recipe.rotate or recipe.translate or recipe.scale)
    for key, style in curves.items():
        label = ("train (augmented batches)" if augmented else "train") if key == "train" else split
        acc.plot(epochs, [h[f"{key}_acc"] for h in history], style, ms=3, label=label)
        loss.plot(epochs, [h[f"{key}_loss"] for h in history], style, ms=3, label=label)
    everything = [h[f"{k}_acc"] for h in history for k in curves]
    acc.set_ylim(min(everything) - 0.5, 100.2)
    acc.axhline(99.4, color="grey", lw=0.8, ls=":", label="99.4% target")
    acc.set(xlabel="epoch", ylabel="accuracy (%)")
    acc.set_title("accuracy", fontsize=TITLE)
    if len(history) >= 6:  # the late epochs, where the runs differ, enlarged
        late = history[len(history) // 3:]
        inset = acc.inset_axes([0.42, 0.12, 0.55, 0.45])
        for key, style in curves.items():
            inset.plot([h["epoch"] for h in late], [h[f"{key}_acc"] for h in late], style, ms=2)
        values = [h[f"{k}_acc"] for h in late for k in curves]
        inset.set_ylim(min(values) - 0.1, max(values) + 0.1)
        inset.axhline(99.4, color="grey", lw=0.8, ls=":")
        inset.tick_params(labelsize=7)
        inset.set_title(f"epochs {late[0]['epoch']}-{late[-1]['epoch']}", fontsize=8)
    loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log")
    loss.set_title("loss", fontsize=TITLE)
    for ax in (acc, loss, *acc.child_axes):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs, even for one
    for ax in (acc, loss):
        ax.set_xlim(0.5, len(history) + 0.5)
    fig.legend(*acc.get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=SMALL, frameon=False)
    h = history[-1]
    alt = (f"accuracy and loss per epoch over {len(history)} epoch(s); final epoch: train {h['train_acc']:.2f}%, "
           f"{split} {h['test_acc']:.2f}%")
    return _finish(fig, title or (f"{run.recipe.name}, seed {run.seed}" if hasattr(run, "recipe") else ""), alt, warning,
                   legend_below=0.07)


def plot_schedule(recipe, train_images: int = 60_000):
    """The learning rate at every training step of `recipe`, from the scheduler training uses
    (mnistlib.train.make_schedule), stepped as training steps it."""
    steps = math.ceil(train_images / recipe.batch_size)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=recipe.lr, momentum=recipe.momentum)
    schedule, per_batch = make_schedule(recipe, optimizer, recipe.epochs, steps)
    lrs = []
    for _ in range(recipe.epochs):
        for _ in range(steps):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if per_batch:
                schedule.step()
        if not per_batch:
            schedule.step()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.plot([i / steps for i in range(len(lrs))], lrs, lw=1.8)
    ax.set(xlabel="epochs trained", ylabel="learning rate", xlim=(0, recipe.epochs), ylim=(0, max(lrs) * 1.1))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    peak = lrs.index(max(lrs))
    if len(set(lrs)) == 1:
        what = f"constant {lrs[0]:g}"
    elif per_batch:
        what = (f"one-cycle: from {lrs[0]:.2g} up to {max(lrs):g} at {100 * peak / len(lrs):.0f}% of the steps, "
                f"then down to {lrs[-1]:.1g}")
    else:
        what = f"{lrs[0]:g}, x{recipe.gamma:g} after epochs {', '.join(map(str, recipe.milestones))}"
    return _finish(fig, f"{recipe.name}: learning rate per step ({steps} steps an epoch)",
                   f"{recipe.name}'s learning rate over {recipe.epochs} epochs: {what}")


def plot_augmentations(recipe, data, index: int = 0, n: int = 7, seed: int = 0):
    """One training digit as `recipe`'s training batches see it: the digit itself, then `n`
    draws of the recipe's rotation, shift and zoom, made by the training batches' own code
    (mnistlib.data.Batches)."""
    x = data.train_x[index: index + 1].expand(n, -1, -1, -1)
    y = data.train_y[index: index + 1].expand(n)
    augmented = next(iter(Batches(x, y, n, seed, recipe.rotate, recipe.translate, recipe.scale)))[0]
    fig, axes = plt.subplots(1, n + 1, figsize=(1.5 * (n + 1), 2.1))
    for k, (ax, img) in enumerate(zip(axes, [data.train_x[index], *augmented])):
        ax.imshow((img.squeeze().float().cpu() * STD + MEAN).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
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
    probs = predict(model, x).softmax(1)
    conf, pred = probs.max(1)
    wrong = (pred != y).nonzero().flatten()
    order = conf[wrong].argsort(descending=True)
    wrong = wrong[order]
    return wrong.cpu(), pred[wrong].cpu(), conf[wrong].cpu()


def plot_misclassified(run, data, n: int = 24, cols: int = 8):
    """A grid of the held-out split's images (data: MNISTTensors) that the run's model gets
    wrong: true label, prediction and its confidence, most confident mistakes first."""
    x, y = data.eval_x, data.eval_y
    idx, pred, conf = misclassified(run.model, x, y)
    n = min(n, len(idx))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.45 * cols, 1.75 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        img = (x[idx[k]].squeeze().float().cpu() * STD + MEAN).numpy()
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"true {y[idx[k]].item()}  pred {pred[k].item()}\n{100 * conf[k].item():.0f}% sure", fontsize=SMALL)
    what = f"misclassified {data.split} digits: {len(idx)} of {len(y):,} wrong"
    return _finish(fig, f"{what} (showing the {n} most confident)",
                   f"{what}; the {n} it was most sure of, each with its true label, prediction and confidence",
                   why_not_a_result(run))


def plot_seeds(records: list[dict], title: str | None = None):
    """Each seed's test-accuracy curve over all epochs, the last five enlarged, and each seed's
    final-epoch value against the mean over the tuning seeds (0-9); held-out seeds (10 and up)
    are drawn as hollow markers and kept out of that mean."""
    tuning, held_out = split_held_out(records)
    held = {r["seed"] for r in held_out}
    s = summarize(tuning or records)
    fig, (curves, late, finals) = plt.subplots(1, 3, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1.3, 1.3, 1]})
    last = max(len(r["history"]) for r in records)
    for r in records:
        epochs, accs = [h["epoch"] for h in r["history"]], [h["test_acc"] for h in r["history"]]
        style = "--" if r["seed"] in held else "-"
        curves.plot(epochs, accs, style, lw=1.2, label=f"seed {r['seed']}" + (" (held out)" if r["seed"] in held else ""))
        late.plot(epochs[-5:], accs[-5:], "o" + style, ms=3, lw=1.2)
    late.set_ylim(min(h["test_acc"] for r in records for h in r["history"][-5:]) - 0.05, None)
    for ax, what in ((curves, f"all {last} epochs"), (late, f"epochs {last - 4}-{last}, enlarged")):
        ax.axhline(99.4, color="grey", lw=0.8, ls=":")
        ax.set(xlabel="epoch", ylabel="test accuracy (%)")
        ax.set_title(what, fontsize=TITLE)
    curves.legend(fontsize=7, ncol=2)
    seeds = [r["seed"] for r in records]
    for group, label, face in ((tuning, "final epoch", None), (held_out, "final epoch, held-out seed", "none")):
        if group:
            finals.plot([seeds.index(r["seed"]) for r in group], [r["final_test_acc"] for r in group], "o",
                        color="C0", mfc=face, label=label)
    finals.plot(range(len(seeds)), [r["best_test_acc"] for r in records], "x", color="grey",
                label="best epoch (test-selected)")
    finals.axhline(s["final_mean"], lw=1, label=f"mean final, seeds {format_seeds(s['seeds'])}: "
                                                f"{s['final_mean']:.2f} ± {s['final_std']:.2f}")
    finals.axhline(99.4, color="grey", lw=0.8, ls=":")
    finals.set_xticks(range(len(seeds)), [str(v) for v in seeds])
    finals.set(xlabel="seed", ylabel="test accuracy (%)")
    finals.set_title("per seed", fontsize=TITLE)
    finals.legend(fontsize=7)
    for ax in (curves, late, finals):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs and seeds, even for one
    alt = (f"test accuracy per epoch for seeds {', '.join(map(str, seeds))}; final epoch over seeds "
           f"{format_seeds(s['seeds'])}: {s['final_mean']:.2f} ± {s['final_std']:.2f} (min {s['final_min']:.2f}, "
           f"max {s['final_max']:.2f})")
    if tuning and held_out:
        h = summarize(held_out)
        alt += f"; held-out seeds {format_seeds(h['seeds'])}: {h['final_mean']:.2f} ± {h['final_std']:.2f}"
    count = f"{len(tuning)} seeds" + (f" + {len(held_out)} held out" if tuning and held_out else "")
    return _finish(fig, title or f"{s['iteration']} ({s['params']:,} params), {count}", alt)


def _label_points(ax, points: list[tuple[float, float, str, str]], fontsize: int = 8) -> None:
    """Label each (x, y, text, colour) point beside it, trying a few places around it and taking
    the first whose box overlaps no label placed before and no other point."""
    ax.figure.canvas.draw()  # the data-to-pixel transform, with the axes' final limits
    to_px = ax.transData.transform
    dots = [to_px((x, y)) for x, y, _, _ in points]
    boxes = []
    char, line = fontsize * 0.6 * ax.figure.dpi / 72, fontsize * 1.3 * ax.figure.dpi / 72
    for (x, y, text, colour), (px, py) in zip(points, dots):
        width = char * len(text)
        for dx, dy in ((7, 3), (7, -line - 2), (-width - 7, 3), (-width - 7, -line - 2), (7, line + 4),
                       (7, -2 * line - 6), (-width / 2, line + 6), (-width / 2, -2 * line - 6)):
            box = (px + dx, py + dy, px + dx + width, py + dy + line)
            clear = all(box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3] for b in boxes)
            if clear and not any(box[0] - 3 <= qx <= box[2] + 3 and box[1] - 3 <= qy <= box[3] + 3 for qx, qy in dots):
                break
        boxes.append(box)
        ax.annotate(text, (x, y), xytext=(dx * 72 / ax.figure.dpi, dy * 72 / ax.figure.dpi), textcoords="offset points",
                    fontsize=fontsize, color=colour)


def plot_comparison(records_by_name: dict[str, list[dict]]):
    """All iterations: mean test curve over seeds (every epoch, the late ones enlarged in an
    inset), and params vs final-epoch accuracy (± std), with the write-up's single best-epoch
    claims as hollow grey markers, each labelled as the write-up's. Tuning seeds only: held-out
    seeds are reported beside them, not mixed in."""
    fig, (curves, scatter) = plt.subplots(1, 2, figsize=(12, 4.8))
    late = curves.inset_axes([0.4, 0.1, 0.57, 0.5])
    labels, lows = [], []
    for name, records in records_by_name.items():
        records = split_held_out(records)[0]
        if not records:
            continue
        epochs = [h["epoch"] for h in records[0]["history"]]
        mean = [sum(r["history"][e]["test_acc"] for r in records) / len(records) for e in range(len(epochs))]
        line, = curves.plot(epochs, mean, "o-", ms=3, label=name)
        late.plot(epochs[7:], mean[7:], "o-", ms=2, color=line.get_color())
        lows.append(min(mean))
        s = summarize(records)
        scatter.errorbar(s["params"], s["final_mean"], yerr=s["final_std"], fmt="o", capsize=4, color=line.get_color())
        labels.append((s["params"], s["final_mean"], name, line.get_color()))
        claim = RECIPES[name].reported if name in RECIPES else {}
        if "best_test_acc" in claim:
            scatter.plot(claim["params"], claim["best_test_acc"], "o", mfc="none", color="grey")
            labels.append((claim["params"], claim["best_test_acc"], f"write-up's {name} (best epoch, one run)", "grey"))
    curves.set(xlabel="epoch", ylabel="test accuracy (%), mean over seeds")
    curves.set_title("test accuracy, every epoch", fontsize=TITLE)
    curves.set_ylim(min(lows) - 0.5, 100)
    late.set_title("epochs 8-15", fontsize=8)
    late.tick_params(labelsize=7)
    scatter.set(xlabel="trainable parameters", ylabel="final-epoch test accuracy (%)")
    scatter.set_title("size vs accuracy (mean ± std over seeds)", fontsize=TITLE)
    xs = [x for x, _, _, _ in labels]
    spread = max(xs) - min(xs) or max(xs)  # one point: room around it all the same
    scatter.set_xlim(min(xs) - 0.25 * spread, max(xs) + 0.35 * spread)
    for ax in (curves, late, scatter):
        ax.axhline(99.4, color="grey", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    handles, names = curves.get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=SMALL, frameon=False)
    fig = _finish(fig, "", f"mean test accuracy per epoch, and parameters against final-epoch test accuracy, for "
                  f"{', '.join(names)}; grey circles: the write-up's best-epoch claims", legend_below=0.06)
    _label_points(scatter, labels)  # after the layout, which would move the axes under the labels
    return fig


@torch.no_grad()
def plot_soft_targets(teacher, data, temperatures=(1.0, 4.0), n: int = 6, pool: int = 10_000):
    """The training digits (of the first `pool`) the teacher is least sure of, each with its class
    probabilities at each temperature: what a soft target tells a student that the label does not."""
    x, y = data.train_x[:pool], data.train_y[:pool]
    sure = teacher.soft_targets(x, 1.0).max(1).values
    idx = sure.argsort()[:n].cpu()
    probs = {t: teacher.soft_targets(x[idx], t).cpu() for t in temperatures}
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.0), gridspec_kw={"height_ratios": [1, 1.1]}, squeeze=False)
    width = 0.8 / len(temperatures)
    for k in range(n):
        img, bars = axes[0, k], axes[1, k]
        img.imshow((x[idx[k]].squeeze().float().cpu() * STD + MEAN).numpy(), cmap="gray_r", vmin=0, vmax=1)
        img.set_title(f"label {y[idx[k]].item()}", fontsize=SMALL)
        img.axis("off")
        for j, t in enumerate(temperatures):
            bars.bar(torch.arange(10) + (j - (len(temperatures) - 1) / 2) * width, probs[t][k], width,
                     label=f"T = {t:g}", color=f"C{j}")
        bars.set_xticks(range(10))
        bars.tick_params(labelsize=7)
        bars.set_ylim(0, 1)
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
    """Two runs of one seed, alone and with a teacher: held-out accuracy every epoch (the late
    ones enlarged) and held-out loss. The training loss is not drawn: with a teacher it holds the
    soft term too, so the two would not measure the same thing."""
    if (alone.seed, alone.split, alone.recipe.cfg) != (taught.seed, taught.split, taught.recipe.cfg):
        raise ValueError("plot_with_and_without compares one network and seed on one split, alone and with a teacher; "
                         f"got seeds {alone.seed} and {taught.seed}, splits {alone.split} and {taught.split}")
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(12, 4.2))
    split = alone.split
    late = acc.inset_axes([0.42, 0.12, 0.55, 0.45]) if len(alone.history) >= 6 else None  # the late epochs
    for run, label in ((alone, "alone"), (taught, "with the teacher")):
        epochs = [h["epoch"] for h in run.history]
        acc.plot(epochs, [h["test_acc"] for h in run.history], "o-", ms=3, label=f"{label}: {run.final_acc:.2f}%")
        loss.plot(epochs, [h["test_loss"] for h in run.history], "o-", ms=3)
        if late:
            tail = run.history[len(run.history) // 3:]
            late.plot([h["epoch"] for h in tail], [h["test_acc"] for h in tail], "o-", ms=2)
    acc.set(xlabel="epoch", ylabel=f"{split} accuracy (%)")
    acc.set_title(f"{split} accuracy (final epoch in the legend)", fontsize=TITLE)
    loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log")
    loss.set_title(f"{split} loss", fontsize=TITLE)
    insets = [late] if late else []
    for ax in insets:
        ax.tick_params(labelsize=7)
    for ax in (acc, *insets):
        ax.axhline(99.4, color="grey", lw=0.8, ls=":")
    for ax in (acc, loss, *insets):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    fig.legend(*acc.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=SMALL, frameon=False)
    warning = (why_not_a_result(alone, split, registered=False) or why_not_a_result(taught, split, registered=False))
    return _finish(fig, f"{alone.recipe.name}, seed {alone.seed}: alone and with its teacher",
                   f"{split} accuracy and loss per epoch of one seed trained alone and with the teacher; final epoch "
                   f"{alone.final_acc:.2f}% alone, {taught.final_acc:.2f}% with the teacher", warning, legend_below=0.07)


def plot_receptive_fields(model, data, index: int = 0, title: str = "what the centre unit of each layer sees"):
    """One panel per conv/pool layer: the input square seen by the centre unit of its output
    map, drawn over held-out digit `index` of `data` (MNISTTensors)."""
    image = data.eval_x[index]
    rows = spatial_rows(receptive_field(model))
    img = (image.squeeze().float().cpu() * STD + MEAN).numpy()
    fig, axes = plt.subplots(1, len(rows), figsize=(2.0 * len(rows), 3.0), squeeze=False)
    for ax, row in zip(axes[0], rows):
        centre = row.start + (row.size - 1) // 2 * row.j  # in input pixels; pixel i spans [i, i+1]
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=1, extent=(0, 28, 28, 0))
        ax.add_patch(Rectangle((centre - row.r / 2,) * 2, row.r, row.r, fill=False, color="crimson", lw=2))
        ax.plot(centre, centre, "+", color="crimson")
        ax.set_xlim(-2, 30)
        ax.set_ylim(30, -2)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{row.layer}\n{row.size}x{row.size} map\nRF {row.r}", fontsize=SMALL + 1)
    alt = "receptive field of the centre unit per layer: " + ", ".join(f"{row.r} px" for row in rows)
    fig = _finish(fig, title, alt)
    fig.not_saved = data.fast and "fast mode"  # nothing trained, so no warning in the title; tests never save
    return fig


def plot_effective_rf(maps: dict, rf: int, title: str = "effective receptive field of the centre unit"):
    """Effective-field maps (mnistlib.rf.effective_rf), one panel each, with the theoretical
    rf x rf square (dashed) and the central square that holds half of the map (solid)."""
    fig, axes = plt.subplots(1, len(maps), figsize=(3.8 * len(maps) + 1, 4.2), squeeze=False)
    halves = {}
    for ax, (label, erf) in zip(axes[0], maps.items()):
        image = ax.imshow(erf.cpu().numpy(), cmap="magma", vmin=0, vmax=1, extent=(0, 28, 28, 0))
        halves[label] = side = half_mass_side(erf.cpu())
        for size, style in ((rf, "--"), (side, "-")):
            ax.add_patch(Rectangle((14 - size / 2,) * 2, size, size, fill=False, color="cyan", lw=1.5, ls=style))
        ax.set_xlim(-1, 29)
        ax.set_ylim(29, -1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{label}\nhalf of it in the central {side}x{side} px", fontsize=SMALL + 1)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="|gradient|, scaled to peak 1")
    fig.suptitle(f"{title}\n(dashed: the theoretical {rf}x{rf} field)", fontsize=TITLE)
    fig.not_saved = None
    fig.alt_text = (f"effective receptive field against the theoretical {rf} px square: half of the gradient lies in "
                    "the central " + "; ".join(f"{s}x{s} px ({label})" for label, s in halves.items()))
    return fig
