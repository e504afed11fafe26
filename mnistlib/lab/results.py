"""Run records on disk and the multi-seed summaries made from them.

Two folders hold records, each with the same layout (test-set runs at the top, validation-split
runs in `validation/`):

    figures/runs/   the committed evidence behind README and the notebooks; written only when
                    asked for by name (`--runs-dir figures/runs`)
    runs/           the default for `train` and `study`: your own runs (git ignores it)

A record is one JSON file (schema: mnistlib.train.Run.record). Whether a record or a run counts
as a result is decided in one place, `why_not_a_result`: a complete, full-mode run on the test
set of today's registered recipe; tables, figures, notebooks, the CLI and the tests all ask it.

The headline of every summary is the final-epoch accuracy, mean +- sample std over seeds. The
best-epoch accuracy is summarised too, but only to sit beside it, labelled: an epoch picked by
its test accuracy is a test-set-selected number.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import statistics
import tempfile
from collections import Counter
from pathlib import Path

try:
    import fcntl  # a lock on the record's folder while it is checked and written (POSIX)
except ImportError:  # Windows: the check still runs at write time, without the lock
    fcntl = None

from ..errors import Refusal
from ..paths import FIGURES, RUNS_DIR, TEACHER_RUNS, USER_RUNS_DIR
from ..recipes import DISTILLATION, RECIPES, changes, literal, slug
from ..train import SCHEMA

MAX_SEED = 2**32 - 1  # seeds are whole numbers 0..MAX_SEED
MAX_SEEDS = 100       # seeds in one study
FIELDS = {            # what every schema-2 record holds, and the type of each
    "schema": int, "iteration": str, "params": int, "seed": int, "evaluated_on": str, "epochs_asked": int,
    "epochs": int, "interrupted": bool, "fast_mode": bool, "recipe": dict, "history": list,
    "final_test_acc": (float, int, type(None)), "best_test_acc": (float, int, type(None)),
}
FROM_SCRATCH = [name for name, r in RECIPES.items() if not r.teacher]  # the main table and figure
TAUGHT = [name for name, r in RECIPES.items() if r.teacher]            # learn from a teacher: shown apart
PROTOCOL_SEEDS = range(10)  # results are reported over seeds 0-9 (older recipes: 0-4); others are held out


def validation_dir(runs_dir: Path) -> Path:
    return Path(runs_dir) / "validation"


def split_dir(runs_dir: Path, split: str) -> Path:
    """Where runs_dir keeps the records of `split`: the test set at the top, validation/ below."""
    return validation_dir(runs_dir) if split == "validation" else Path(runs_dir)


def partial_path(path: Path) -> Path:
    """<record>.partial: the epochs so far of a run that trains, was interrupted or diverged."""
    return path.with_name(path.name + ".partial")


def split_held_out(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(records of the protocol seeds, records of held-out seeds)."""
    return ([r for r in records if r["seed"] in PROTOCOL_SEEDS],
            [r for r in records if r["seed"] not in PROTOCOL_SEEDS])


def check_seed(seed) -> int:
    if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED):
        raise Refusal(f"a seed is a whole number from 0 to {MAX_SEED:,}, got {seed!r}")
    return seed


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0-4,10-12' and '3' work too; at most MAX_SEEDS seeds."""
    seeds: set[int] = set()
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d{1,20})\s*(?:-\s*(\d{1,20})\s*)?", part)
        if not m or (m[2] is not None and int(m[2]) < int(m[1])):
            raise Refusal(f"bad seed list {text!r}: use e.g. 0-4 or 0,2,5 or 0-4,10-12")
        lo, hi = check_seed(int(m[1])), check_seed(int(m[2] or m[1]))
        if hi - lo + 1 + len(seeds) > MAX_SEEDS:
            raise Refusal(f"seed list {text!r} has more than {MAX_SEEDS} seeds; study them in parts")
        seeds.update(range(lo, hi + 1))
    return sorted(seeds)


def figures_dir(runs_dir: Path = RUNS_DIR) -> Path:
    """Where figures made from runs_dir go: figures/ for the committed records, else runs_dir
    itself, so a study run elsewhere never overwrites the committed figures."""
    return FIGURES if Path(runs_dir).resolve() == RUNS_DIR.resolve() else Path(runs_dir)


def record_path(recipe, seed: int, runs_dir: Path = USER_RUNS_DIR, split: str = "test", epochs: int | None = None,
                fast: bool = False) -> Path:
    """runs_dir/[validation/]<slug>[-fast | -<E>of<N>epochs]-seed<S>.json: the slug names a
    variant's changes, and a fast-mode run or one of another length than its recipe's is named
    apart, so it never meets the full run's record."""
    folder = split_dir(runs_dir, split)
    epochs = epochs or recipe.epochs
    kind = "-fast" if fast else f"-{epochs}of{recipe.epochs}epochs" if epochs != recipe.epochs else ""
    return folder / f"{slug(recipe.to_dict())}{kind}-seed{seed}.json"


def check_writable(path: Path) -> None:
    """Fail now, in one line, if a record could not be written to `path` at the end of a run."""
    path = Path(path)
    if path.is_dir():
        raise Refusal(f"--out {path} is a folder; give a file name such as {path / 'run.json'}")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise Refusal(f"cannot write a record to {path}: {blocking} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent):
            pass
    except OSError as e:
        raise Refusal(f"cannot write a record to {path}: {e.strerror or e}") from None


def check_replaceable(path: Path, record: dict) -> None:
    """A record may only be replaced by a re-make: the same recipe, epochs asked and fast mode.
    Anything else is refused, in one line naming the file and the flag that overrides."""
    path = Path(path)
    if not path.is_file():
        return
    try:
        old = read_record(path)
    except Refusal as e:
        raise Refusal(f"{e}; not replacing it (choose another --runs-dir or --out, or pass --overwrite)") from None
    differs = [key for key in ("recipe", "seed", "epochs_asked", "fast_mode", "evaluated_on") if old.get(key) != record[key]]
    if old.get("schema") == SCHEMA and not old["interrupted"] and record.get("interrupted"):
        differs.append("completeness (it is complete)")
    if differs:
        raise Refusal(f"{path} holds a run with a different {', '.join(differs)}; not replacing it "
                      f"(choose another --runs-dir or --out, or pass --overwrite)")


@contextlib.contextmanager
def _folder_locked(folder: Path):
    """Other processes that save into `folder` wait while this one checks and writes."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def save_record(record: dict, path: str | Path, overwrite: bool = True) -> None:
    """Write strict JSON atomically: into a temporary file beside it, then renamed, so an
    interrupted or failing write (a full disk) leaves the old file byte for byte and no
    temporary file. Readable like any other file the user writes (0666 less the umask, applied
    by the OS as it creates the file). overwrite=False: the no-replace rule (check_replaceable)
    is checked as the file is written, under a lock on its folder, so two processes never
    replace each other's records; a refusal raises Refusal and writes nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "w") as f:
            json.dump(record, f, indent=1, allow_nan=False)
            f.write("\n")
        with _folder_locked(path.parent):
            if not overwrite:
                check_replaceable(path, record)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_run(run, runs_dir: Path = USER_RUNS_DIR, overwrite: bool = False) -> Path | None:
    """Keep a run (mnistlib.train.Run) from a notebook as a record in runs_dir, named like the
    CLI's (runs/[validation/]NAME[+CHANGES][-EofNepochs]-seedS.json; an interrupted or diverged
    run: that + .partial). A fast-mode run is not kept (None)."""
    if run.fast:
        return None
    record = run.record()
    path = record_path(run.recipe, run.seed, runs_dir, run.split, run.epochs_asked)
    if run.interrupted or run.diverged:  # like the CLI: the finished epochs, beside any complete record
        path = partial_path(path)
    save_record(record, path, overwrite)
    return path


def why_not_a_result(record, split: str = "test", registered: bool = True) -> str | None:
    """The one rule for what counts as a result, for a record (dict) or a Run: None for a
    complete, full-mode run measured on `split` of today's registered recipe (registered=False:
    of any recipe, e.g. a variant on the validation split); else why not, in one line."""
    if not isinstance(record, dict):
        record = record.record()
    if record.get("schema") != SCHEMA:
        return f"SCHEMA {record.get('schema')}: not a schema-{SCHEMA} run record"
    epochs, asked, planned = record["epochs"], record["epochs_asked"], record["recipe"]["epochs"]
    if record.get("diverged"):
        return f"DIVERGED: the loss was no longer finite at epoch {epochs}, not a result"
    if record["fast_mode"]:
        return "FAST MODE: a few thousand images, a smoke test, not a result"
    if record["interrupted"] or epochs != asked:
        return f"INTERRUPTED: {epochs} of {asked} epochs asked, not a result"
    if asked < planned:
        return f"SHORT RUN: {epochs} of {planned} epochs, not the recipe's result"
    if asked > planned:
        return f"LONG RUN: {epochs} epochs, more than the recipe's {planned}, not its result"
    if record["evaluated_on"] != split:
        return (f"{record['evaluated_on'].upper()} SPLIT: for choosing between recipes, not a test result"
                if split == "test" else f"{record['evaluated_on'].upper()} SPLIT, not a {split}-split run")
    why = _why_not_its_teacher(record, registered)
    if why:
        return why
    diff = changes(record["recipe"])
    if registered and diff is None:
        return f"NOT REGISTERED: {record['recipe']['name']} is no iteration of today's registry"
    if registered and diff:
        return f"A VARIANT of {record['recipe']['name']}: not its registered recipe"
    return None


def _why_not_its_teacher(record: dict, registered: bool) -> str | None:
    """For a student: why the teacher its record names is not the one its recipe asks for (its
    members and their seeds), or was not trained whole, on the same split (a teacher trained on the
    held-out images would leak them) or, if `registered`, from today's registered recipes."""
    names, members = list(record["recipe"].get("teacher", ())), record.get("teacher", [])
    if not names and not members:
        return None
    if [m["iteration"] for m in members] != names or \
            [m["seed"] for m in members] != [record["seed"] + i for i in range(len(members))]:
        return (f"NOT ITS TEACHER: learnt from {[(m['iteration'], m['seed']) for m in members]}, its recipe asks for "
                f"{names} with seeds from {record['seed']}, not a result")
    for m in members:
        if m["evaluated_on"] != record["evaluated_on"]:
            return (f"TEACHER ON ANOTHER SPLIT: {m['iteration']} seed {m['seed']} was trained for the {m['evaluated_on']} "
                    f"split, the student for the {record['evaluated_on']} split (a teacher that saw the student's "
                    "held-out images would leak them), not a result")
        if m["epochs"] != m["recipe"]["epochs"]:
            return (f"TEACHER NOT WHOLE: {m['iteration']} seed {m['seed']} trained {m['epochs']} epochs, its recipe "
                    f"{m['recipe']['epochs']}, not a result")
        if registered and changes(m["recipe"]) != {}:
            return f"A VARIANT TEACHER: {m['iteration']} seed {m['seed']} is not today's registered recipe, not a result"
    return None


def read_record(path: Path) -> dict:
    """One record file; anything that is not a run record is refused in one line naming it."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise Refusal(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    except json.JSONDecodeError as e:
        raise Refusal(f"{path} is not valid JSON ({e}): move it away, or re-make it") from None
    if not isinstance(record, dict) or "schema" not in record:
        raise Refusal(f"{path} is not a run record (no schema): move it away, or re-make it")
    if record["schema"] == SCHEMA:
        wrong = [k for k, kind in FIELDS.items() if not isinstance(record.get(k), kind)]
        recipe, history = record.get("recipe"), record.get("history")
        if isinstance(recipe, dict) and not (isinstance(recipe.get("name"), str) and isinstance(recipe.get("epochs"), int)):
            wrong.append("recipe name or epochs")
        if isinstance(history, list) and not all(isinstance(h, dict) and "test_acc" in h for h in history):
            wrong.append("history entries")
        member = {"iteration", "seed", "evaluated_on", "epochs", "final_test_acc", "seconds", "recipe"}
        if not (isinstance(record.get("teacher", []), list) and
                all(isinstance(m, dict) and member <= set(m) and isinstance(m["recipe"], dict) and
                    isinstance(m["recipe"].get("epochs"), int) for m in record.get("teacher", []))):
            wrong.append("teacher members")
        if wrong:
            raise Refusal(f"{path} is not a whole schema-{SCHEMA} record ({', '.join(wrong)} missing or of the "
                          "wrong type): move it away, or re-make it")
    return record


def read_records(runs_dir: Path):
    """Every record in runs_dir (not its subfolders), in file-name order; the first file that is
    no run record stops the reading, in one line naming it (no evidence is skipped quietly)."""
    if not Path(runs_dir).is_dir():
        raise Refusal(f"no runs folder {runs_dir}")
    for path in sorted(Path(runs_dir).glob("*.json")):
        yield read_record(path)


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


def load_records(name: str | None = None, runs_dir: Path = RUNS_DIR) -> list[dict]:
    """The results (`why_not_a_result` is None) in runs_dir, of one iteration if `name`, sorted by seed."""
    out = [r for r in read_records(runs_dir) if why_not_a_result(r) is None and (name is None or r["iteration"] == name)]
    return sorted(out, key=lambda r: (r["iteration"], r["seed"]))


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


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


def _members(names) -> str:
    """('iteration4', 'iteration4') -> 'iteration4 x2'."""
    return " + ".join(f"{n} x{k}" if k > 1 else n for n, k in Counter(names).items())


def _minutes(record: dict) -> float:
    return sum(h["seconds"] for h in record["history"]) / 60


def _machines(records: list[dict]) -> str:
    return ", ".join(sorted({(r.get("environment") or {}).get("device_name") or "machine not recorded" for r in records}))


def alone_twin(name: str) -> str:
    """The from-scratch iteration whose network and training a taught iteration keeps."""
    twin = next((n for n in FROM_SCRATCH if _body(RECIPES[n].to_dict()) == _body(RECIPES[name].to_dict())), None)
    if twin is None:
        raise Refusal(f"{name} learns from a teacher, but no registered iteration trains its network alone")
    return twin


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


def variant_label(record: dict) -> str:
    """'iteration4' for today's registered recipe, else 'iteration4 + batch_size=64, scale=0.09':
    its changes, named against the registry as it is now, from the record's whole recipe."""
    diff = changes(record["recipe"])
    if diff is None:
        return f"{record['recipe']['name']} (unregistered)"
    if not diff:
        return record["iteration"]
    return record["iteration"] + " + " + ", ".join(f"{k}={literal(v)}" for k, v in sorted(diff.items()))


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


def _body(recipe: dict) -> str:
    """A recipe without its name, summary and distillation fields, as one comparable string."""
    return json.dumps({k: v for k, v in recipe.items() if k not in ("name", "summary", *DISTILLATION)}, sort_keys=True)


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
