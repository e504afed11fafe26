"""The tables made from run records (records.py), and the multi-seed summaries they are built of:

    results_table     the README's table: the iterations trained from scratch (test split)
    taught_table      the iterations that learn from a teacher, each beside its net trained alone
    validation_table  the validation-split variants, one row each
    teacher_table     the distillation search: each student against its recipe alone, seed by seed

Only results count (records.why_not_a_result). The headline of every summary is the final-epoch
accuracy, mean +- sample std over seeds. The best-epoch accuracy is summarised too, but only to
sit beside it, labelled: an epoch picked by its test accuracy is a test-set-selected number.
"""
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
PROTOCOL_SEEDS = range(10)  # results are reported over seeds 0-9 (older recipes: 0-4); others are held out


def results_table(names=None, runs_dir: Path = RUNS_DIR) -> str:
    """The README's results table (Markdown), made only from the records on disk: the iterations
    `names`, default those trained from scratch (the others: `taught_table`)."""
    rows = [
        "| iteration | params | seeds | **final-epoch test acc** (mean ± std) | min – max | "
        "best epoch (mean; test-selected, for reference) | train acc (final) | write-up's claim |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for name in names or FROM_SCRATCH:
        protocol, held_out = split_held_out(load_records(name, runs_dir))
        claim = RECIPES[name].reported if name in RECIPES else {}
        for records, label in ((protocol, name), (held_out, f"{name}, held-out seeds")):
            if not records:
                continue
            s = summarize(records)
            claim_text = (f"{claim['best_test_acc']:.2f} (best epoch, {claim['best_epoch']}), one run"
                          if claim and records is protocol else "–")
            rows.append(
                f"| {label} | {s['params']:,} | {format_seeds(s['seeds'])} | **{s['final_mean']:.2f} ± {s['final_std']:.2f}** | "
                f"{s['final_min']:.2f} – {s['final_max']:.2f} | {s['best_mean']:.2f} | {s['train_mean']:.2f} | {claim_text} |")
    if len(rows) == 2:
        raise Refusal(f"no results in {runs_dir} ({no_results_reason(runs_dir, names=names or FROM_SCRATCH)}): make them with "
                      "`python -m mnistlib study NAME`")
    return "\n".join(rows)


def taught_table(runs_dir: Path = RUNS_DIR) -> str:
    """The README's table of the iterations that learn from a teacher (Markdown, test split), kept
    apart from the from-scratch ones: each beside its recipe trained alone on the same seeds, and
    the training time per seed, the teacher's included, as the records measured it."""
    rows = ["| iteration | teacher (its members' own final test acc, mean) | seeds | **final-epoch test acc** "
            "(mean ± std) | min – max | minutes per seed: student + teacher (machine) | the same net alone, same "
            "seeds (machine) | gain |",
            "|---|---|---|---:|---:|---|---|---:|"]
    for name in TAUGHT:
        alone_name = alone_twin(name)
        alone = {r["seed"]: r for r in load_records(alone_name, runs_dir)}
        teacher = _members(RECIPES[name].teacher)
        for records, label in zip(split_held_out(load_records(name, runs_dir)), (name, f"{name}, held-out seeds")):
            if not records:
                continue
            s, seeds = summarize(records), [r["seed"] for r in records]
            own = statistics.fmean(m["final_test_acc"] for r in records for m in r["teacher"])
            student = statistics.fmean(_minutes(r) for r in records)
            taught = statistics.fmean(sum(m["seconds"] for m in r["teacher"]) / 60 for r in records)
            if set(seeds) <= set(alone):
                twins = [alone[seed] for seed in seeds]
                a_mean, a_std = _mean_std([r["final_test_acc"] for r in twins])
                beside, gain = f"{alone_name} {a_mean:.2f} ± {a_std:.2f} ({_machines(twins)})", f"{s['final_mean'] - a_mean:+.2f}"
                if _machines(twins) != _machines(records):  # then not paired seed by seed: two samples
                    gain += ", across machines"
            else:
                beside, gain = f"{alone_name}: not all these seeds", "–"
            rows.append(f"| {label} ({s['params']:,}) | {teacher} ({own:.2f}) | {format_seeds(seeds)} | "
                        f"**{s['final_mean']:.2f} ± {s['final_std']:.2f}** | {s['final_min']:.2f} – {s['final_max']:.2f} | "
                        f"{student:.1f} + {taught:.1f} ({_machines(records)}) | {beside} | {gain} |")
    if len(rows) == 2:
        raise Refusal(f"no results of an iteration that learns from a teacher ({', '.join(TAUGHT)}) in {runs_dir} "
                      f"({no_results_reason(runs_dir, names=TAUGHT)}): make them with "
                      f"`python -m mnistlib study {TAUGHT[0] if TAUGHT else 'NAME'}`")
    return "\n".join(rows)


def validation_table(runs_dir: Path = RUNS_DIR) -> str:
    """Markdown table of the complete validation-split runs in runs_dir/validation/, one row per
    variant: for each iteration its registered recipe first, then the variants, best mean first."""
    folder, groups = validation_dir(runs_dir), {}
    for rec in read_records(folder) if folder.is_dir() else ():
        if why_not_a_result(rec, "validation", registered=False) is None:
            groups.setdefault(variant_label(rec), []).append(rec)
    if not groups:
        found = no_results_reason(runs_dir, "validation") if folder.is_dir() else "no such folder"
        raise Refusal(f"no complete validation-split records in {folder} ({found}): make them with "
                      "`python -m mnistlib train NAME --validation --set FIELD=VALUE`")
    summaries = {label: summarize(sorted(recs, key=lambda r: r["seed"])) for label, recs in groups.items()}
    order = sorted(summaries, key=lambda label: (summaries[label]["iteration"], label != summaries[label]["iteration"],
                                                 -summaries[label]["final_mean"], label))
    rows = [
        "| variant (changes from the registered iteration) | params | seeds | **final-epoch validation acc** "
        "(mean ± std) | min – max | train acc (final) |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for label in order:
        s = summaries[label]
        spread = f" ± {s['final_std']:.2f}" if len(s["seeds"]) > 1 else " (one seed)"
        rows.append(f"| `{label}` | {s['params']:,} | {format_seeds(s['seeds'])} | **{s['final_mean']:.2f}**{spread} | "
                    f"{s['final_min']:.2f} – {s['final_max']:.2f} | {s['train_mean']:.2f} |")
    return "\n".join(rows)


def teacher_table(runs_dir: Path = TEACHER_RUNS) -> str:
    """Markdown: each student (a registered recipe learning from a teacher, on the validation split)
    against the same recipe trained alone on the same seeds, seed by seed. Its last column applies
    the project's rule: adopt only a mean gain larger than the seed-to-seed std of the recipe alone."""
    registered = {_body(r.to_dict()): name for name, r in RECIPES.items() if not r.teacher}
    alone, taught = {}, {}
    for rec in read_records(validation_dir(runs_dir)):
        name = registered.get(_body(rec["recipe"]))
        if name is None or why_not_a_result(rec, "validation", registered=False) is not None:
            continue
        recipe = rec["recipe"]
        if recipe.get("teacher"):
            label = f"{_members(recipe['teacher'])}, T={recipe['temperature']:g}, w={recipe['soft_weight']:g}"
            taught.setdefault((name, label), {})[rec["seed"]] = rec
        else:
            alone.setdefault(name, {})[rec["seed"]] = rec
    rows = ["| student | teacher (its own validation acc, mean) | seeds | alone | **with the teacher** | "
            "gain, seed by seed | mean gain | more than alone's std? |",
            "|---|---|---|---:|---:|---|---:|---|"]
    for (name, label), by_seed in sorted(taught.items()):
        seeds = sorted(set(by_seed) & set(alone.get(name, {})))
        if not seeds:
            continue
        before = [alone[name][s]["final_test_acc"] for s in seeds]
        after = [by_seed[s]["final_test_acc"] for s in seeds]
        (b_mean, b_std), (a_mean, a_std) = _mean_std(before), _mean_std(after)
        own = statistics.fmean(m["final_test_acc"] for s in seeds for m in by_seed[s]["teacher"])
        gains = ", ".join(f"{a - b:+.2f}" for a, b in zip(after, before))
        rows.append(f"| {name} ({by_seed[seeds[0]]['params']:,}) | {label} ({own:.2f}) | {format_seeds(seeds)} | "
                    f"{b_mean:.2f} ± {b_std:.2f} | **{a_mean:.2f}** ± {a_std:.2f} | {gains} | {a_mean - b_mean:+.2f} | "
                    f"{'yes' if len(seeds) > 1 and a_mean - b_mean > b_std else 'no'} (std {b_std:.2f}) |")
    if len(rows) == 2:
        raise Refusal(f"no student paired with its recipe trained alone in {validation_dir(runs_dir)}: make both "
                      f"with `python -m mnistlib study NAME --validation --runs-dir {runs_dir}`, once with "
                      "`--set teacher=iteration4` and once without")
    return "\n".join(rows)


def summarize(records: list[dict]) -> dict:
    """Mean and sample std over the records' seeds."""
    if not records:
        raise Refusal("no complete run records to summarise: make them with "
                      "`python -m mnistlib study NAME --seeds 0-4`")
    final = [r["final_test_acc"] for r in records]
    (final_mean, final_std), (best_mean, best_std) = _mean_std(final), _mean_std([r["best_test_acc"] for r in records])
    return {
        "iteration": records[0]["iteration"],
        "params": records[0]["params"],
        "seeds": [r["seed"] for r in records],
        "final_mean": final_mean, "final_std": final_std,
        "final_min": min(final), "final_max": max(final),
        "best_mean": best_mean, "best_std": best_std,
        "train_mean": statistics.fmean(r["history"][-1]["train_acc"] for r in records),
    }


def format_summary(s: dict, split: str = "test") -> str:
    """One line: a summary's final-epoch mean ± std first, the best epoch labelled beside it."""
    return (f"{s['iteration']} ({s['params']:,} params), seeds {format_seeds(s['seeds'])}: "
            f"final-epoch {split} acc {s['final_mean']:.2f} ± {s['final_std']:.2f} "
            f"(min {s['final_min']:.2f}, max {s['final_max']:.2f}); "
            f"best-epoch {s['best_mean']:.2f} ± {s['best_std']:.2f} ({split}-selected, for reference)")


def split_held_out(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(records of the protocol seeds, records of held-out seeds)."""
    return ([r for r in records if r["seed"] in PROTOCOL_SEEDS],
            [r for r in records if r["seed"] not in PROTOCOL_SEEDS])


def no_results_reason(runs_dir: Path, split: str = "test", names=None) -> str:
    """Why a runs folder gives no table (of the iterations `names`, default all): how many of
    their records it holds, and why none is a result."""
    records = [r for r in read_records(split_dir(runs_dir, split))
               if names is None or r.get("iteration") in names]
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


def _members(names) -> str:
    """('iteration4', 'iteration4') -> 'iteration4 x2'."""
    return " + ".join(f"{n} x{k}" if k > 1 else n for n, k in Counter(names).items())


def _minutes(record: dict) -> float:
    return sum(h["seconds"] for h in record["history"]) / 60


def _machines(records: list[dict]) -> str:
    return ", ".join(sorted({(r.get("environment") or {}).get("device_name") or "machine not recorded" for r in records}))


def _body(recipe: dict) -> str:
    """A recipe without its name, summary and distillation fields, as one comparable string."""
    return json.dumps({k: v for k, v in recipe.items() if k not in ("name", "summary", *DISTILLATION)}, sort_keys=True)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)
