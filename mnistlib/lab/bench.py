"""`python -m mnistlib bench`: the same model and recipe (iteration 3) trained two ways, one
after the other in one run, so the ratio is measured side by side on the same machine:

  baseline  per-sample torchvision transforms (RandomAffine, ToTensor, Normalize) on PIL
            images in a DataLoader with 2 workers, as in pytorch/examples' mnist/main.py
  mnistlib  both splits as tensors on the device, batches drawn by index, augmentation as
            one affine_grid/grid_sample call per batch, channels_last (mnistlib.train.fit)

Each epoch is timed as train + test; the last line printed is the speed-up ratio.

`python -m mnistlib bench --study` measures instead what `study --jobs` gains: the same 5-seed
study of iteration 5 run one seed at a time on all threads, then one process per core with one
thread each, timed end to end (start-up and data loading included).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from ..data import FAST_IMAGES, MEAN, STD, load_mnist
from ..machine import cpu_cores, tune
from ..mnist_files import prepare_root
from ..recipes import get_recipe
from ..stack import stack
from ..train import EVAL_BATCH, fit


def baseline_loader(root, recipe, workers: int = 2, limit: int | None = None, pin_memory: bool = False):
    """The conventional pipeline: PIL images through per-sample torchvision transforms in
    DataLoader workers (the same augmentation parameters, from the same recipe). `limit` keeps
    the first images only (fast mode)."""
    from torchvision import datasets, transforms
    tf = transforms.Compose([
        transforms.RandomAffine(recipe.rotate, translate=(recipe.translate, recipe.translate),
                                scale=(1 - recipe.scale, 1 + recipe.scale) if recipe.scale else None),
        transforms.ToTensor(),
        transforms.Normalize((MEAN,), (STD,)),
    ])
    ds = datasets.MNIST(prepare_root(root), train=True, transform=tf)
    if limit is not None:
        ds = Subset(ds, range(limit))
    return DataLoader(ds, batch_size=recipe.batch_size, shuffle=True, num_workers=workers,
                      persistent_workers=workers > 0, pin_memory=pin_memory)


def _baseline_epochs(root, device, epochs: int, recipe, fast: bool) -> list[float]:
    """The conventional loop, with the conventional GPU settings (pinned memory, non-blocking
    copies, counts kept on the device until the epoch ends), so a GPU speed-up is not inflated."""
    from torchvision import datasets, transforms
    limit = FAST_IMAGES if fast else None
    pin = device.type == "cuda"
    train = baseline_loader(root, recipe, limit=limit, pin_memory=pin)
    test = datasets.MNIST(prepare_root(root), train=False,
                          transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))]))
    if limit is not None:
        test = Subset(test, range(limit))
    test = DataLoader(test, batch_size=EVAL_BATCH, num_workers=2, pin_memory=pin)
    torch.manual_seed(0)
    model = recipe.build().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    seconds = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        for x, y in train:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        correct = torch.zeros((), dtype=torch.long, device=device)
        with torch.inference_mode():
            for x, y in test:
                correct += (model(x.to(device, non_blocking=True)).argmax(1) == y.to(device, non_blocking=True)).sum()
        correct = correct.item()  # the epoch's one sync with the device
        seconds.append(time.perf_counter() - start)
        print(f"baseline  epoch {epoch}: {seconds[-1]:6.2f} s  (test acc {100 * correct / len(test.dataset):.2f})")
    return seconds


def bench(root, device: torch.device, epochs: int = 2, fast: bool = False) -> float:
    recipe = get_recipe("iteration3")
    print(f"bench: {recipe.name}, {epochs} epoch(s) each, device {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads{' (FAST MODE: a smoke test, not a measurement)' if fast else ''}")
    base = _baseline_epochs(root, device, epochs, recipe, fast)
    start = time.perf_counter()
    data = load_mnist(root, device, fast=fast)
    print(f"mnistlib  load to {device}: {time.perf_counter() - start:.2f} s (once)")
    run = fit(recipe, data, seed=0, epochs=epochs, progress=False, log=None)
    ours = [h["seconds"] for h in run.history]
    for h in run.history:
        print(f"mnistlib  epoch {h['epoch']}: {h['seconds']:6.2f} s  (test acc {h['test_acc']:.2f})")
    b, m = statistics.median(base), statistics.median(ours)
    print(f"median seconds per epoch (train + test): baseline {b:.2f}, mnistlib {m:.2f}; "
          f"15 epochs: baseline {15 * b / 60:.1f} min, mnistlib {15 * m / 60:.1f} min")
    print(f"speed-up: {b / m:.2f}x")
    return b / m


def bench_study(root, epochs: int = 2, seeds: str = "0-4") -> float:
    jobs = cpu_cores()  # what `study` uses by default on a CPU
    print(f"bench --study: iteration5, seeds {seeds}, {epochs} epoch(s) each, {jobs} CPU cores, torch {torch.__version__}")
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("one at a time", ["--jobs", "1", "--threads", str(jobs)]), (f"{jobs} jobs", ["--jobs", str(jobs)])):
            cmd = [sys.executable, "-m", "mnistlib", "study", "iteration5", "--seeds", seeds, "--epochs", str(epochs),
                   "--stack", "1",
                   "--device", "cpu", "--runs-dir", os.path.join(tmp, label.replace(" ", "-")), *extra]
            if root:
                cmd += ["--data-root", str(root)]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            seconds[label] = time.perf_counter() - start
            print(f"{label:<14} {seconds[label]:7.1f} s   ({' '.join(cmd[3:])})")
    ratio = seconds["one at a time"] / seconds[f"{jobs} jobs"]
    print(f"speed-up: {ratio:.2f}x")
    return ratio


def _train_seeds(root, name: str, seeds: list[int], stacked: bool, epochs: int, images: int | None, device: str,
                 barrier=None) -> float:
    """One worker of bench_seeds: train `seeds` (stacked as one network, or one after another)
    on one thread and return the seconds of their epochs, counted from when every worker is ready."""
    from ..stack import fit_many
    torch.set_num_threads(1)
    tune(torch.device(device))
    data = load_mnist(root, device, fast=False)
    data.train_x, data.train_y = data.train_x[:images], data.train_y[:images]
    recipe = get_recipe(name)
    if barrier is not None:
        barrier.wait()  # every worker trains at the same time, as in a study
    if stacked:
        runs = fit_many(recipe, data, seeds, epochs, progress=False, log=None)
        return sum(h["seconds"] for h in runs[0].history)
    return sum(h["seconds"] for s in seeds for h in fit(recipe, data, s, epochs, progress=False, log=None).history)


def bench_seeds(root, device: torch.device, names=("iteration4", "iteration5"), k: int = 5, processes: int = 2,
                epochs: int = 1, images: int | None = None) -> dict:
    """Seconds per seed-epoch, measured side by side in one run, of the ways to train many seeds:
    one at a time, `processes` at a time (study --jobs), K stacked in one process (mnistlib.stack),
    and K stacked in each of `processes` processes. One thread per process."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp
    ways = {"one seed at a time": (1, 1, False), f"{processes} processes (study --jobs {processes})": (processes, 1, False),
            f"{k} stacked, one process": (1, k, True), f"{k} stacked x {processes} processes": (processes, k, True)}
    print(f"bench --seeds: {', '.join(names)}, {epochs} epoch(s) of {images or 60_000:,} training images, "
          f"one thread per process, device {device}, torch {torch.__version__}")
    ctx, out = mp.get_context("spawn"), {}
    for name in names:
        for way, (procs, per, stacked) in ways.items():
            if procs == 1:  # here, on one thread
                seconds = _train_seeds(root, name, list(range(per)), stacked, epochs, images, str(device))
            else:
                with mp.Manager() as manager, ProcessPoolExecutor(procs, mp_context=ctx) as pool:
                    barrier = manager.Barrier(procs)
                    tasks = [pool.submit(_train_seeds, root, name, list(range(p * per, (p + 1) * per)), stacked,
                                         epochs, images, str(device), barrier) for p in range(procs)]
                    seconds = max(t.result() for t in tasks)
            out[name, way] = seconds / (procs * per * epochs)
            print(f"{name}  {way:<34} {out[name, way]:6.2f} s per seed-epoch")
        base = out[name, f"{processes} processes (study --jobs {processes})"]
        best = min((w for w in ways if ways[w][2]), key=lambda w: out[name, w])
        print(f"{name}  speed-up of {best} over study --jobs {processes}: {base / out[name, best]:.2f}x")
    return out


MOST_STACKED = 16  # the largest K choose_stack measures


def choose_stack(job, most: int, steps: int = 3) -> dict[int, float]:
    """Seconds per seed of one training step when K seeds are stacked, for K = 1..`most`, measured
    here (job.threads threads, random batches of the recipe's size): what stacking gains depends
    on the network and the device. A recipe with a teacher is trained one seed at a time."""
    if job.recipe.teacher or most <= 1:
        return {1: 0.0}
    if job.threads:
        torch.set_num_threads(job.threads)
    device, b = torch.device(job.device), job.recipe.batch_size
    seconds = {}
    for k in range(1, min(most, MOST_STACKED) + 1):
        model = stack([job.recipe.build() for _ in range(k)]).to(device, memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        x, y = torch.randn(b, k, 28, 28, device=device), torch.randint(0, 10, (b * k,), device=device)
        for step in range(steps + 1):
            if step == 1:  # the first step warms up
                start = time.perf_counter()
            loss = F.cross_entropy(model(x).view(b * k, 10), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        loss.item()  # waits for the device
        seconds[k] = (time.perf_counter() - start) / steps / k
    return seconds
