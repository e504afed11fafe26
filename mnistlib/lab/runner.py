"""Training seeds for the CLI: alone or stacked (`--stack`), in this process or in `--jobs` worker
processes (concurrent.futures). After each epoch a run's record so far is in a .partial file of
its own (records.partial_path), marked interrupted until the run ends, so Ctrl-C, SIGTERM, even a
killed process, keep every finished epoch; a complete run's record then replaces it at its path."""
from __future__ import annotations

import multiprocessing as mp
import signal
import sys
import tempfile
import threading
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from .records import check_target, format_seeds, partial_path, read_record, save_record, which_run
from ..data import load_mnist
from ..distil import get_teacher
from ..errors import Refusal
from ..machine import tune
from ..mnist_files import read_mnist
from ..paths import RUNS_DIR
from ..recipes import Recipe
from ..stack import fit_many
from ..train import default_epochs, fit

STOPS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Job:
    """Everything one training process needs: picklable, so --jobs can hand it to a worker."""
    recipe: Recipe
    data_root: Path | None
    device: str
    threads: int | None
    epochs: int | None
    fast: bool
    split: str                  # the evaluation split measured after each epoch: "test" or "validation"
    deterministic: bool
    command: list[str]
    overwrite: bool = False     # replace a record even if it holds another run

    @property
    def epochs_asked(self) -> int:
        return self.epochs or default_epochs(self.recipe, self.fast)

    def planned(self, seed: int) -> dict:
        """The fields that say which run (records.RUN) a record of this job's `seed` is."""
        return {"recipe": self.recipe.to_dict(), "seed": seed, "epochs_asked": self.epochs_asked,
                "fast_mode": self.fast, "evaluated_on": self.split}


class Out(NamedTuple):
    """Where a seed's run goes: its record, and the .partial of its own that holds its epochs so far."""
    seed: int
    path: Path
    partial: Path


def stop_once(signum, frame):
    """Ctrl-C or SIGTERM: stop as Ctrl-C does (fit keeps the finished epochs); the signals that
    follow do nothing, so nothing is cut short while they are kept."""
    for sig in STOPS:
        signal.signal(sig, _ignore)
    raise KeyboardInterrupt


def _ignore(signum, frame):
    """A stop signal after the first, or to a worker that is done (not SIG_IGN: one already come would raise)."""


def check_outputs(job: Job, seeds: list[int], paths: list[Path]) -> None:
    """Refuse now, before any epoch, what would fail at the end (save_record checks again)."""
    committed = [p for p in paths if RUNS_DIR.resolve() in Path(p).resolve().parents]
    if committed and (job.fast or job.epochs_asked < job.recipe.epochs):
        raise Refusal(f"{committed[0].parent} holds the committed evidence: a "
                      f"{'fast-mode' if job.fast else 'short'} run is never kept there (leave out --runs-dir/--out)")
    for seed, path in zip(seeds, paths):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=path.parent).close()
        except OSError as e:
            raise Refusal(f"cannot write a record to {path}: {e.strerror or e}") from None
        check_target(path, job.planned(seed), job.overwrite)


def complete_record(job: Job, seed: int, path: Path) -> dict | None:
    """The complete record of this very run at `path`, if there is one (study then keeps it)."""
    record = read_record(path) if path.exists() else None  # check_outputs refused anything but a record
    whole = record and not (record["interrupted"] or record.get("diverged"))
    return record if whole and which_run(record) == which_run(job.planned(seed)) else None


def run_seeds(job: Job, seeds: list[int], paths: list[Path], jobs: int = 1, stack: int = 1) -> list[dict]:
    """Train each seed, `stack` at a time as one network (mnistlib.stack), in this process or in `jobs`
    worker processes (the same records either way, for the same threads and groups); the records by
    seed. Stopped (Ctrl-C, SIGTERM) while workers train: KeyboardInterrupt, once each said where its
    epochs are."""
    outs = [Out(seed, Path(path), partial_path(Path(path))) for seed, path in zip(seeds, paths)]
    groups = [outs[i:i + stack] for i in range(0, len(outs), stack)]
    if jobs == 1:
        return train_groups(job, groups, progress=sys.stderr.isatty())
    read_mnist(job.data_root)  # downloaded once and checked, here, before any worker starts
    shares = [groups[i::jobs] for i in range(min(jobs, len(groups)))]
    with ProcessPoolExecutor(len(shares), mp.get_context("spawn")) as pool:  # fork after torch's threads: unsafe
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the workers, started now:
        futures = [pool.submit(_work, job, share) for share in shares]  # Ctrl-C reaches them as they train
        signal.signal(signal.SIGINT, previous)
        stopped = False
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM here (stop_once): each worker is stopped below
            stopped = True
        if not all(f.done() for f in futures):  # stopped, or one failed: the others keep their epochs and end
            for worker in mp.active_children():
                worker.terminate()  # SIGTERM: stop_once in a worker that trains, ignored by one that is done
        wait(futures)
    records, lost = [], []
    for future, share in zip(futures, shares):
        error = future.exception()
        if isinstance(error, BrokenProcessPool):  # a worker was killed: the pool ended the others
            lost += [out for group in share for out in group]
        elif isinstance(error, KeyboardInterrupt):
            stopped = True
        elif error:  # a refusal (one line) or a bug (with the worker's traceback)
            raise error
        else:
            records += future.result()
    if lost and not stopped:
        kept = [str(p) for out in lost for p in (out.path, out.partial) if p.exists()]
        raise Refusal(f"a worker process ended without a word (killed?): seeds "
                      f"{format_seeds(sorted(o.seed for o in lost))} did not report back; what they kept is in "
                      f"{', '.join(kept) or 'no file'}")
    if stopped:
        raise KeyboardInterrupt
    return sorted(records, key=lambda r: r["seed"])


def _work(job: Job, groups: list[list[Out]]) -> list[dict]:
    """One --jobs process: Ctrl-C and SIGTERM stop it as they stop the main process; done, it is
    deaf until the pool ends it."""
    for sig in STOPS:
        signal.signal(sig, stop_once)
    tqdm.set_lock(threading.RLock())  # not tqdm's inter-process lock, which a killed worker would leave behind
    try:
        return train_groups(job, groups, progress=False, tagged=True)
    finally:
        for sig in STOPS:
            signal.signal(sig, _ignore)


def train_groups(job: Job, groups: list[list[Out]], progress: bool = True, tagged: bool = False) -> list[dict]:
    """Load the job's data once (the process tuned for it), then train each group of seeds until one
    is interrupted; the lines said go above the progress bars, or, `tagged` (a worker), to stdout at
    once after their seeds."""
    if job.threads:
        torch.set_num_threads(job.threads)
    tune(torch.device(job.device), job.deterministic)
    data, records = load_mnist(job.data_root, job.device, fast=job.fast), []
    if job.split == "validation":
        data = data.validation_split()
    for group in groups:
        tag = f"[seed {format_seeds([out.seed for out in group])}] "
        log = (lambda line: print(tag + line, flush=True)) if tagged else tqdm.write
        records += (done := train_group(job, data, group, progress, log))
        if any(r["interrupted"] for r in done):
            break
    return records


def train_group(job: Job, data, group: list[Out], progress: bool, log) -> list[dict]:
    """Train a group of seeds, several as one stacked network (stack.fit_many), one alone (train.fit,
    with its teacher if it has one); their records. A run whose epochs or record cannot be written
    ends in a Refusal naming where its epochs are."""
    seeds, by_seed, claimed = [out.seed for out in group], {out.seed: out for out in group}, set()
    log(f"{job.recipe.name}, {f'seed {seeds[0]}' if len(seeds) == 1 else f'seeds {format_seeds(seeds)} stacked'}: "
        f"{job.recipe.summary}")

    def keep(run, ended: bool = False) -> dict:
        """The run so far to its own .partial (claimed at its first epoch), marked interrupted unless it `ended`."""
        out, run.command = by_seed[run.seed], job.command
        record = {**run.record(), "interrupted": run.interrupted or not ended}
        try:
            save_record(record, out.partial, new=out.partial not in claimed)
        except Refusal:
            if out.partial in claimed:
                raise
            by_seed[run.seed] = out._replace(partial=partial_path(out.path))  # taken meanwhile: the next free name
            return keep(run, ended)
        except OSError as e:
            raise Refusal(f"cannot write {out.partial} ({e.strerror or e}): seed {run.seed} stopped; "
                          + ("its epochs before are in it" if out.partial in claimed else "no epoch kept")) from None
        claimed.add(out.partial)
        return record

    kw = dict(epochs=job.epochs, progress=progress, log=log)
    if len(seeds) > 1:
        runs = fit_many(job.recipe, data, seeds, on_epoch=lambda runs: [keep(run) for run in runs], **kw)
    else:
        teacher = get_teacher(job.recipe, data, seeds[0], progress=progress, log=log) if job.recipe.teacher else None
        if job.recipe.teacher and teacher is None:  # interrupted: a teacher is kept only when whole
            raise KeyboardInterrupt
        runs = [fit(job.recipe, data, seed=seeds[0], on_epoch=keep, teacher=teacher, **kw)]
    records = [keep(run, ended=True) if run.history else run.record() for run in runs]
    for i, (run, record) in enumerate(zip(runs, records)):
        out = by_seed[run.seed]
        if run.interrupted or run.diverged:
            kept = f"its {len(run.history)} finished epoch(s) are in {out.partial}" if run.history else None
            log(f"seed {run.seed}: {'diverged' if run.diverged else 'interrupted'}; {kept or 'no epoch had ended'}")
            continue
        try:
            save_record(record, out.path, job.overwrite)
        except (Refusal, OSError) as e:
            raise Refusal(f"{e if isinstance(e, Refusal) else f'cannot write {out.path} ({e.strerror or e})'}; "
                          f"the epochs are in {', '.join(str(by_seed[r.seed].partial) for r in runs[i:])}") from None
        out.partial.unlink()
        log(f"seed {run.seed}: final-epoch {run.split} acc {run.final_acc:.2f}%  (best epoch {run.best_acc:.2f}%, "
            f"{run.split}-selected)  record: {out.path}")
    return records
