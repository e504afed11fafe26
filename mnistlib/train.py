"""The train/test loop: `fit(recipe, data, seed)` -> Run (model + per-epoch history).

Honest evaluation: the held-out split (the test set, or the validation split when choosing
between recipes) is only ever *measured* after each epoch; nothing here picks an epoch or a
model by it. A run's headline number is its final-epoch accuracy.

Fast mode is a property of the data (`data.fast`, see mnistlib.data.load_mnist): on fast data,
`fit` trains one epoch by default, and its record and figures say so.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .data import Batches, MNISTTensors
from . import distil
from .distil import Teacher, distillation_loss
from .errors import Refusal
from .machine import environment, keep_freed_memory, set_determinism
from .models import count_params
from .notebook import in_notebook, replace_bars_by_text
from .recipes import Recipe, teacher_recipes

SCHEMA = 2  # run records: 2 = whole recipe, epochs asked, command, environment
EVAL_BATCH = 1000  # images per forward pass when measuring (no gradients kept)
POSTFIX_EVERY = 50  # steps between progress-bar updates (each one syncs with the device)


def default_epochs(recipe: Recipe, fast: bool) -> int:
    """The epochs a run trains unless told otherwise: the recipe's, or 1 on fast-mode data."""
    return 1 if fast else recipe.epochs


@dataclass
class Run:
    recipe: Recipe
    seed: int
    model: nn.Module
    epochs_asked: int
    fast: bool = False                 # trained on fast-mode data: not a result
    split: str = "test"                # the held-out split measured: "test" or "validation" (records: evaluated_on)
    history: list[dict] = field(default_factory=list)
    interrupted: bool = False
    diverged: bool = False             # stopped at an epoch whose loss was not finite
    command: list[str] | None = None   # the command line that made it, if any
    environment: dict = field(default_factory=dict)  # the machine and libraries (mnistlib.machine.environment)
    teacher: list[dict] = field(default_factory=list)  # what it learnt from, if anything (Teacher.summary)
    stacked: list[int] = field(default_factory=list)  # the seeds it was trained with as one network (mnistlib.stack)

    @property
    def final_acc(self) -> float | None:
        return self.history[-1]["test_acc"] if self.history else None

    @property
    def best_acc(self) -> float | None:
        """Shown only beside the final-epoch number, never as the result: picking the best
        epoch by its held-out accuracy uses that split for model selection."""
        return max(h["test_acc"] for h in self.history) if self.history else None

    def record(self) -> dict:
        """The JSON run record, schema 2 (accuracies in percent; `test_*` measure `evaluated_on`,
        the held-out split)."""
        return {
            "schema": SCHEMA,
            "iteration": self.recipe.name,
            "params": count_params(self.model),
            "seed": self.seed,
            "evaluated_on": self.split,
            "epochs_asked": self.epochs_asked,
            "epochs": len(self.history),
            "interrupted": self.interrupted,
            "diverged": self.diverged,
            "fast_mode": self.fast,
            "recipe": self.recipe.to_dict(),
            "command": self.command,
            "environment": self.environment,
            "history": [{k: v if math.isfinite(v) else None for k, v in h.items()} for h in self.history],  # strict JSON
            "final_test_acc": self.final_acc,
            "best_test_acc": self.best_acc,
            **({"teacher": self.teacher} if self.teacher else {}),
            **({"stacked": self.stacked} if self.stacked else {}),
        }


def train_epoch(model, batches, optimizer, desc: str = "train", progress: bool = True,
                label_smoothing: float = 0.0, batch_schedule=None, teacher: Teacher | None = None,
                temperature: float = 4.0, soft_weight: float = 0.7):
    """One pass over `batches`; returns (mean loss, accuracy %) on the (augmented) batches.
    `batch_schedule`, if given, is an LR scheduler stepped after every batch. With a `teacher`,
    the loss is mnistlib.distil.distillation_loss on the same augmented batch."""
    model.train()
    loss_sum = torch.zeros((), device=batches.x.device)
    correct = torch.zeros((), device=batches.x.device, dtype=torch.long)
    seen = 0
    bar = tqdm(batches, desc=desc, leave=False, disable=not progress, unit="batch")
    for step, (x, y) in enumerate(bar, 1):
        logits = model(x)
        if teacher is None:
            loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        else:
            loss = distillation_loss(logits, y, teacher.soft_targets(x, temperature), temperature, soft_weight,
                                     label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if batch_schedule is not None:
            batch_schedule.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        if progress and step % POSTFIX_EVERY == 0:
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", acc=f"{100 * correct.item() / seen:.2f}")
    return loss_sum.item() / seen, 100 * correct.item() / seen  # the epoch's sync with the device


@torch.inference_mode()
def predict(model, x, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Logits for every image in x, in eval mode."""
    model.eval()
    return torch.cat([model(xb) for xb in x.split(batch_size)])


def evaluate(model, x, y):
    """(mean loss, accuracy %) of the model on (x, y)."""
    logits = predict(model, x)
    loss = F.cross_entropy(logits, y, reduction="sum").item() / len(y)
    return loss, 100 * (logits.argmax(1) == y).sum().item() / len(y)


def make_schedule(recipe: Recipe, optimizer, epochs: int, steps_per_epoch: int):
    """(scheduler, per_batch): MultiStepLR stepped per epoch, or OneCycleLR stepped per batch."""
    if recipe.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, epochs=epochs,
                                                   steps_per_epoch=steps_per_epoch), True
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(recipe.milestones), recipe.gamma), False


def fit(recipe: Recipe, data: MNISTTensors, seed: int = 0, epochs: int | None = None,
        progress: bool = True, log=tqdm.write, on_epoch=None, deterministic: bool = False,
        command: list[str] | None = None, teacher: Teacher | None = None) -> Run:
    """Train `recipe` from scratch on `data` (already on its device) and measure its held-out
    split after each epoch. `epochs`: default the recipe's, or 1 on fast-mode data.

    Ctrl-C stops cleanly: the Run comes back with the epochs finished so far and
    `interrupted=True`. `on_epoch(run)` is called after each epoch (the CLI saves there).
    `log` gets one compact line per epoch (None: silent). `deterministic`: see set_determinism.
    In a notebook the live progress bars are replaced, when training ends, by the epoch lines
    as plain text: what the notebook stores reads the same everywhere, with no widget state.
    A recipe with a teacher needs it given: `teacher=get_teacher(recipe, data, seed)`.
    """
    check_teacher(recipe, data, seed, teacher)
    if epochs is None:
        epochs = default_epochs(recipe, data.fast)
    if epochs < 1:
        raise Refusal(f"epochs must be at least 1, got {epochs}")
    if data.device.type == "cpu":
        keep_freed_memory()
    set_determinism(data.device, deterministic)
    torch.manual_seed(seed)  # weights (initialised on the CPU, so the same on every device) and dropout
    # channels_last: oneDNN's faster convolution and pooling kernels on CPU (measured; on CUDA
    # these fp32 convs with 4-16 channels gain nothing from it, and lose nothing either)
    model = recipe.build().to(data.device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    batches = Batches(data.train_x, data.train_y, recipe.batch_size, seed, recipe.rotate, recipe.translate,
                      recipe.scale)
    schedule, per_batch = make_schedule(recipe, optimizer, epochs, len(batches))
    run = Run(recipe, seed, model, epochs, data.fast, data.split, command=command, environment=environment(data.device),
              teacher=teacher.summary() if teacher else [])
    lines: list[str] = []  # what was logged: in a notebook, it replaces the bars at the end

    def say(line: str) -> None:
        lines.append(line)
        if log:
            log(line)

    epoch_bar = tqdm(range(1, epochs + 1), desc=recipe.name + (" (FAST MODE)" if data.fast else ""), unit="epoch",
                     disable=not progress)
    try:
        for epoch in epoch_bar:
            start, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
            train_loss, train_acc = train_epoch(model, batches, optimizer, f"epoch {epoch}", progress,
                                                recipe.label_smoothing, schedule if per_batch else None,
                                                teacher, recipe.temperature, recipe.soft_weight)
            test_loss, test_acc = evaluate(model, data.eval_x, data.eval_y)
            if not per_batch:
                schedule.step()
            run.history.append({
                "epoch": epoch, "train_loss": round(train_loss, 6), "train_acc": round(train_acc, 4),
                "test_loss": round(test_loss, 6), "test_acc": round(test_acc, 4),
                "lr": lr, "seconds": round(time.perf_counter() - start, 3),
            })
            epoch_bar.set_postfix(test_acc=f"{test_acc:.2f}")
            say(format_epoch(run.history[-1], data.split, data.fast))
            if not (math.isfinite(train_loss) and math.isfinite(test_loss)):
                run.diverged = True
                say(f"diverged: the loss is no longer finite at epoch {epoch}; stopping (a lower lr may help)")
                break
            if on_epoch:
                on_epoch(run)
    except KeyboardInterrupt:
        run.interrupted = True
        say(f"interrupted: keeping the {len(run.history)} finished epoch(s)")
    finally:
        epoch_bar.close()
        if progress and log and in_notebook():
            replace_bars_by_text(lines)
    return run


def check_teacher(recipe: Recipe, data: MNISTTensors, seed: int, teacher: Teacher | None) -> None:
    """A student gets the teacher its recipe names, of its seed rule, kept from the same held-out
    split and trained on its own training images; a recipe without a teacher gets none."""
    if not recipe.teacher:
        if teacher is not None:
            raise Refusal(f"{recipe.name} has no teacher in its recipe; set one with "
                          "replace(recipe, teacher=('iteration4',))")
        return
    if teacher is None:
        raise Refusal(f"{recipe.name} learns from {', '.join(recipe.teacher)}: pass "
                      "teacher=ml.get_teacher(recipe, data, seed)")
    if [r["recipe"]["name"] for r in teacher.records] != list(recipe.teacher):
        raise Refusal(f"the teacher given is {[r['recipe']['name'] for r in teacher.records]}, the recipe's is "
                      f"{list(recipe.teacher)}")
    if [r["seed"] for r in teacher.records] != [seed + i for i in range(len(teacher.records))]:
        raise Refusal(f"the teacher given has seeds {[r['seed'] for r in teacher.records]}; a student of seed {seed} "
                      f"learns from seeds {[seed + i for i in range(len(teacher.records))]}: "
                      "get_teacher(recipe, data, seed) gives them")
    if (teacher.split, teacher.train_images) != (data.split, len(data.train_x)):
        raise Refusal(f"the teacher learnt from {teacher.train_images:,} images with the {teacher.split} split "
                      f"held out; this student holds out the {data.split} split ({len(data.train_x):,} training "
                      "images): a teacher that saw the student's held-out images would leak them")


def get_teacher(recipe: Recipe, data: MNISTTensors, seed: int = 0, cache_dir: Path | None = None,
                progress: bool = True, log=tqdm.write, deterministic: bool = False) -> Teacher | None:
    """The teacher of `recipe` for the student of `seed`: member i is its registered recipe trained
    from scratch with seed `seed + i` on the student's own training images (`data.train_x`: the
    first 50,000 in a validation run), or loaded from where that exact training was kept before
    (`cache_dir`, default runs/teachers/). None if it was interrupted (Ctrl-C) before it was whole."""
    cache_dir, log = Path(cache_dir or distil.TEACHERS_DIR), log or (lambda line: None)
    members, records = [], []
    try:
        for i, member in enumerate(teacher_recipes(recipe)):
            member_seed, epochs = seed + i, default_epochs(member, data.fast)
            path = distil.teacher_path(member, member_seed, data, epochs, deterministic, cache_dir)
            with distil.locked(path, log):
                if path.exists():
                    model, record = distil.load_member(member, path, data.device)
                    log(f"teacher {member.name} seed {member_seed}: trained before ({record['epochs']} epochs), its "
                        f"{data.split} acc {record['final_test_acc']:.2f}%; kept in {distil.where(path)}")
                else:
                    run = fit(member, data, member_seed, progress=progress, deterministic=deterministic,
                              log=lambda line, s=member_seed: log(f"teacher {member.name} seed {s}: {line}"))
                    if run.interrupted:
                        return None
                    if run.diverged:
                        raise Refusal(f"teacher {member.name} seed {member_seed} diverged; no student learns from it")
                    model, record = run.model.eval(), run.record()
                    try:
                        distil.save_member(model, record, path)
                    except OSError as e:  # e.g. a full disk: the student still learns from it, it is just not kept
                        log(f"teacher {member.name} seed {member_seed}: cannot keep it in {distil.where(path)} "
                            f"({e.strerror or e}); it is used now and trained again next time")
            members.append(model)
            records.append(record)
    except KeyboardInterrupt:  # while waiting for another process's teacher, or loading one
        return None
    return Teacher(members, records, data.split, len(data.train_x))


def format_epoch(h: dict, split: str = "test", fast: bool = False) -> str:
    return (f"epoch {h['epoch']:>2}  lr {h['lr']:<8.2g} train loss {h['train_loss']:.4f} acc {h['train_acc']:6.2f}"
            f"  {'val' if split == 'validation' else 'test'} loss {h['test_loss']:.4f} acc {h['test_acc']:6.2f}  {h['seconds']:6.1f}s"
            + ("  (FAST MODE: not a result)" if fast else ""))
