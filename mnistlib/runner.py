"""Training seeds for the CLI: one at a time, or several processes at once (`study --jobs`),
with the records written safely and Ctrl-C keeping every finished epoch.

    Job            everything one training process needs (picklable, for the workers)
    check_outputs  refuse, before any epoch, what would fail or destroy a record at the end
    train_one      one seed: the record, and after each epoch (and when interrupted or diverged)
                   <record>.partial
    run_seeds      every seed, in this process or in `jobs` worker processes
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import results
from .data import load_mnist
from .mnist_files import prepare_root
from .paths import RUNS_DIR
from .recipes import Recipe
from .train import Run, default_epochs, fit, get_teacher


@dataclass
class Job:
    """Everything one training process needs: picklable, so --jobs can hand it to a worker."""
    recipe: Recipe
    data_root: Path | None
    device: str
    threads: int | None
    epochs: int | None
    fast: bool
    split: str                  # the held-out split measured after each epoch: "test" or "validation"
    deterministic: bool
    command: list[str]
    overwrite: bool = False     # replace a record even if it holds another kind of run

    @property
    def epochs_asked(self) -> int:
        return self.epochs or default_epochs(self.recipe, self.fast)


def stop_once(signum, frame):
    """Ctrl-C, SIGTERM or the parent's SIGUSR1: stop as Ctrl-C does (fit keeps the finished
    epochs); a second signal, while they are being kept, is ignored, so nothing is cut short."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def check_outputs(job: Job, seeds: list[int], paths: list[Path]) -> None:
    """Refuse now, before any epoch, what would fail or destroy a record at the end (the
    no-replace rule is checked again as each record is written: mnistlib.results.save_record)."""
    planned = {"recipe": job.recipe.to_dict(), "epochs_asked": job.epochs_asked, "fast_mode": job.fast,
               "evaluated_on": job.split}
    committed = [p for p in paths if RUNS_DIR.resolve() in Path(p).resolve().parents]
    if committed and (job.fast or job.epochs_asked < job.recipe.epochs):
        raise ValueError(f"{committed[0].parent} holds the committed evidence: a "
                         f"{'fast-mode' if job.fast else 'short'} run is never kept there (leave out --runs-dir/--out)")
    for seed, path in zip(seeds, paths):
        results.check_writable(path)
        if not job.overwrite:
            results.check_replaceable(path, {**planned, "seed": seed})


def load(job: Job):
    if job.threads:
        torch.set_num_threads(job.threads)
    data = load_mnist(job.data_root, job.device, fast=job.fast)
    return data.validation_split() if job.split == "validation" else data


def train_one(job: Job, data, seed: int, out: Path, progress: bool = True, log=None) -> dict:
    """Train one seed. A complete run is written to `out`; after each epoch, and when it is
    interrupted or diverges, the run so far goes to `out`.partial, so an interrupt loses nothing
    and never overwrites an earlier complete record."""
    log = log or tqdm.write  # keeps the epoch lines clear of the progress bars
    partial = results.partial_path(out)
    log(f"{job.recipe.name}, seed {seed}: {job.recipe.summary}")
    said = []  # a failing .partial is said once

    def save_partial(run):
        try:
            results.save_record(run.record(), partial)
        except OSError as e:  # e.g. a full disk: training goes on, the record is tried again at the end
            if not said:
                log(f"seed {seed}: cannot write {partial} ({e.strerror or e}); training goes on")
                said.append(True)

    teacher = (get_teacher(job.recipe, data, seed, progress=progress, log=log, deterministic=job.deterministic)
               if job.recipe.teacher else None)
    if job.recipe.teacher and teacher is None:  # interrupted before the student's first epoch
        log(f"seed {seed}: interrupted before its teacher was whole: no student epoch to keep, and a teacher is kept "
            "only when trained to the end (the next run trains it again)")
        return Run(job.recipe, seed, job.recipe.build(), job.epochs_asked, job.fast, job.split, interrupted=True,
                   command=job.command).record()
    run = fit(job.recipe, data, seed=seed, epochs=job.epochs, progress=progress, log=log,
              deterministic=job.deterministic, command=job.command, on_epoch=save_partial, teacher=teacher)
    record = run.record()
    if run.interrupted or run.diverged:
        if run.history:
            place = keep(record, partial, log, seed)
            what = "diverged" if run.diverged else "interrupted"
            log(f"seed {seed}: {what}; the {len(run.history)} finished epoch(s) are in {place}")
        return record
    try:
        results.save_record(record, out, overwrite=job.overwrite)
    except ValueError as e:  # another process wrote a different run there while this one trained
        kept = keep(record, out.with_name(f"{out.name}.kept-{os.getpid()}"), log, seed)
        log(f"seed {seed}: {e}; this run is kept in {kept}")
        return record
    except OSError as e:
        keep(record, partial, log, seed, f"cannot write {out} ({e.strerror or e})")
        return record
    partial.unlink(missing_ok=True)
    log(f"seed {seed}: final-epoch {run.split} acc {run.final_acc:.2f}%  (best epoch {run.best_acc:.2f}%, "
        f"{run.split}-selected)  record: {out}")
    return record


def keep(record: dict, path: Path, log, seed: int, why: str | None = None) -> Path:
    """Write `record` to `path`, or, if even that fails, to the temporary folder, and return where
    it went; a line says so when something failed, and only a failure of both raises (ValueError)."""
    for place in (path, Path(tempfile.gettempdir()) / path.name):
        try:
            results.save_record(record, place)
        except OSError as e:
            why = why or f"cannot write {path} ({e.strerror or e})"
            continue
        if why:
            log(f"seed {seed}: {why}; its {record['epochs']} epoch(s) are in {place}")
        return place
    raise ValueError(f"{why}, nor anything in {tempfile.gettempdir()}: seed {seed}'s epochs are lost; free some space")


def _worker(job: Job, todo, events) -> None:
    """One --jobs process: load the data once, then train seeds from `todo` until it is empty.
    It starts with SIGINT ignored (the parent sees Ctrl-C and asks each worker to stop with
    SIGUSR1, so the worker keeps its finished epochs in <record>.partial)."""
    signal.signal(signal.SIGUSR1, stop_once)
    signal.signal(signal.SIGTERM, stop_once)  # like Ctrl-C: keep the finished epochs
    try:
        data = load(job)
        while (item := todo.get()) is not None:
            seed, out = item
            record = train_one(job, data, seed, out, progress=False,
                               log=lambda line, seed=seed: events.put(("line", f"[seed {seed}] {line}")))
            events.put(("done", record))
            if record["interrupted"]:
                return
    except KeyboardInterrupt:  # asked to stop while loading: nothing to keep
        pass
    except Exception as e:  # reported by the parent in one line
        events.put(("error", f"{type(e).__name__}: {e}"))


def run_seeds(job: Job, seeds: list[int], paths: list[Path], jobs: int) -> list[dict]:
    """Train each seed, in this process (jobs=1) or in `jobs` worker processes (job.threads
    threads each, one by default); the records are the same either way for the same thread count. Returns the records
    (the last one interrupted, after Ctrl-C)."""
    if jobs == 1:
        data, records = load(job), []
        for seed, out in zip(seeds, paths):
            records.append(train_one(job, data, seed, out, progress=sys.stderr.isatty()))
            if records[-1]["interrupted"]:
                break
        return records
    prepare_root(job.data_root)  # download or extract once, here, not in every worker at the same time
    ctx = mp.get_context("spawn")  # fork after torch has started threads is unsafe
    todo, events = ctx.Queue(), ctx.Queue()
    for item in zip(seeds, paths):
        todo.put(item)
    workers = [ctx.Process(target=_worker, args=(job, todo, events)) for _ in range(min(jobs, len(seeds)))]
    for _ in workers:
        todo.put(None)
    records, error = [], None
    bar = tqdm(total=len(seeds), desc=f"{job.recipe.name}: seeds, {len(workers)} at a time", unit="seed",
               disable=not sys.stderr.isatty())

    def stop_workers():
        for w in workers:
            if w.is_alive():
                os.kill(w.pid, signal.SIGUSR1)  # each keeps its finished epochs in <record>.partial

    def handle(kind, payload):
        nonlocal error
        if kind == "line":
            bar.write(payload)
        elif kind == "done":
            records.append(payload)
            bar.update()
        elif error is None:  # "error": stop the others, report it once they have stopped
            error = payload
            stop_workers()

    def read_events_until_all_ended():
        while any(w.is_alive() for w in workers):  # reading as they end: none blocks on a full pipe
            try:
                handle(*events.get(timeout=0.5))
            except queue.Empty:
                pass

    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: workers start deaf to Ctrl-C
        for w in workers:
            w.start()
        signal.signal(signal.SIGINT, previous)
        read_events_until_all_ended()
    except KeyboardInterrupt:
        stop_workers()
        raise
    finally:
        read_events_until_all_ended()
        for w in workers:
            if w.pid is not None:
                w.join()
        while True:  # what the workers sent just before they ended
            try:
                handle(*events.get_nowait())
            except queue.Empty:
                break
        bar.close()
    if error:
        raise ValueError(error)
    interrupted = any(r["interrupted"] for r in records)
    if len(records) < len(seeds) and not interrupted:
        codes = sorted({w.exitcode for w in workers if w.exitcode})
        raise ValueError(f"{len(seeds) - len(records)} of {len(seeds)} seeds did not finish: a worker process ended "
                         f"without a word (exit codes {codes}); their epochs so far are in <record>.partial")
    return sorted(records, key=lambda r: r["seed"])
