"""The figures drawn from run records: each seed of an iteration, all the iterations side by side, a
variant beside its recipe. Each returns its Figure with `fig.alt_text`, as the lesson's (plots.py) do."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..plots import SMALL, TITLE, _finish
from ..recipes import RECIPES
from ..paths import RUNS_DIR
from .records import format_seeds, read_records, validation_dir, why_not_a_result
from .tables import seed_stats, signed, split_held_out


def plot_seeds(records: list[dict]):
    """Each seed's test-accuracy curve over all epochs, the last five enlarged, and each seed's
    final-epoch value against the mean over the tuning seeds (0-9); held-out seeds (10 and up)
    are drawn as hollow markers and kept out of that mean."""
    tuning, held_out = split_held_out(records)
    held = {r["seed"] for r in held_out}
    s = seed_stats(tuning or records)
    fig, (curves, late, finals) = plt.subplots(1, 3, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1.3, 1.3, 1]})
    last = max(len(r["history"]) for r in records)
    for r in records:
        epochs, accs = [h["epoch"] for h in r["history"]], [h["eval_acc"] for h in r["history"]]
        style = "--" if r["seed"] in held else "-"
        curves.plot(epochs, accs, style, lw=1.2,
                    label=f"seed {r['seed']}" + (" (held out)" if r["seed"] in held else ""))
        late.plot(epochs[-5:], accs[-5:], "o" + style, ms=3, lw=1.2)
    late.set_ylim(min(h["eval_acc"] for r in records for h in r["history"][-5:]) - 0.05, None)
    curves.legend(fontsize=7, ncol=2)
    seeds = [r["seed"] for r in records]
    for group, label, face in ((tuning, "final epoch", None), (held_out, "final epoch, held-out seed", "none")):
        if group:
            finals.plot([seeds.index(r["seed"]) for r in group], [r["final_acc"] for r in group], "o",
                        color="C0", mfc=face, label=label)
    finals.plot(range(len(seeds)), [r["best_acc"] for r in records], "x", color="grey",
                label="best epoch (test-selected)")
    finals.axhline(s["final_mean"], lw=1, label=f"mean final, seeds {format_seeds(s['seeds'])}: "
                                                f"{s['final_mean']:.2f} ± {s['final_std']:.2f}")
    finals.set_xticks(range(len(seeds)), [str(v) for v in seeds])
    finals.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2)  # below: clear of the points
    titles = {curves: f"all {last} epochs", late: f"epochs {last - 4}-{last}, enlarged", finals: "per seed"}
    for ax, what in titles.items():
        ax.axhline(99.4, color="grey", lw=0.8, ls=":")
        ax.set(xlabel="seed" if ax is finals else "epoch", ylabel="test accuracy (%)")
        ax.set_title(what, fontsize=TITLE)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs and seeds, even for one
    alt = (f"test accuracy per epoch for seeds {', '.join(map(str, seeds))}; final epoch over seeds "
           f"{format_seeds(s['seeds'])}: {s['final_mean']:.2f} ± {s['final_std']:.2f} (min {s['final_min']:.2f}, "
           f"max {s['final_max']:.2f})")
    if tuning and held_out:
        h = seed_stats(held_out)
        alt += f"; held-out seeds {format_seeds(h['seeds'])}: {h['final_mean']:.2f} ± {h['final_std']:.2f}"
    count = f"{len(tuning)} seeds" + (f" + {len(held_out)} held out" if tuning and held_out else "")
    return _finish(fig, f"{s['iteration']} ({s['params']:,} params), {count}", alt)


def _label_points(ax, points: list[tuple[float, float, str, str]], bars, rules, avoid) -> None:
    """Label each (x, y, text, colour) point beside it: of a dozen places around it, the first whose
    box stays inside the axes and clear of every point, label placed before, error bar (x, low, high)
    in `bars`, horizontal line at a y in `rules` and artist in `avoid` (a legend); failing that, the
    place inside that overlaps least."""
    fig = ax.figure
    fig.canvas.draw()  # the data-to-pixel transform, with the axes' final limits
    renderer, to_px, cap = fig.canvas.get_renderer(), ax.transData.transform, 4 * fig.dpi / 72 + 2
    frame = ax.get_window_extent(renderer)
    inner = frame.padded(-2)
    dots = to_px([(x, y) for x, y, _, _ in points])
    taken = [(px - 4, py - 4, px + 4, py + 4) for px, py in dots]
    for x, low, high in bars:  # with its caps
        (bx, by0), (_, by1) = to_px([(x, low), (x, high)])
        taken.append((bx - cap, by0 - 1, bx + cap, by1 + 1))
    taken += [(frame.x0, to_px((0, y))[1] - 1, frame.x1, to_px((0, y))[1] + 1) for y in rules]
    taken += [tuple(artist.get_window_extent(renderer).extents) for artist in avoid]

    def overlap(a, b):
        return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))

    for (x, y, text, colour), (px, py) in zip(points, dots):
        label = ax.annotate(text, (x, y), xytext=(0, 0), textcoords="offset points", fontsize=8, color=colour,
                            ha="left", va="bottom")
        w, h = label.get_window_extent(renderer).size
        places = [(7, -h / 2), (7, 4), (7, -h - 4), (-w - 7, -h / 2), (-w - 7, 4), (-w - 7, -h - 4), (-w / 2, 7),
                  (-w / 2, -h - 7), (7, h + 6), (7, -2 * h - 6), (-w - 7, h + 6), (-w - 7, -2 * h - 6)]
        boxes = [(px + dx, py + dy, px + dx + w, py + dy + h) for dx, dy in places]
        inside = [inner.contains(b[0], b[1]) and inner.contains(b[2], b[3]) for b in boxes]
        best = min(range(len(places)), key=lambda i: (not inside[i], sum(overlap(boxes[i], t) for t in taken)))
        taken.append(boxes[best])
        label.set_position((places[best][0] * 72 / fig.dpi, places[best][1] * 72 / fig.dpi))


def plot_comparison(records_by_name: dict[str, list[dict]]):
    """All iterations: the mean test curve over seeds (the late epochs enlarged in an inset), and params
    against final-epoch accuracy (± std) beside the write-up's best-epoch claims (hollow grey). Tuning
    seeds only: held-out seeds are reported beside them, not mixed in."""
    fig, (curves, scatter) = plt.subplots(1, 2, figsize=(12, 4.8))
    late = curves.inset_axes([0.4, 0.1, 0.57, 0.5])
    labels, lows, bars = [], [], []
    for name, records in records_by_name.items():
        records = split_held_out(records)[0]
        if not records:
            continue
        epochs = [h["epoch"] for h in records[0]["history"]]
        mean = [sum(r["history"][e]["eval_acc"] for r in records) / len(records) for e in range(len(epochs))]
        line, = curves.plot(epochs, mean, "o-", ms=3, label=name)
        late.plot(epochs[7:], mean[7:], "o-", ms=2, color=line.get_color())
        lows.append(min(mean))
        s = seed_stats(records)
        scatter.errorbar(s["params"], s["final_mean"], yerr=s["final_std"], fmt="o", capsize=4, color=line.get_color())
        labels.append((s["params"], s["final_mean"], name, line.get_color()))
        bars.append((s["params"], s["final_mean"] - s["final_std"], s["final_mean"] + s["final_std"]))
        claim = RECIPES[name].reported if name in RECIPES else {}
        if "best_test_acc" in claim:
            scatter.plot(claim["params"], claim["best_test_acc"], "o", mfc="none", color="grey")
            labels.append((claim["params"], claim["best_test_acc"], f"write-up's {name}", "grey"))
    curves.set(xlabel="epoch", ylabel="test accuracy (%), mean over seeds")
    curves.set_title("test accuracy, every epoch", fontsize=TITLE)
    curves.set_ylim(min(lows) - 0.5, 100)
    late.set_title("epochs 8-15", fontsize=8)
    late.tick_params(labelsize=7)
    scatter.set(xlabel="trainable parameters", ylabel="final-epoch test accuracy (%)")
    scatter.set_title("size vs accuracy (mean ± std over seeds)", fontsize=TITLE)
    xs = [x for x, _, _, _ in labels]
    spread = max(xs) - min(xs) or max(xs)  # one point: room around it all the same
    scatter.set_xlim(min(xs) - 0.25 * spread, max(xs) + 0.5 * spread)  # room for a label right of the last
    for ax in (curves, late, scatter):
        ax.axhline(99.4, color="grey", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    claims = [Line2D([], [], marker="o", mfc="none", color="grey", ls="none",
                     label="the write-up's claim: best epoch, one run"),
              Line2D([], [], color="grey", lw=0.8, ls=":", label="the 99.4% target")]
    key = scatter.legend(handles=claims if len(labels) > len(bars) else claims[1:], fontsize=SMALL - 1, loc="best")
    handles, names = curves.get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=SMALL, frameon=False)
    fig = _finish(fig, "", f"mean test accuracy per epoch, and parameters against final-epoch test accuracy, for "
                  f"{', '.join(names)}; grey circles: the write-up's best-epoch claims", legend_below=0.06)
    _label_points(scatter, labels, bars, [99.4], [key])  # after the layout, which would move the axes under the labels
    return fig


def plot_variant(runs, runs_dir=RUNS_DIR):
    """A variant's runs on a few seeds of the validation split (e.g. from mnistlib.fit_many), each seed a
    line from its registered recipe's validation record of that seed in runs_dir, and the project's
    verdict: a change counts when its mean gain is more than one seed standard deviation."""
    name, seeds = runs[0].recipe.name, sorted(r.seed for r in runs)
    folder = validation_dir(runs_dir)
    base = {r["seed"]: r for r in (read_records(folder) if folder.is_dir() else [])
            if r["iteration"] == name and r["seed"] in seeds and why_not_a_result(r, "validation") is None}
    variant = {r.seed: r.final_acc for r in runs}
    fig, ax = plt.subplots(figsize=(6, 4))
    for seed in seeds:
        if seed in base:
            ax.plot([0, 1], [base[seed]["final_acc"], variant[seed]], "o-", color="grey", lw=0.8)
        ax.plot([1], [variant[seed]], "o", color="C1")
        ax.annotate(f"seed {seed}", (1, variant[seed]), xytext=(6, 0), textcoords="offset points", fontsize=SMALL,
                    va="center")
    mean_v = sum(variant.values()) / len(variant)
    if base:
        b = seed_stats(sorted(base.values(), key=lambda r: r["seed"]))
        ax.errorbar([-0.15], [b["final_mean"]], [b["final_std"]], fmt="s", color="C0", capsize=4,
                    label="the recipe: mean ± std over these seeds")
        ax.legend(fontsize=SMALL, loc="lower left")
        gain = sum(variant[s] - base[s]["final_acc"] for s in base) / len(base)  # over the seeds both have
        verdict = (f"{signed(gain)} on seeds {format_seeds(sorted(base))}, "
                   + ("more than" if len(base) > 1 and gain > b["final_std"] else "not more than")
                   + f" the recipe's seed std {b['final_std']:.2f}")
    else:
        verdict = f"no validation records of {name} for seeds {format_seeds(seeds)} in {folder} to compare with"
    ax.set(xticks=[0, 1], xticklabels=[f"{name} (records)", "the variant"], xlim=(-0.5, 1.6),
           ylabel="final-epoch validation accuracy (%)")
    ax.grid(alpha=0.3, axis="y")
    warning = why_not_a_result(runs[0], "validation", registered=False)
    return _finish(fig, f"{name}'s variant on the validation split\n{verdict}",
                   f"variant {mean_v:.2f} (mean of seeds {format_seeds(seeds)}); {verdict}", warning)
