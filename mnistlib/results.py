"""Run records on disk (figures/runs/*.json) and the multi-seed summaries made from them.

The headline of every summary is the final-epoch test accuracy, mean +- sample std over
seeds. The best-epoch accuracy is summarised too, but only to sit beside it, labelled: an
epoch picked by its test accuracy is a test-set-selected number.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import tempfile
from pathlib import Path

from .recipes import RECIPES, differing_fields

ROOT = Path(__file__).resolve().parent.parent
RUNS_DIR = ROOT / "figures" / "runs"
VALIDATION_DIR = RUNS_DIR / "validation"  # validation-split runs of recipe variants (train --validation)
PROTOCOL_SEEDS = range(5)  # results are reported over seeds 0-4; any other seeds are held out


def split_held_out(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(records of seeds 0-4, records of held-out seeds)."""
    return ([r for r in records if r["seed"] in PROTOCOL_SEEDS],
            [r for r in records if r["seed"] not in PROTOCOL_SEEDS])


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0-4,10-12' and '3' work too."""
    seeds: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m[2] is not None and int(m[2]) < int(m[1])):
            raise ValueError(f"bad seed list {text!r}: use e.g. 0-4 or 0,2,5 or 0-4,10-12")
        seeds += range(int(m[1]), int(m[2] or m[1]) + 1)
    return sorted(set(seeds))


def figures_dir(runs_dir: Path = RUNS_DIR) -> Path:
    """Where figures made from runs_dir go: figures/ for the committed records, else runs_dir
    itself, so a study run elsewhere never overwrites the committed figures."""
    return ROOT / "figures" if Path(runs_dir).resolve() == RUNS_DIR.resolve() else Path(runs_dir)


def record_path(name: str, seed: int, runs_dir: Path = RUNS_DIR) -> Path:
    return Path(runs_dir) / f"{name}-seed{seed}.json"


def save_record(record: dict, path: str | Path) -> None:
    """Write atomically, so an interrupt never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    os.replace(f.name, path)


def is_complete(record: dict) -> bool:
    """Not interrupted, not fast mode, all planned epochs: the only runs a summary may use."""
    return not (record.get("interrupted") or record.get("fast_mode")
                or record["epochs"] != record.get("planned_epochs", record["epochs"]))


def _read_records(runs_dir: Path):
    """Every record in runs_dir (not its subfolders), in file-name order."""
    for path in sorted(Path(runs_dir).glob("*.json")):
        yield json.loads(path.read_text())


def load_records(name: str | None = None, runs_dir: Path = RUNS_DIR, complete: bool = True) -> list[dict]:
    """Records in runs_dir (of one iteration if `name`), sorted by seed. With `complete`,
    interrupted, fast-mode and shortened runs are left out of summaries."""
    out = []
    for rec in _read_records(runs_dir):
        if name and rec["iteration"] != name:
            continue
        if rec.get("evaluated_on", "test") != "test" or rec.get("recipe_changes"):
            continue  # validation-split runs and recipe variants are not the iteration's results
        if complete and not is_complete(rec):
            continue
        out.append(rec)
    return sorted(out, key=lambda r: (r["iteration"], r["seed"]))


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarize(records: list[dict]) -> dict:
    """Mean and sample std over the records' seeds."""
    if not records:
        raise ValueError("no complete run records to summarise: make them with "
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
        "device": records[0].get("device_name", records[0]["device"]),
    }


def format_seeds(seeds: list[int]) -> str:
    """[0, 1, 2, 3, 4, 10] -> '0-4, 10'."""
    parts, i = [], 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(str(seeds[i]) if i == j else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    return ", ".join(parts)


def results_table(names=None, runs_dir: Path = RUNS_DIR) -> str:
    """The README's results table (Markdown), made only from the records on disk."""
    rows = [
        "| iteration | params | seeds | **final-epoch test acc** (mean ± std) | min – max | "
        "best-epoch test acc (mean; test-selected, for reference) | train acc (final) | write-up's claim |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for name in names or RECIPES:
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
    return "\n".join(rows)


def _literal(value) -> str:
    """A recipe value as it would be typed after --set: JSON lists back to tuples, no spaces."""
    def tup(v):
        return tuple(tup(x) for x in v) if isinstance(v, list) else v
    return repr(tup(value)).replace(" ", "")


def variant_label(record: dict) -> str:
    """'iteration4' for the registered recipe, else 'iteration4 + batch_size=64, scale=0.09'.
    Changes are named against the registry as it is now, from the record's whole recipe
    (older records without one: the recipe_changes stored when the run was made)."""
    changes = record.get("recipe_changes") or {}
    registered = RECIPES.get(record["iteration"])
    if "recipe" in record and registered:
        changes = differing_fields(record["recipe"], registered, ignore=("name", "summary"))
    if not changes:
        return record["iteration"]
    return record["iteration"] + " + " + ", ".join(f"{k}={_literal(v)}" for k, v in sorted(changes.items()))


def validation_table(runs_dir: Path = VALIDATION_DIR) -> str:
    """Markdown table of the validation-split runs in runs_dir, one row per variant: for each
    iteration its registered recipe first, then the variants from best to worst mean."""
    groups: dict[str, list[dict]] = {}
    for rec in _read_records(runs_dir):
        if rec.get("evaluated_on") == "validation" and is_complete(rec):
            groups.setdefault(variant_label(rec), []).append(rec)
    if not groups:
        raise ValueError(f"no complete validation-split records in {runs_dir}: make them with "
                         "`python -m mnistlib train NAME --validation --set FIELD=VALUE --out DIR/FILE.json`")
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
