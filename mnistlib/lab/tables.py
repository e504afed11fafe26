"""The Markdown tables made from the records that are results: the final-epoch mean ± sample std
over seeds (`seed_stats`); the best epoch only beside it, labelled as selected on the split it reports."""
from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

from ..errors import Refusal
from ..paths import RUNS_DIR, TEACHER_RUNS
from ..recipes import DISTILLATION, RECIPES, changes, literal
from .records import format_seeds, load_records, read_records, split_dir, validation_dir, why_not_a_result

FROM_SCRATCH = [name for name, r in RECIPES.items() if not r.teacher]  # the main table and figure
TAUGHT = [name for name, r in RECIPES.items() if r.teacher]            # learn from a teacher: shown apart
TUNING_SEEDS = range(10)  # results are reported over seeds 0-9 (older recipes: 0-4); from 10 on: held out


def results_table(names=None, runs_dir: Path = RUNS_DIR) -> str:
    """The README's table, made only from the records on disk: `names`, default those trained from scratch."""
    rows = []
    for name, label, records in _groups(names or FROM_SCRATCH, runs_dir):
        s, said = seed_stats(records), RECIPES[name].reported  # a result's recipe is registered
        claim = f"{said['best_test_acc']:.2f} (best epoch, {said['best_epoch']}), one run" if said else "–"
        rows.append([label, f"{s['params']:,}", format_seeds(s["seeds"]), *_final(s), f"{s['best_mean']:.2f}",
                     f"{s['train_mean']:.2f}", claim if label == name else "–"])
    if not rows:
        raise Refusal(f"no results in {runs_dir} ({no_results_reason(runs_dir, names=names or FROM_SCRATCH)}): "
                      "make them with `python -m mnistlib study NAME`")
    return _markdown(["iteration", ">params", "seeds", ">**final-epoch test acc** (mean ± std)", ">min – max",
                      ">best epoch (mean; test-selected, for reference)", ">train acc (final)",
                      "write-up's claim"], rows)


def taught_table(runs_dir: Path = RUNS_DIR) -> str:
    """The iterations that learn from a teacher, kept apart: each beside its net trained alone on the
    same seeds, and the minutes per seed, the teacher's included, as the records measured them."""
    rows = []
    for name, label, records in _groups(TAUGHT, runs_dir):
        alone_name = alone_twin(name)
        alone = {r["seed"]: r for r in load_records(alone_name, runs_dir)}
        s, seeds = seed_stats(records), [r["seed"] for r in records]
        own = statistics.fmean(m["final_acc"] for r in records for m in r["teacher"])
        student, teacher = (statistics.fmean(sum(x["seconds"] for x in r[part]) / 60 for r in records)
                            for part in ("history", "teacher"))
        beside, gain = f"{alone_name}: not all these seeds", "–"
        if all(seed in alone for seed in seeds):
            twins = [alone[seed] for seed in seeds]
            a = seed_stats(twins)
            beside = f"{alone_name} {a['final_mean']:.2f} ± {a['final_std']:.2f} ({_machines(twins)})"
            gain = signed(s["final_mean"] - a["final_mean"]) + (  # across machines: two samples, not pairs
                ", across machines" if _machines(twins) != _machines(records) else "")
        rows.append([f"{label} ({s['params']:,})", f"{_members(RECIPES[name].teacher)} ({own:.2f})",
                     format_seeds(seeds), *_final(s), f"{student:.1f} + {teacher:.1f} ({_machines(records)})",
                     beside, gain])
    if not rows:
        raise Refusal(f"no results of an iteration that learns from a teacher ({', '.join(TAUGHT)}) in {runs_dir} "
                      f"({no_results_reason(runs_dir, names=TAUGHT)}): make them with "
                      f"`python -m mnistlib study {TAUGHT[0] if TAUGHT else 'NAME'}`")
    return _markdown(["iteration", "teacher (its members' own final test acc, mean)", "seeds",
                      ">**final-epoch test acc** (mean ± std)", ">min – max", "minutes per seed: student + teacher "
                      "(machine)", "the same net alone, same seeds (machine)", ">gain"], rows)


def validation_table(runs_dir: Path = RUNS_DIR) -> str:
    """One row per variant of the validation-split results: each iteration's registered recipe first,
    then its variants, best mean first."""
    folder, groups = validation_dir(runs_dir), {}
    for rec in validation_results(runs_dir) if folder.is_dir() else ():
        groups.setdefault(variant_label(rec), []).append(rec)
    if not groups:
        found = no_results_reason(runs_dir, "validation") if folder.is_dir() else "no such folder"
        raise Refusal(f"no complete validation-split records in {folder} ({found}): make them with "
                      "`python -m mnistlib train NAME --validation --set FIELD=VALUE`")
    stats = {label: seed_stats(sorted(recs, key=lambda r: r["seed"])) for label, recs in groups.items()}
    order = sorted(stats.items(), key=lambda item: (item[1]["iteration"], item[0] != item[1]["iteration"],
                                                    -item[1]["final_mean"], item[0]))
    rows = [[f"`{label}`", f"{s['params']:,}", format_seeds(s["seeds"]), f"**{s['final_mean']:.2f}**" +
             (f" ± {s['final_std']:.2f}" if len(s["seeds"]) > 1 else " (one seed)"), _final(s)[1],
             f"{s['train_mean']:.2f}"] for label, s in order]
    return _markdown(["variant (changes from the registered iteration)", ">params", "seeds",
                      ">**final-epoch validation acc** (mean ± std)", ">min – max", ">train acc (final)"], rows)


def teacher_table(runs_dir: Path = TEACHER_RUNS) -> str:
    """Each student (a registered recipe learning from a teacher, on the validation split) against
    the same recipe trained alone on the same seeds, seed by seed. Its last column applies the
    project's rule: adopt only a mean gain larger than the seed-to-seed std of the recipe alone."""
    registered = {_body(r.to_dict()): name for name, r in RECIPES.items() if not r.teacher}
    runs = {}  # (the registered recipe, its teacher's label or "" alone) -> {seed: record}
    for rec in validation_results(runs_dir):
        recipe = rec["recipe"]
        if (name := registered.get(_body(recipe))) is not None:
            label = f"{_members(recipe['teacher'])}, T={recipe['temperature']:g}, w={recipe['soft_weight']:g}" \
                if recipe.get("teacher") else ""
            runs.setdefault((name, label), {})[rec["seed"]] = rec
    rows = []
    for (name, label), by_seed in sorted(runs.items()):
        alone = runs.get((name, ""), {})
        if not label or not (seeds := sorted(set(by_seed) & set(alone))):
            continue
        before = [alone[s]["final_acc"] for s in seeds]
        after = [by_seed[s]["final_acc"] for s in seeds]
        (b_mean, b_std), (a_mean, a_std) = _mean_std(before), _mean_std(after)
        own = statistics.fmean(m["final_acc"] for s in seeds for m in by_seed[s]["teacher"])
        rows.append([f"{name} ({by_seed[seeds[0]]['params']:,})", f"{label} ({own:.2f})", format_seeds(seeds),
                     f"{b_mean:.2f} ± {b_std:.2f}", f"**{a_mean:.2f}** ± {a_std:.2f}",
                     ", ".join(signed(a - b) for a, b in zip(after, before)), signed(a_mean - b_mean),
                     f"{'yes' if len(seeds) > 1 and a_mean - b_mean > b_std else 'no'} (std {b_std:.2f})"])
    if not rows:
        raise Refusal(f"no student paired with its recipe trained alone in {validation_dir(runs_dir)}: make both "
                      f"with `python -m mnistlib study NAME --validation --runs-dir {runs_dir}`, once with "
                      "`--set teacher=iteration4` and once without")
    return _markdown(["student", "teacher (its own validation acc, mean)", "seeds", ">alone", ">**with the teacher**",
                      "gain, seed by seed", ">mean gain", "more than alone's std?"], rows)


def seed_stats(records: list[dict]) -> dict:
    """The final-epoch accuracy's mean, sample std, min and max over the records' seeds, the best
    epoch's mean and std, the final training accuracy's mean."""
    if not records:
        raise Refusal("no complete run records to summarise: make them with "
                      "`python -m mnistlib study NAME --seeds 0-4`")
    final, train = [r["final_acc"] for r in records], [r["history"][-1]["train_acc"] for r in records]
    (final_mean, final_std), (best_mean, best_std) = _mean_std(final), _mean_std([r["best_acc"] for r in records])
    return {"iteration": records[0]["iteration"], "params": records[0]["params"], "seeds": [r["seed"] for r in records],
            "final_mean": final_mean, "final_std": final_std, "final_min": min(final), "final_max": max(final),
            "best_mean": best_mean, "best_std": best_std, "train_mean": statistics.fmean(train)}


def format_seed_stats(s: dict, split: str = "test") -> str:
    """One line: the final-epoch mean ± std first, the best epoch labelled beside it."""
    return (f"{s['iteration']} ({s['params']:,} params), seeds {format_seeds(s['seeds'])}: "
            f"final-epoch {split} acc {s['final_mean']:.2f} ± {s['final_std']:.2f} "
            f"(min {s['final_min']:.2f}, max {s['final_max']:.2f}); "
            f"best-epoch {s['best_mean']:.2f} ± {s['best_std']:.2f} ({split}-selected, for reference)")


def split_held_out(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(records of the tuning seeds, records of the held-out seeds)."""
    return ([r for r in records if r["seed"] in TUNING_SEEDS],
            [r for r in records if r["seed"] not in TUNING_SEEDS])


def validation_results(runs_dir: Path) -> list[dict]:
    """The validation-split results in runs_dir/validation/, of any recipe (variants too)."""
    return [r for r in read_records(validation_dir(runs_dir))
            if why_not_a_result(r, "validation", registered=False) is None]


def no_results_reason(runs_dir: Path, split: str = "test", names=None) -> str:
    """Why runs_dir gives no table of `names` (default all): how many records, why none is a result."""
    records = [r for r in read_records(split_dir(runs_dir, split)) if names is None or r.get("iteration") in names]
    why = Counter(w.split(":")[0] for r in records if (w := why_not_a_result(r, split, registered=split == "test")))
    found = f"{sum(why.values())} record(s), none a result" + (
        f" ({', '.join(f'{n} {reason}' for reason, n in why.most_common())})" if why else "")
    hint = {"test": "; the validation-split runs: `table --validation`",
            "validation": "; the test-set runs: `table` without --validation"}[split]
    if split == "test" and names is not None and not set(names) & set(TAUGHT):
        hint += "; the iterations that learn from a teacher: `table --taught`"
    return f"{found}{hint}"


def variant_label(record: dict) -> str:
    """'iteration4' for today's registered recipe, else 'iteration4 + batch_size=64, scale=0.09':
    its changes, named against the registry as it is now, from the record's whole recipe."""
    diff = changes(record["recipe"])
    if diff is None:
        return f"{record['recipe']['name']} (unregistered)"
    if not diff:
        return record["iteration"]
    return record["iteration"] + " + " + ", ".join(f"{k}={literal(v)}" for k, v in sorted(diff.items()))


def alone_twin(name: str) -> str:
    """The from-scratch iteration whose network and training a taught iteration keeps."""
    twin = next((n for n in FROM_SCRATCH if _body(RECIPES[n].to_dict()) == _body(RECIPES[name].to_dict())), None)
    if twin is None:
        raise Refusal(f"{name} learns from a teacher, but no registered iteration trains its network alone")
    return twin


def _groups(names, runs_dir: Path):
    """(name, row label, records) of each iteration's tuning seeds, then of its held-out seeds, where it has any."""
    results = load_records(runs_dir=runs_dir)  # the folder read once, for every iteration
    for name in names:
        mine = [r for r in results if r["iteration"] == name]
        for records, label in zip(split_held_out(mine), (name, f"{name}, held-out seeds")):
            if records:
                yield name, label, records


def signed(gain: float) -> str:
    """A gain as shown: +0.11, -0.02, and 0.00 for what rounds to nothing (not -0.00)."""
    text = f"{gain:+.2f}"
    return "0.00" if float(text) == 0 else text


def _markdown(columns: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; a column whose title starts with ">" is right-aligned."""
    rule = "|" + "|".join("---:" if c.startswith(">") else "---" for c in columns) + "|"
    head, *body = ("| " + " | ".join(cells) + " |" for cells in [[c.removeprefix(">") for c in columns], *rows])
    return "\n".join([head, rule, *body])


def _final(s: dict) -> tuple[str, str]:
    """The final-epoch cells: '**mean ± std**' and 'min – max'."""
    return f"**{s['final_mean']:.2f} ± {s['final_std']:.2f}**", f"{s['final_min']:.2f} – {s['final_max']:.2f}"


def _members(names) -> str:
    """('iteration4', 'iteration4') -> 'iteration4 x2'."""
    return " + ".join(f"{n} x{k}" if k > 1 else n for n, k in Counter(names).items())


def _machines(records: list[dict]) -> str:
    names = {(r.get("environment") or {}).get("device_name") or "machine not recorded" for r in records}
    return ", ".join(sorted(names))


def _body(recipe: dict) -> str:
    """A recipe without its name, summary and distillation fields, as one comparable string."""
    return json.dumps({k: v for k, v in recipe.items() if k not in ("name", "summary", *DISTILLATION)}, sort_keys=True)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)
