"""Training seeds for the CLI: alone or stacked (`--stack`), in this process or several
(`--jobs`), the records written safely and Ctrl-C keeping every finished epoch: `Job` (what a
process needs), `check_outputs` (refused before any epoch), `train_group` (a group of seeds, its
records and <record>.partial files), `run_seeds` (every group)."""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .records import check_replaceable, check_writable, format_seeds, partial_path, read_record, save_record
from ..data import load_mnist
from ..errors import Refusal
from ..mnist_files import prepare_root
from ..paths import RUNS_DIR
from ..recipes import Recipe
from ..stack import fit_many
from ..distil import get_teacher
from ..machine import tune
from ..train import Run, default_epochs, fit


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

    def planned(self, seed: int) -> dict:
        """The fields that say which run a record of this job's `seed` is."""
        return {"recipe": self.recipe.to_dict(), "seed": seed, "epochs_asked": self.epochs_asked,
                "fast_mode": self.fast, "evaluated_on": self.split}


STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


def stop_once(signum, frame):
    """Ctrl-C, SIGTERM or the parent's SIGUSR1: stop as Ctrl-C does (fit keeps the finished
    epochs); a second signal, while they are being kept, is ignored, so nothing is cut short."""
    for sig in STOPS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def check_outputs(job: Job, seeds: list[int], paths: list[Path]) -> None:
    """Refuse now, before any epoch, what would fail or destroy a record at the end (save_record checks again)."""
    committed = [p for p in paths if RUNS_DIR.resolve() in Path(p).resolve().parents]
    if committed and (job.fast or job.epochs_asked < job.recipe.epochs):
        raise Refusal(f"{committed[0].parent} holds the committed evidence: a "
                      f"{'fast-mode' if job.fast else 'short'} run is never kept there (leave out --runs-dir/--out)")
    for seed, path in zip(seeds, paths):
        check_writable(path)
        if not job.overwrite:
            check_replaceable(path, job.planned(seed))


def complete_record(job: Job, seed: int, path: Path) -> dict | None:
    """The complete record of this very run at `path`, if there is one (study then keeps it)."""
    try:
        record = read_record(path) if path.is_file() else None
    except Refusal:
        return None
    planned = {**job.planned(seed), "interrupted": False, "diverged": False}
    return record if record and all(record.get(k) == v for k, v in planned.items()) else None


def load(job: Job):
    """The job's data on its device, the process tuned for it (threads, malloc, determinism)."""
    if job.threads:
        torch.set_num_threads(job.threads)
    tune(torch.device(job.device), job.deterministic)
    data = load_mnist(job.data_root, job.device, fast=job.fast)
    return data.validation_split() if job.split == "validation" else data


def train_one(job: Job, data, seed: int, out: Path, progress: bool = True, log=None) -> dict:
    """Train one seed: see train_group."""
    return train_group(job, data, [seed], [out], progress, log)[0]


def train_group(job: Job, data, seeds: list[int], outs: list[Path], progress: bool = True, log=None) -> list[dict]:
    """Train `seeds`, several as one stacked network (mnistlib.stack.fit_many), one alone
    (mnistlib.train.fit, with its teacher if its recipe has one). A complete run is written to its
    `out`; after each epoch, and when it is interrupted or diverges, the run so far goes to
    `out`.partial, so an interrupt loses nothing and never overwrites an earlier complete record."""
    log = log or tqdm.write  # keeps the epoch lines clear of the progress bars
    said = set()  # a failing .partial is said once per seed
    group = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {format_seeds(seeds)} stacked"
    log(f"{job.recipe.name}, {group}: {job.recipe.summary}")

    def save_partial(run):
        partial, run.command = partial_path(outs[seeds.index(run.seed)]), job.command
        try:
            save_record(run.record(), partial)
        except OSError as e:  # e.g. a full disk: training goes on, the record is tried again at the end
            if run.seed not in said:
                log(f"seed {run.seed}: cannot write {partial} ({e.strerror or e}); training goes on")
                said.add(run.seed)

    kw = dict(epochs=job.epochs, progress=progress, log=log)
    if len(seeds) > 1:
        runs = fit_many(job.recipe, data, seeds, on_epoch=lambda runs: [save_partial(r) for r in runs], **kw)
    else:
        teacher = (get_teacher(job.recipe, data, seeds[0], progress=progress, log=log)
                   if job.recipe.teacher else None)
        if job.recipe.teacher and teacher is None:  # interrupted before the student's first epoch
            log(f"seed {seeds[0]}: interrupted before its teacher was whole: no student epoch to keep, and a teacher "
                "is kept only when trained to the end (the next run trains it again)")
            return [Run(job.recipe, seeds[0], job.recipe.build(), job.epochs_asked, job.fast, job.split,
                        interrupted=True, command=job.command).record()]
        runs = [fit(job.recipe, data, seed=seeds[0], on_epoch=save_partial, teacher=teacher, **kw)]
    records = []
    try:
        with signals_deferred():  # a signal now would cut the writing of the finished records short
            records = [finish(job, run, out, log) for run, out in zip(runs, outs)]
    except KeyboardInterrupt:  # it came while they were written: they are whole; the caller stops (stopping())
        pass
    return records


@contextlib.contextmanager
def signals_deferred():
    """Ctrl-C, SIGTERM and SIGUSR1 held back until the block ends (then delivered)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def stopping() -> bool:
    """Whether a stop signal has come (stop_once then ignores the next ones)."""
    return signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def finish(job: Job, run: Run, out: Path, log) -> dict:
    """Write a finished run's record to `out` (and remove its .partial), or keep what an
    interrupted or diverged run has in `out`.partial; returns the record."""
    run.command = job.command
    record, seed, partial = run.record(), run.seed, partial_path(out)
    if run.interrupted or run.diverged:
        if run.history:
            place = keep(record, partial, log, seed)
            what = "diverged" if run.diverged else "interrupted"
            log(f"seed {seed}: {what}; the {len(run.history)} finished epoch(s) are in {place}")
        return record
    try:
        save_record(record, out, overwrite=job.overwrite)
    except Refusal as e:  # another process wrote a different run there while this one trained
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
    it went; a line says so when something failed, and only a failure of both raises (a Refusal)."""
    for place in (path, Path(tempfile.gettempdir()) / path.name):
        try:
            save_record(record, place)
        except OSError as e:
            why = why or f"cannot write {path} ({e.strerror or e})"
            continue
        if why:
            log(f"seed {seed}: {why}; its {record['epochs']} epoch(s) are in {place}")
        return place
    raise Refusal(f"{why}, nor anything in {tempfile.gettempdir()}: seed {seed}'s epochs are lost; free some space")


def _worker(job: Job, todo, events) -> None:
    """One --jobs process: load the data once, then train seeds from `todo` until it is empty.
    It starts with SIGINT ignored (the parent sees Ctrl-C and asks each worker to stop with
    SIGUSR1, so the worker keeps its finished epochs in <record>.partial)."""
    signal.signal(signal.SIGUSR1, stop_once)
    signal.signal(signal.SIGTERM, stop_once)  # like Ctrl-C: keep the finished epochs
    try:
        data = load(job)
        while (item := todo.get()) is not None:
            seeds, outs = item
            records = train_group(job, data, seeds, outs, progress=False,
                                  log=lambda line, s=format_seeds(seeds): events.put(("line", f"[seed {s}] {line}")))
            for record in records:
                events.put(("done", record))
            if any(r["interrupted"] for r in records) or stopping():
                return
    except KeyboardInterrupt:  # asked to stop while loading: nothing to keep
        pass
    except Refusal as e:  # reported by the parent in one line
        events.put(("error", Refusal(str(e))))
    except Exception:  # a bug: the parent raises it with this process's traceback
        events.put(("error", RuntimeError(f"a --jobs worker failed:\n{traceback.format_exc()}")))


def run_seeds(job: Job, seeds: list[int], paths: list[Path], jobs: int, stack: int = 1) -> list[dict]:
    """Train each seed, `stack` at a time as one network (mnistlib.stack), in this process
    (jobs=1) or in `jobs` worker processes (job.threads threads each, one by default); the records
    are the same either way for the same thread count and groups. Returns the records (those of
    the last group interrupted, after Ctrl-C)."""
    groups = [(seeds[i:i + stack], paths[i:i + stack]) for i in range(0, len(seeds), stack)]
    if jobs == 1:
        data, records = load(job), []
        for group in groups:
            records += (done := train_group(job, data, *group, progress=sys.stderr.isatty()))
            if any(r["interrupted"] for r in done) or stopping():
                break
        return records
    prepare_root(job.data_root)  # download or extract once, here, not in every worker at the same time
    ctx = mp.get_context("spawn")  # fork after torch has started threads is unsafe
    todo, events = ctx.Queue(), ctx.Queue()
    for group in groups:
        todo.put(group)
    workers = [ctx.Process(target=_worker, args=(job, todo, events)) for _ in range(min(jobs, len(groups)))]
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
        raise error
    interrupted = any(r["interrupted"] for r in records)
    if len(records) < len(seeds) and not interrupted:
        codes, lost = sorted({w.exitcode for w in workers if w.exitcode}), set(seeds) - {r["seed"] for r in records}
        raise Refusal(f"seeds {format_seeds(sorted(lost))} did not finish: a worker process ended without a word (exit "
                      f"codes {codes}); their finished epochs are in "
                      f"{', '.join(str(partial_path(p)) for s, p in zip(seeds, paths) if s in lost)}")
    return sorted(records, key=lambda r: r["seed"])
