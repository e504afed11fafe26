"""What each change bought. A step of the series changes several fields at once; grouped into the
ideas they carry (body, dropout, augmentation, learning rate, batch size), each idea is applied alone
to the parent recipe, trained on the validation split on the parent's seeds, and judged by the
project's rule: is its gain beyond the parent's seed-to-seed spread? The sum of the single gains
beside the whole step's gain shows what the changes do together (`table --ablations`, `figures`).
"""
from __future__ import annotations

import statistics
from dataclasses import replace

import matplotlib.pyplot as plt

from ..errors import Refusal
from ..paths import RUNS_DIR
from ..plots import SMALL, _finish
from ..recipes import BUILDS_ON, RECIPES, literal
from .records import format_seeds, validation_dir
from .tables import _body, _markdown, _mean_std, signed, validation_results

IDEAS = {"cfg": "body", "head": "body", "rotate": "augmentation", "translate": "augmentation",
         "scale": "augmentation", "lr": "learning rate", "schedule": "learning rate", "milestones": "learning rate",
         "gamma": "learning rate", "batch_size": "batch size"}  # any other field is an idea of its own
ABLATED = ("iteration2", "iteration3", "iteration4", "iteration5")  # those that change more than one idea


def ideas(name: str) -> dict[str, dict]:
    """The ideas `name` changes from its parent, each as the fields it sets: {'dropout': {'dropout': 0.1}, ...}."""
    child, parent = RECIPES[name], RECIPES[BUILDS_ON[name]]
    ideas = {}
    for field in child.to_dict():
        if field not in ("name", "summary") and getattr(child, field) != getattr(parent, field):
            idea = "head" if field == "head" and child.cfg == parent.cfg else IDEAS.get(field, field.replace("_", " "))
            ideas.setdefault(idea, {})[field] = getattr(child, field)
    return ideas


def ablation(name: str, runs_dir=RUNS_DIR) -> dict:
    """Final-epoch validation accuracy by seed of the parent, each change alone and the child."""
    if name not in ABLATED:
        raise Refusal(f"ablations are measured for {', '.join(ABLATED)}, not {name!r}")
    parent, changes = RECIPES[BUILDS_ON[name]], ideas(name)
    arms = {"parent": parent, **{idea: replace(parent, **fields) for idea, fields in changes.items()},
            "whole step": RECIPES[name]}
    wanted = {_body(recipe.to_dict()): arm for arm, recipe in arms.items()}
    found = {arm: {} for arm in arms}
    for rec in validation_results(runs_dir):
        if arm := wanted.get(_body(rec["recipe"])):
            found[arm][rec["seed"]] = rec["final_acc"]
    return {"name": name, "parent": parent.name, "changes": changes, "accs": found}


def _gains(accs: dict[int, float], base: dict[int, float]) -> list[float]:
    """The gain over `base` of each seed both have (seed by seed: the pairing removes what the seed does)."""
    return [accs[s] - base[s] for s in sorted(set(accs) & set(base))]


def ablation_table(name: str, runs_dir=RUNS_DIR) -> str:
    """Markdown: the parent, each change alone, their sum and the whole step, on the validation split."""
    a = ablation(name, runs_dir)
    base = a["accs"]["parent"]
    if len(base) < 2:
        raise Refusal(f"no validation records of {a['parent']} (at least 2 seeds) in {validation_dir(runs_dir)}")
    spread = statistics.stdev(base.values())
    rows, gains, labels = [], [], {"parent": f"{a['parent']} (the parent)", "whole step": f"{name} (all at once)"}
    for arm, accs in a["accs"].items():
        label = labels.get(arm) or f"{arm}: " + ", ".join(f"{k}={literal(v)}" for k, v in a["changes"][arm].items())
        seeds = sorted(set(accs) & set(base))  # on the seeds both have, at least two
        if len(seeds) < 2:
            rows.append([label, "–", "not measured", "", ""])
            continue
        (mean, std), gain = _mean_std([accs[s] for s in seeds]), statistics.fmean(_gains(accs, base))
        if arm not in ("parent", "whole step"):
            gains.append(round(gain, 2))  # the sum of the gains as shown
        if arm == "whole step" and len(gains) == len(a["changes"]):
            rows.append(["sum of the single gains", "", "", signed(sum(gains)), ""])
        verdict = ["", ""] if arm == "parent" else [signed(gain), "yes" if abs(gain) > spread else "no"]
        rows.append([label, format_seeds(sorted(accs)), f"**{mean:.2f}** ± {std:.2f}", *verdict])
    return _markdown([f"{name}: each change alone on {a['parent']}", "seeds", ">**validation acc** (final epoch)",
                      ">gain", f"beyond the seed spread (±{spread:.2f})?"], rows)


def plot_ablation(names=ABLATED, runs_dir=RUNS_DIR):
    """Each change's gain over the parent, seed by seed (dots) and on average (bar), with the parent's
    seed spread shaded: a bar inside the band is within what re-running gives."""
    names = [names] if isinstance(names, str) else list(names)
    results = [ablation(n, runs_dir) for n in names]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 0.45 * sum(len(a["accs"]) for a in results) + 1.2 * len(names)),
                             squeeze=False)
    alt = {}  # iteration -> "change gain" of each change measured
    for ax, a in zip(axes[:, 0], results):
        base = a["accs"]["parent"]
        arms = [arm for arm in a["accs"] if arm != "parent"]
        band = ""
        if len(base) >= 2:
            spread = statistics.stdev(base.values())
            ax.axvspan(-spread, spread, color="0.88")
            band = f"; band: its seed spread, ±{spread:.2f}"
        for y, arm in enumerate(arms):
            diffs = _gains(a["accs"][arm], base)
            if diffs:
                gain = statistics.fmean(diffs)
                alt.setdefault(a["name"], []).append(f"{arm} {signed(gain)}")
                ax.barh(y, gain, color="tab:orange" if arm == "whole step" else "tab:blue", alpha=0.6)
                ax.plot(diffs, [y] * len(diffs), "k.", ms=5)
            else:
                ax.text(0, y, "  not measured", va="center", fontsize=SMALL, color="0.4")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(range(len(arms)), [f"{a['name']} (all at once)" if arm == "whole step" else arm for arm in arms],
                      fontsize=SMALL + 1)
        ax.invert_yaxis()
        ax.set_xlabel(f"validation accuracy gain over {a['parent']} (points; dots: seeds{band})", fontsize=SMALL + 1)
    return _finish(fig, "What each change bought, alone (validation split, final epoch)",
                   "gain of each change: " + "; ".join(f"{n}: {', '.join(g)}" for n, g in alt.items()))
