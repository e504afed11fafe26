"""Many seeds at once: K runs of one recipe trained as one grouped network.

A convolution with `groups=K` is K convolutions side by side, each reading only its own slice
of the channels. Stack K copies of a network that way (every conv K*c_in -> K*c_out with
groups=K; every BatchNorm over K*C channels, which is per channel anyway; pooling, ReLU and
dropout act per channel already) and feed seed k's images in as input channel k: seed k is
then its own run, with its initial weights, its batches and augmentations, its BatchNorm
statistics, its loss, and SGD (elementwise) moves its weights as its single run would. One
pass computes all K, which fills a core that one network of a few thousand parameters leaves
mostly idle. Only dropout differs: its masks are drawn for all K at once (independent per
seed, at the same rate, but not the single run's masks).

    model = stack([seeded(recipe, s) for s in seeds])   # one nn.Sequential, K networks wide
    net = unstack(model, recipe, k)                     # seed k's network, as recipe.build() gives
    runs = fit_many(recipe, data, seeds)                # one Run per seed, as fit(recipe, data, seed)
"""
from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .data import Batches, MNISTTensors
from .errors import Refusal
from .machine import environment
from .models import NUM_CLASSES
from .recipes import Recipe
from . import train
from .train import Log, Run, default_epochs, format_epoch, make_schedule


def seeded(recipe: Recipe, seed: int) -> nn.Sequential:
    """The network `fit(recipe, data, seed)` starts from: its weights drawn after manual_seed(seed)."""
    torch.manual_seed(seed)
    return recipe.build()


def stack(nets: list[nn.Sequential]) -> nn.Sequential:
    """One network computing `nets` (the same layer list, K of them) side by side."""
    k = len(nets)
    layers = []
    for same in zip(*nets):
        first = same[0]
        if isinstance(first, nn.Conv2d):
            layer = nn.Conv2d(k * first.in_channels, k * first.out_channels, first.kernel_size,
                              padding=first.padding, groups=k, bias=False)
        elif isinstance(first, nn.BatchNorm2d):
            layer = nn.BatchNorm2d(k * first.num_features)
        else:  # ReLU, MaxPool2d, Dropout, AdaptiveAvgPool2d, Flatten: no weights, per channel
            layers.append(copy.deepcopy(first))
            continue
        with torch.no_grad():
            for name, tensor in [*layer.named_parameters(), *layer.named_buffers()]:
                parts = [getattr(m, name) for m in same]
                tensor.copy_(parts[0] if tensor.dim() == 0 else torch.cat(parts))  # num_batches_tracked: shared
        layers.append(layer)
    return nn.Sequential(*layers)


def unstack(model: nn.Sequential, recipe: Recipe, k: int) -> nn.Sequential:
    """Seed k's network out of a stacked `model`, as an ordinary `recipe.build()` network."""
    net = recipe.build()
    with torch.no_grad():
        for one, many in zip(net, model):
            for name, tensor in [*one.named_parameters(), *one.named_buffers()]:
                whole = getattr(many, name)
                tensor.copy_(whole if tensor.dim() == 0 else whole[k * len(tensor):(k + 1) * len(tensor)])
    return net.to(next(model.parameters()).device)


def train_epoch(model, batches: list[Batches], optimizer, label_smoothing: float = 0.0, scheduler=None,
                desc: str = "train", progress: bool = True):
    """One pass of K seeds, seed k over its own `batches[k]`; returns per seed (mean losses,
    accuracies %) on the (augmented) batches, as K tensors."""
    model.train()
    k = len(batches)
    loss_sum = torch.zeros(k, device=batches[0].x.device)
    correct = torch.zeros(k, device=batches[0].x.device, dtype=torch.long)
    seen = 0
    for pairs in tqdm(zip(*batches), total=len(batches[0]), desc=desc, leave=False, disable=not progress,
                      unit="batch"):
        x = torch.cat([xb for xb, _ in pairs], 1)                      # (B, K, 28, 28): seed k in channel k
        y = torch.stack([yb for _, yb in pairs], 1)                    # (B, K)
        logits = model(x).view(len(y), k, NUM_CLASSES).transpose(1, 2)  # (B, 10, K)
        losses = F.cross_entropy(logits, y, reduction="none", label_smoothing=label_smoothing).mean(0)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # each seed's weights get the gradient of its own loss only
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += losses.detach() * len(y)
        correct += (logits.argmax(1) == y).sum(0)
        seen += len(y)
    return loss_sum.cpu().double() / seen, 100 * correct.cpu().double() / seen


def fit_many(recipe: Recipe, data: MNISTTensors, seeds: list[int], epochs: int | None = None,
             progress: bool = True, log=tqdm.write, on_epoch=None) -> list[Run]:
    """Train `recipe` once per seed, all seeds as one stacked network: a Run per seed, as `fit`
    gives it (its own network, `unstack`ed, and history). Ctrl-C keeps every seed's finished
    epochs; a seed whose loss stops being finite stops there, the others go on. `on_epoch(runs)`
    is called after each epoch."""
    if recipe.teacher:
        raise Refusal(f"{recipe.name} learns from a teacher: train it with fit(), one seed at a time")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise Refusal(f"seeds must be distinct and at least one, got {seeds}")
    epochs = default_epochs(recipe, data.fast) if epochs is None else epochs
    if epochs < 1:
        raise Refusal(f"epochs must be at least 1, got {epochs}")
    k = len(seeds)
    model = stack([seeded(recipe, s) for s in seeds]).to(data.device, memory_format=torch.channels_last)
    torch.manual_seed(seeds[0])  # dropout's masks
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    batches = [Batches(data.train_x, data.train_y, recipe.batch_size, s, recipe.rotate, recipe.translate,
                       recipe.scale) for s in seeds]
    scheduler = make_schedule(recipe, optimizer, epochs, len(batches[0]))
    env = environment(data.device)
    runs = [Run(recipe, s, recipe.build(), epochs, data.fast, data.split, environment=env, stacked=list(seeds))
            for s in seeds]
    say = Log(log, progress)
    name = f"{recipe.name} x{k} seeds" + (" (FAST MODE)" if data.fast else "")
    epoch_bar = tqdm(range(1, epochs + 1), desc=name, unit="epoch", disable=not progress)
    try:
        for epoch in epoch_bar:
            start, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
            train_loss, train_acc = train_epoch(model, batches, optimizer, recipe.label_smoothing, scheduler,
                                                f"epoch {epoch}", progress)
            live = [(i, run) for i, run in enumerate(runs) if not run.diverged]  # the diverged keep their last net
            for i, run in live:  # each seed's network, measured alone (a stacked pass is no faster, measured)
                run.model = unstack(model, recipe, i).to(memory_format=torch.channels_last)
            measured = [train.evaluate(run.model, data.eval_x, data.eval_y) for _, run in live]
            seconds = round(time.perf_counter() - start, 3)  # the stacked epoch's, shared by its K seeds
            for (i, run), evaluated in zip(live, measured):
                run.add_epoch(epoch, lr, seconds, (train_loss[i].item(), train_acc[i].item()), evaluated)
                if run.diverged:
                    say(f"seed {run.seed} diverged: the loss is no longer finite at epoch {epoch}; it stops there")
            accs = [r.history[-1]["eval_acc"] for r in runs if not r.diverged]
            epoch_bar.set_postfix({f"{train.short(data.split)}_acc": f"{sum(accs) / max(len(accs), 1):.2f}"})
            say(format_many(runs, epoch, data.split, data.fast))
            if on_epoch:
                on_epoch(runs)
            if all(r.diverged for r in runs):
                break
    except KeyboardInterrupt:
        for run in runs:
            run.interrupted = not run.diverged
        say(f"interrupted: keeping the finished epochs of {k} seeds")
    finally:
        epoch_bar.close()
        say.replace_bars()
    return runs  # each run's network is the one of its last finished epoch


def format_many(runs: list[Run], epoch: int, split: str, fast: bool) -> str:
    """One line per epoch: the mean over the seeds still training, then each one's evaluation accuracy."""
    done = [r.history[-1] for r in runs if r.history and r.history[-1]["epoch"] == epoch]
    if not done:
        return f"epoch {epoch:>2}: every seed has diverged"
    mean = {key: sum(h[key] for h in done) / len(done) for key in done[0]}
    accs = " ".join(f"{h['eval_acc']:.2f}" for h in done)
    return f"{format_epoch({**mean, 'epoch': epoch}, split, fast)}  (mean of {len(done)}: {accs})"
