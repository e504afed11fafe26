"""Run records on disk: one JSON file per run (schema: train.Run.record), test-set runs at the top of a
runs folder, validation-split runs in `validation/`. figures/runs/ holds the committed evidence (written
only when named), runs/ your own (git ignores it). Each record is written one way (`save_record`) and
read back one way (`read_record`, which refuses, naming the file, one that is not whole and consistent);
what counts as a result is the lesson's rule, train.why_not_a_result."""
from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import stat
from itertools import count, groupby
from pathlib import Path

try:
    import fcntl  # a lock on the record's folder while it is checked and written (POSIX)
except ImportError:  # Windows: the check still runs at write time, without the lock
    fcntl = None

from ..errors import Refusal
from ..paths import FIGURES, RUNS_DIR, USER_RUNS_DIR
from ..recipes import slug
from ..train import SCHEMA, default_epochs, why_not_a_result  # the result rule is the lesson's

RUN = ("recipe", "seed", "epochs_asked", "fast_mode", "evaluated_on")  # the fields that say which run a record is
FIELDS = {  # what every record holds, and the type of each
    "schema": int, "iteration": str, "params": int, "seed": int, "evaluated_on": str, "epochs_asked": int,
    "epochs": int, "interrupted": bool, "fast_mode": bool, "recipe": dict, "history": list,
    "final_acc": (float, int), "best_acc": (float, int),
}
EPOCH = {"epoch", "train_loss", "train_acc", "eval_loss", "eval_acc", "lr", "seconds"}  # each history entry
MEMBER = {"iteration", "seed", "evaluated_on", "epochs", "final_acc", "seconds", "recipe"}  # each teacher member


def which_run(record: dict) -> dict:
    """The RUN fields of a record (or of a job's plan), its recipe without its prose (name, summary):
    equal for two records of one run, which a folder holds once and a re-make may replace."""
    recipe = {k: v for k, v in record["recipe"].items() if k not in ("name", "summary")}
    return {**{key: record[key] for key in RUN}, "recipe": recipe}


def record_path(recipe, seed: int, runs_dir: Path = USER_RUNS_DIR, split: str = "test", epochs: int | None = None,
                fast: bool = False) -> Path:
    """runs_dir/[validation/]<slug>[-fast][-<E>of<N>epochs]-seed<S>.json (the slug names a variant's
    changes): runs that differ (RUN) never share a name."""
    epochs = epochs or default_epochs(recipe, fast)
    kind = "-fast" if fast else ""
    if epochs != default_epochs(recipe, fast):
        kind += f"-{epochs}of{recipe.epochs}epochs"
    return split_dir(runs_dir, split) / f"{slug(recipe.to_dict())}{kind}-seed{seed}.json"


def split_dir(runs_dir: Path, split: str) -> Path:
    return validation_dir(runs_dir) if split == "validation" else Path(runs_dir)


def validation_dir(runs_dir: Path) -> Path:
    return Path(runs_dir) / "validation"


def partial_path(path: Path) -> Path:
    """The first of <record>.partial, <record>.2.partial, ... that does not exist yet: where a run
    keeps its epochs so far (a run's .partial is its own, never shared)."""
    for i in count(1):
        partial = path.with_name(f"{path.name}.partial" if i == 1 else f"{path.name}.{i}.partial")
        if not os.path.lexists(partial):
            return partial


def figures_dir(runs_dir: Path = RUNS_DIR) -> Path:
    """figures/ for the committed records, else runs_dir itself: a study run elsewhere never
    overwrites the committed figures."""
    return FIGURES if Path(runs_dir).resolve() == RUNS_DIR.resolve() else Path(runs_dir)


def format_seeds(seeds: list[int]) -> str:
    """[0, 1, 2, 3, 4, 10] -> '0-4, 10'."""
    runs = [[s for _, s in run] for _, run in groupby(enumerate(seeds), lambda p: p[1] - p[0])]  # consecutive seeds
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def save_run(run, runs_dir: Path = USER_RUNS_DIR) -> Path | None:
    """Keep a notebook's run (mnistlib.train.Run) as a record in runs_dir, named like the CLI's; an
    interrupted or diverged one in a .partial of its own. A fast-mode run, or one without a finished
    epoch, is not kept (None)."""
    if run.fast or not run.history:
        return None
    path = record_path(run.recipe, run.seed, runs_dir, run.split, run.epochs_asked)
    if run.interrupted or run.diverged:
        return save_record(run.record(), partial_path(path), new=True)
    return save_record(run.record(), path)


def save_record(record: dict, path: str | Path, overwrite: bool = False, new: bool = False) -> Path:
    """Write `record` to `path` as strict JSON, atomically (a failed write leaves what was there),
    replacing only a record of the same run, with `overwrite` any record, with `new` nothing (so a run
    claims its .partial), checked under a lock on the folder so that no two writers replace each other."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "w") as f:  # readable as the user's files
            json.dump(record, f, indent=1, allow_nan=False)
            f.write("\n")
        with _folder_locked(path.parent):
            if new and os.path.lexists(path):
                raise Refusal(f"{path} was made by another run meanwhile; not replacing it")
            check_target(path, record, overwrite)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextlib.contextmanager
def _folder_locked(folder: Path):
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_target(path: Path, record: dict, overwrite: bool = False) -> None:
    """Refuse to put a record of `record`'s run (its RUN fields suffice) at `path` over anything but
    a regular file holding a record, or over a record of another run unless `overwrite`."""
    if not os.path.lexists(path):
        return
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise Refusal(f"{path} is not a regular file (a folder, link or device): a record never replaces it; "
                      "choose another --out or --runs-dir")
    try:
        old = read_record(path)
    except Refusal as e:
        raise Refusal(f"{e}: not replacing it (choose another --out or --runs-dir)") from None
    differs = [key for key, value in which_run(old).items() if value != which_run(record)[key]]
    if differs and not overwrite:
        raise Refusal(f"{path} holds a run with a different {', '.join(differs)}; not replacing it "
                      "(choose another --runs-dir or --out, or pass --overwrite)")


def load_records(name: str | None = None, runs_dir: Path = RUNS_DIR) -> list[dict]:
    """The results in runs_dir, of one iteration if `name`, sorted by iteration and seed."""
    out = [r for r in read_records(runs_dir)
           if why_not_a_result(r) is None and (name is None or r["iteration"] == name)]
    return sorted(out, key=lambda r: (r["iteration"], r["seed"]))


def read_records(runs_dir: Path):
    """Every record in runs_dir (not its subfolders), in file-name order; a file that is no
    consistent record, or a second file of one run (a copy), stops the reading in one line naming
    it: no evidence is skipped quietly, none counted twice."""
    if not Path(runs_dir).is_dir():
        raise Refusal(f"no runs folder {runs_dir}")
    seen = {}
    for path in sorted(Path(runs_dir).glob("*.json")):
        record = read_record(path)
        first = seen.setdefault(json.dumps(which_run(record), sort_keys=True), path)
        if first != path:
            raise Refusal(f"{first} and {path} hold the same run ({record['iteration']} seed {record['seed']}): a run "
                          "counts once; move one away")
        yield record


def read_record(path: Path) -> dict:
    """One record file, refused in one line naming it unless a whole, consistent run record of today's schema."""
    try:
        record = json.loads(Path(path).read_text(), parse_constant=_finite, parse_float=_finite)
    except (OSError, UnicodeDecodeError, ValueError) as e:  # ValueError: not JSON, or a number not finite
        raise Refusal(f"{path} is not a readable JSON run record ({getattr(e, 'strerror', None) or e})") from None
    why = _inconsistency(record)
    if why:
        raise Refusal(f"{path} is not a whole schema-{SCHEMA} run record ({why})")
    return record


def _inconsistency(record) -> str | None:
    """What is missing or inconsistent in a record read from JSON (its numbers finite), if anything."""
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        if not isinstance(record, dict) or "schema" not in record:
            return "no schema"
        return f"schema {record['schema']}" + ("; python docs/migrate_to_schema3.py FOLDER brings it up to date"
                                               if record["schema"] == 2 else "")
    wrong = [key for key, kind in FIELDS.items() if not isinstance(record.get(key), kind)]
    if wrong:
        return f"{', '.join(wrong)} missing or of the wrong type"
    history, recipe, members = record["history"], record["recipe"], record.get("teacher", [])
    if not history or not all(isinstance(h, dict) and EPOCH <= set(h) and
                              all(isinstance(h[key], (int, float)) for key in ("eval_acc", "train_acc", "seconds"))
                              for h in history):
        return "no epoch, or an epoch without its accuracies or time"
    if not (isinstance(recipe.get("name"), str) and isinstance(recipe.get("epochs"), int)):
        return "recipe name or epochs missing"
    accs = [h["eval_acc"] for h in history]
    if (record["epochs"], record["final_acc"], record["best_acc"], record["iteration"]) != \
            (len(history), accs[-1], max(accs), recipe["name"]):
        return "its epochs, final or best accuracy or iteration disagree with its history or recipe"
    if not (isinstance(members, list) and all(isinstance(m, dict) and MEMBER <= set(m) and isinstance(m["recipe"], dict)
                                              and isinstance(m["recipe"].get("epochs"), int) for m in members)):
        return "teacher members missing or of the wrong type"
    return None


def _finite(text: str) -> float:
    """A JSON number or constant as a float; ValueError unless finite (NaN, Infinity, 1e999)."""
    if not math.isfinite(value := float(text)):
        raise ValueError(f"{text} is no finite number")
    return value
