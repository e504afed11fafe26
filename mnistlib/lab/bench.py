"""`python -m mnistlib bench`: training speed, the ways compared run one after the other on one machine.

  bench          iteration 3, each epoch timed as train + test, the speed-up printed last: the usual
                 pipeline (per-sample torchvision transforms on PIL images, a DataLoader with 2 workers,
                 as in pytorch/examples' mnist/main.py) against mnistlib's (both splits as tensors on the
                 device, batches drawn by index, one affine_grid/grid_sample call per batch, channels_last)
  bench --seeds  the ways to train many seeds: one at a time, one process per core (study --jobs), K
                 stacked as one network (mnistlib.stack), K stacked in each process
  bench --study  what study --jobs gains: 5 seeds of iteration 5 in one process on all threads, then in
                 one process per core, timed end to end
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from ..data import FAST_IMAGES, MEAN, STD, load_mnist
from ..machine import tune
from ..mnist_files import prepare_root
from ..recipes import get_recipe
from ..stack import fit_many, stack
from ..train import EVAL_BATCH, fit


def bench(root, device: torch.device, epochs: int = 2, fast: bool = False) -> float:
    recipe = get_recipe("iteration3")
    print(f"bench: {recipe.name}, {epochs} epoch(s) each, device {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads{' (FAST MODE: a smoke test, not a measurement)' if fast else ''}")
    base = _baseline_epochs(root, device, epochs, recipe, fast)
    start = time.perf_counter()
    data = load_mnist(root, device, fast=fast)
    print(f"mnistlib  load to {device}: {time.perf_counter() - start:.2f} s (once)")
    run = fit(recipe, data, seed=0, epochs=epochs, progress=False, log=None)
    for h in run.history:
        print(f"mnistlib  epoch {h['epoch']}: {h['seconds']:6.2f} s  (test acc {h['test_acc']:.2f})")
    b, m = statistics.median(base), statistics.median(h["seconds"] for h in run.history)
    print(f"median seconds per epoch (train + test): baseline {b:.2f}, mnistlib {m:.2f}; "
          f"15 epochs: baseline {15 * b / 60:.1f} min, mnistlib {15 * m / 60:.1f} min")
    print(f"speed-up: {b / m:.2f}x")
    return b / m


def _baseline_epochs(root, device, epochs: int, recipe, fast: bool) -> list[float]:
    """The conventional pipeline (the same augmentation parameters, from the same recipe; fast: the
    first images only) and loop, with the conventional GPU settings (pinned memory, non-blocking
    copies, counts kept on the device until the epoch ends), so a GPU speed-up is not inflated."""
    from torchvision import datasets, transforms
    normalise = [transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))]
    augment = transforms.RandomAffine(recipe.rotate, translate=(recipe.translate, recipe.translate),
                                      scale=(1 - recipe.scale, 1 + recipe.scale) if recipe.scale else None)
    loaders = []
    for train, steps, batch in ((True, [augment, *normalise], recipe.batch_size), (False, normalise, EVAL_BATCH)):
        images = datasets.MNIST(prepare_root(root), train=train, transform=transforms.Compose(steps))
        loaders.append(DataLoader(Subset(images, range(FAST_IMAGES)) if fast else images, batch_size=batch,
                                  shuffle=train, num_workers=2, persistent_workers=train, pin_memory=device.type == "cuda"))
    train, test = loaders
    torch.manual_seed(0)
    model = recipe.build().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    seconds = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        for x, y in train:
            loss = F.cross_entropy(model(x.to(device, non_blocking=True)), y.to(device, non_blocking=True))
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


def bench_seeds(root, device: torch.device, names=("iteration4", "iteration5"), k: int = 5, processes: int = 2,
                epochs: int = 1, images: int | None = None, study: bool = False) -> dict:
    """Seconds per seed-epoch of the ways to train many seeds, measured side by side in one run: one
    at a time, `processes` at a time (study --jobs), K stacked in one process (mnistlib.stack), K
    stacked in each of `processes` processes; one thread per process, timed from when every process
    has its data. `study`: the ways `study` trains 5 seeds of iteration 5 instead, one process on
    `processes` threads or `processes` processes, each timed end to end (start-up and loading included)."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp
    jobs = f"{processes} processes (study --jobs {processes})"
    if study:  # each way: (processes, seeds in all, stacked?, threads per process)
        names, ways = ("iteration5",), {f"one at a time, {processes} threads": (1, 5, False, processes),
                                        jobs: (processes, 5, False, 1)}
    else:
        ways = {"one seed at a time": (1, 1, False, 1), jobs: (processes, processes, False, 1),
                f"{k} stacked, one process": (1, k, True, 1),
                f"{k} stacked x {processes} processes": (processes, k * processes, True, 1)}
    print(f"bench --{'study' if study else 'seeds'}: {', '.join(names)}, {epochs} epoch(s) of {images or 60_000:,} "
          f"training images, device {device}, torch {torch.__version__}")
    out = {}
    for name in names:
        for way, (procs, seeds, stacked, threads) in ways.items():
            start, procs = time.perf_counter(), min(procs, seeds)
            if procs == 1 and not study:  # in this process
                seconds = _train_seeds(root, name, list(range(seeds)), stacked, epochs, images, str(device), threads)
            else:
                with mp.Manager() as manager, ProcessPoolExecutor(procs, mp_context=mp.get_context("spawn")) as pool:
                    barrier = manager.Barrier(procs)
                    tasks = [pool.submit(_train_seeds, root, name, list(range(seeds))[p::procs], stacked, epochs,
                                         images, str(device), threads, barrier) for p in range(procs)]
                    seconds = max(task.result() for task in tasks)
            out[name, way] = (time.perf_counter() - start if study else seconds) / (seeds * epochs)
            print(f"{name}  {way:<34} {out[name, way]:6.2f} s per seed-epoch")
        base, rivals = ([*ways][0], [jobs]) if study else (jobs, [w for w in ways if ways[w][2]])
        best = min(rivals, key=lambda w: out[name, w])
        print(f"{name}  speed-up of {best} over {base}: {out[name, base] / out[name, best]:.2f}x")
    return out


def _train_seeds(root, name: str, seeds: list[int], stacked: bool, epochs: int, images: int | None, device: str,
                 threads: int, barrier=None) -> float:
    """One process of bench_seeds: train `seeds` (stacked as one network, or one after another) on
    `threads` threads; the seconds of their epochs, counted from when every process is ready."""
    torch.set_num_threads(threads)
    tune(torch.device(device))
    data = load_mnist(root, device, fast=False)
    data.train_x, data.train_y = data.train_x[:images], data.train_y[:images]
    recipe = get_recipe(name)
    if barrier is not None:
        barrier.wait()  # every process trains at the same time, as in a study
    if stacked:
        return sum(h["seconds"] for h in fit_many(recipe, data, seeds, epochs, progress=False, log=None)[0].history)
    return sum(h["seconds"] for s in seeds for h in fit(recipe, data, s, epochs, progress=False, log=None).history)


MOST_STACKED = 16  # the largest K choose_stack measures


def choose_stack(job, most: int, steps: int = 3) -> dict[int, float]:
    """Seconds per seed of one training step when K seeds are stacked, for K = 1..`most`, measured
    here (job.threads threads, random batches of the recipe's size): what stacking gains depends
    on the network and the device. A recipe with a teacher is trained one seed at a time."""
    if job.recipe.teacher or most <= 1:
        return {1: 0.0}
    if job.threads:
        torch.set_num_threads(job.threads)
    device, b, seconds = torch.device(job.device), job.recipe.batch_size, {}
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
