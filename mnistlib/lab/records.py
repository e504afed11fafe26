"""Run records on disk: where each is kept and under what name, how it is written and read back,
and the one rule for what is a result.

Two folders hold records, each with the same layout (test-set runs at the top, validation-split
runs in `validation/`):

    figures/runs/   the committed evidence behind README and the notebooks; written only when
                    asked for by name (`--runs-dir figures/runs`)
    runs/           the default for `train` and `study`: your own runs (git ignores it)

A record is one JSON file (schema: mnistlib.train.Run.record). Whether a record or a run counts
as a result is decided in one place, `why_not_a_result`: a complete, full-mode run on the test
set of today's registered recipe; tables (tables.py), figures, notebooks, the CLI and the tests
all ask it.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import tempfile
from pathlib import Path

try:
    import fcntl  # a lock on the record's folder while it is checked and written (POSIX)
except ImportError:  # Windows: the check still runs at write time, without the lock
    fcntl = None

from ..errors import Refusal
from ..paths import FIGURES, RUNS_DIR, USER_RUNS_DIR
from ..recipes import changes, slug
from ..train import SCHEMA

MAX_SEED = 2**32 - 1  # seeds are whole numbers 0..MAX_SEED
MAX_SEEDS = 100       # seeds in one study
FIELDS = {            # what every schema-2 record holds, and the type of each
    "schema": int, "iteration": str, "params": int, "seed": int, "evaluated_on": str, "epochs_asked": int,
    "epochs": int, "interrupted": bool, "fast_mode": bool, "recipe": dict, "history": list,
    "final_test_acc": (float, int, type(None)), "best_test_acc": (float, int, type(None)),
}


def record_path(recipe, seed: int, runs_dir: Path = USER_RUNS_DIR, split: str = "test", epochs: int | None = None,
                fast: bool = False) -> Path:
    """runs_dir/[validation/]<slug>[-fast | -<E>of<N>epochs]-seed<S>.json: the slug names a
    variant's changes, and a fast-mode run or one of another length than its recipe's is named
    apart, so it never meets the full run's record."""
    folder = split_dir(runs_dir, split)
    epochs = epochs or recipe.epochs
    kind = "-fast" if fast else f"-{epochs}of{recipe.epochs}epochs" if epochs != recipe.epochs else ""
    return folder / f"{slug(recipe.to_dict())}{kind}-seed{seed}.json"


def split_dir(runs_dir: Path, split: str) -> Path:
    """Where runs_dir keeps the records of `split`: the test set at the top, validation/ below."""
    return validation_dir(runs_dir) if split == "validation" else Path(runs_dir)


def validation_dir(runs_dir: Path) -> Path:
    return Path(runs_dir) / "validation"


def partial_path(path: Path) -> Path:
    """<record>.partial: the epochs so far of a run that trains, was interrupted or diverged."""
    return path.with_name(path.name + ".partial")


def figures_dir(runs_dir: Path = RUNS_DIR) -> Path:
    """Where figures made from runs_dir go: figures/ for the committed records, else runs_dir
    itself, so a study run elsewhere never overwrites the committed figures."""
    return FIGURES if Path(runs_dir).resolve() == RUNS_DIR.resolve() else Path(runs_dir)


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


def check_seed(seed) -> int:
    if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED):
        raise Refusal(f"a seed is a whole number from 0 to {MAX_SEED:,}, got {seed!r}")
    return seed


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


def load_records(name: str | None = None, runs_dir: Path = RUNS_DIR) -> list[dict]:
    """The results (`why_not_a_result` is None) in runs_dir, of one iteration if `name`, sorted by seed."""
    out = [r for r in read_records(runs_dir) if why_not_a_result(r) is None and (name is None or r["iteration"] == name)]
    return sorted(out, key=lambda r: (r["iteration"], r["seed"]))


def read_records(runs_dir: Path):
    """Every record in runs_dir (not its subfolders), in file-name order; the first file that is
    no run record stops the reading, in one line naming it (no evidence is skipped quietly)."""
    if not Path(runs_dir).is_dir():
        raise Refusal(f"no runs folder {runs_dir}")
    for path in sorted(Path(runs_dir).glob("*.json")):
        yield read_record(path)


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
