"""`python -m mnistlib bench`: training speed, the ways compared run one after the other on one machine.
`bench` times mnistlib's pipeline (both splits as tensors on the device, batches drawn by index, one
grid_sample call per batch) against the usual one (per-sample torchvision transforms on PIL images, a
DataLoader with 2 workers, as in pytorch/examples' mnist/main.py); `bench --seeds` the ways to train
many seeds (bench_seeds); choose_stack is study's own measurement of --stack."""
from __future__ import annotations

import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from ..data import FAST_IMAGES, MEAN, STD, load_mnist
from ..machine import tune
from ..mnist_files import read_mnist
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
        print(f"mnistlib  epoch {h['epoch']}: {h['seconds']:6.2f} s  (test acc {h['eval_acc']:.2f})")
    b, m = statistics.median(base), statistics.median(h["seconds"] for h in run.history)
    print(f"median seconds per epoch (train + test): baseline {b:.2f}, mnistlib {m:.2f}; "
          f"15 epochs: baseline {15 * b / 60:.1f} min, mnistlib {15 * m / 60:.1f} min")
    print(f"speed-up: {b / m:.2f}x")
    return b / m


def _baseline_epochs(root, device, epochs: int, recipe, fast: bool) -> list[float]:
    """The conventional pipeline (the same augmentation parameters, from the same recipe; fast: the
    first images only) and loop, with the conventional GPU settings (pinned memory, non-blocking
    copies, counts kept on the device until the epoch ends), so a GPU speed-up is not inflated."""
    from torchvision import transforms
    normalise = [transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))]
    augment = transforms.RandomAffine(recipe.rotate, translate=(recipe.translate, recipe.translate),
                                      scale=(1 - recipe.scale, 1 + recipe.scale) if recipe.scale else None)
    loaders, files = [], read_mnist(root)
    for train, steps, batch in ((True, [augment, *normalise], recipe.batch_size), (False, normalise, EVAL_BATCH)):
        images = PerSample(*files[:2] if train else files[2:], transforms.Compose(steps))
        loaders.append(DataLoader(Subset(images, range(FAST_IMAGES)) if fast else images, batch_size=batch,
                                  shuffle=train, num_workers=2, persistent_workers=train,
                                  pin_memory=device.type == "cuda"))
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


class PerSample(Dataset):
    """What torchvision's MNIST dataset serves: one sample at a time, a PIL image through the transforms."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image
        return self.transform(Image.fromarray(self.images[i].numpy())), int(self.labels[i])


def bench_seeds(root, device: torch.device, names=("iteration4", "iteration5"), k: int = 5, processes: int = 2,
                epochs: int = 1) -> dict:
    """Seconds per seed-epoch of the ways to train many seeds: one at a time, `processes` at a time
    (study --jobs), K stacked in one process (mnistlib.stack), K stacked in each process; one thread
    per process, timed from when every process has its data."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp
    jobs = f"{processes} processes (study --jobs {processes})"
    ways = {"one seed at a time": (1, 1, False), jobs: (processes, processes, False),  # (processes, seeds, stacked?)
            f"{k} stacked, one process": (1, k, True),
            f"{k} stacked x {processes} processes": (processes, k * processes, True)}
    print(f"bench --seeds: {', '.join(names)}, {epochs} epoch(s) of 60,000 training images, device {device}, "
          f"torch {torch.__version__}")
    out = {}
    for name in names:
        for way, (procs, seeds, stacked) in ways.items():
            procs = min(procs, seeds)
            if procs == 1:  # in this process
                seconds = _train_seeds(root, name, list(range(seeds)), stacked, epochs, str(device))
            else:
                with mp.Manager() as manager, ProcessPoolExecutor(procs, mp_context=mp.get_context("spawn")) as pool:
                    barrier = manager.Barrier(procs)
                    tasks = [pool.submit(_train_seeds, root, name, list(range(seeds))[p::procs], stacked, epochs,
                                         str(device), barrier) for p in range(procs)]
                    seconds = max(task.result() for task in tasks)
            out[name, way] = seconds / (seeds * epochs)
            print(f"{name}  {way:<34} {out[name, way]:6.2f} s per seed-epoch")
        best = min((w for w in ways if ways[w][2]), key=lambda w: out[name, w])
        print(f"{name}  speed-up of {best} over {jobs}: {out[name, jobs] / out[name, best]:.2f}x")
    return out


def _train_seeds(root, name: str, seeds: list[int], stacked: bool, epochs: int, device: str, barrier=None) -> float:
    """One process of bench_seeds, on one thread: the seconds of the epochs of `seeds`, stacked or one after another."""
    torch.set_num_threads(1)
    tune(torch.device(device))
    data = load_mnist(root, device, fast=False)
    recipe = get_recipe(name)
    if barrier is not None:
        barrier.wait()  # every process trains at the same time, as in a study
    if stacked:
        return sum(h["seconds"] for h in fit_many(recipe, data, seeds, epochs, progress=False, log=None)[0].history)
    return sum(h["seconds"] for s in seeds for h in fit(recipe, data, s, epochs, progress=False, log=None).history)


def choose_stack(job, seeds: int, jobs: int, steps: int = 3) -> int:
    """The K (seeds stacked per network) that trains `seeds` seeds soonest in `jobs` processes, from the
    seconds per seed of one training step measured here for each K on random batches: what stacking
    gains depends on the network and the device. A recipe with a teacher trains one seed at a time."""
    most = min(math.ceil(seeds / jobs), 16)
    if job.recipe.teacher or most <= 1:
        return 1
    if job.threads:
        torch.set_num_threads(job.threads)
    device, b, per_seed = torch.device(job.device), job.recipe.batch_size, {}
    for k in range(1, most + 1):
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
        per_seed[k] = (time.perf_counter() - start) / steps / k
    rounds = lambda k: math.ceil(seeds / (k * jobs))  # groups of k, `jobs` at a time
    best = min(per_seed, key=lambda k: rounds(k) * k * per_seed[k])
    print(f"--stack {best}: the fastest here for {seeds} seeds in {min(jobs, seeds)} process(es) "
          f"(ms per seed-step measured for K = 1..{most}: {', '.join(f'{1000 * t:.0f}' for t in per_seed.values())})")
    return best
