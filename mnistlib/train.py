"""The train/test loop: `fit(recipe, data, seed)` -> Run (model + per-epoch history).

Honest evaluation: the evaluation split (the test set, or the validation split when choosing
between recipes) is only *measured* after each epoch; nothing here picks an epoch or a model by
it. A run's headline is its final-epoch accuracy, and `why_not_a_result` is the one rule for
which runs count: whole, full-mode, on the split asked, of the registered recipe.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .data import Batches, MNISTTensors
from .errors import Refusal
from .machine import environment
from .models import count_params
from .notebook import in_notebook, replace_bars_by_text
from .recipes import Recipe, changes

SCHEMA = 3  # run records: 2 = whole recipe, epochs asked, command, environment; 3 = eval_*, final_acc, best_acc
EVAL_BATCH = 1000  # images per forward pass when measuring (no gradients kept)
POSTFIX_EVERY = 50  # steps between progress-bar updates (each one syncs with the device)


def default_epochs(recipe: Recipe, fast: bool) -> int:
    """The epochs a run trains unless told otherwise: the recipe's, or 1 on fast-mode data."""
    return 1 if fast else recipe.epochs


class Log(list):
    """The lines a training logs, each passed on to `log` (None: silent) and kept: in a notebook
    they replace the live progress bars when it ends, so the stored notebook reads the same everywhere."""

    def __init__(self, log, progress: bool):
        super().__init__()
        self.log, self.progress = log, progress

    def __call__(self, line: str) -> None:
        self.append(line)
        if self.log:
            self.log(line)

    def replace_bars(self) -> None:
        if self.progress and self.log and in_notebook():
            replace_bars_by_text(self)


@dataclass
class Run:
    recipe: Recipe
    seed: int
    model: nn.Module
    epochs_asked: int
    fast: bool = False                 # trained on fast-mode data: not a result
    split: str = "test"                # the evaluation split measured: "test" or "validation" (records: evaluated_on)
    history: list[dict] = field(default_factory=list)
    interrupted: bool = False
    diverged: bool = False             # stopped at an epoch whose loss was not finite
    command: list[str] | None = None   # the command line that made it, if any
    environment: dict = field(default_factory=dict)  # the machine and libraries (mnistlib.machine.environment)
    teacher: list[dict] = field(default_factory=list)  # what it learnt from, if anything (Teacher.provenance)
    stacked: list[int] = field(default_factory=list)  # the seeds it was trained with as one network (mnistlib.stack)

    @property
    def final_acc(self) -> float | None:
        return self.history[-1]["eval_acc"] if self.history else None

    @property
    def best_acc(self) -> float | None:
        """Shown only beside the final-epoch number, never as the result: picking the best
        epoch by its evaluation accuracy uses that split for model selection."""
        return max(h["eval_acc"] for h in self.history) if self.history else None

    def add_epoch(self, epoch: int, lr: float, seconds: float, trained: tuple, measured: tuple) -> None:
        """One epoch's (loss, accuracy %) on the training batches and on the evaluation split; a loss
        that is no longer finite marks the run diverged."""
        (train_loss, train_acc), (eval_loss, eval_acc) = trained, measured
        self.history.append({"epoch": epoch, "train_loss": round(train_loss, 6), "train_acc": round(train_acc, 4),
                             "eval_loss": round(eval_loss, 6), "eval_acc": round(eval_acc, 4), "lr": lr,
                             "seconds": seconds})
        self.diverged = not (math.isfinite(train_loss) and math.isfinite(eval_loss))

    def record(self) -> dict:
        """The JSON run record (accuracies in percent; `eval_*`, `final_acc` and `best_acc` measure
        `evaluated_on`, the evaluation split)."""
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
            "history": [{k: v if math.isfinite(v) else None for k, v in h.items()} for h in self.history],  # no NaN
            "final_acc": self.final_acc,
            "best_acc": self.best_acc,
            **({"teacher": self.teacher} if self.teacher else {}),
            **({"stacked": self.stacked} if self.stacked else {}),
        }


def cross_entropy(label_smoothing: float = 0.0):
    """The usual loss, as train_epoch takes it: loss_fn(logits, y, x) (x is there for a teacher,
    which answers on the same augmented images: mnistlib.distil.Teacher.loss)."""
    return lambda logits, y, x: F.cross_entropy(logits, y, label_smoothing=label_smoothing)


def train_epoch(model, batches, optimizer, loss_fn, scheduler=None, desc: str = "train", progress: bool = True):
    """One pass over `batches`, the scheduler stepped after every batch: (mean loss, accuracy %) on them."""
    model.train()
    loss_sum = torch.zeros((), device=batches.x.device)
    correct = torch.zeros((), device=batches.x.device, dtype=torch.long)
    seen = 0
    bar = tqdm(batches, desc=desc, leave=False, disable=not progress, unit="batch")
    for step, (x, y) in enumerate(bar, 1):
        logits = model(x)
        loss = loss_fn(logits, y, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        if progress and step % POSTFIX_EVERY == 0:
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", acc=f"{100 * correct.item() / seen:.2f}")
    return loss_sum.item() / seen, 100 * correct.item() / seen  # the epoch's sync with the device


@torch.inference_mode()
def predict(model, x) -> torch.Tensor:
    """Logits for every image in x, in eval mode."""
    model.eval()
    return torch.cat([model(xb) for xb in x.split(EVAL_BATCH)])


def evaluate(model, x, y):
    """(mean loss, accuracy %) of the model on (x, y)."""
    logits = predict(model, x)
    loss = F.cross_entropy(logits, y, reduction="sum").item() / len(y)
    return loss, 100 * (logits.argmax(1) == y).sum().item() / len(y)


def make_schedule(recipe: Recipe, optimizer, epochs: int, steps_per_epoch: int):
    """The recipe's LR schedule, stepped after every batch: OneCycleLR, or MultiStepLR with its
    milestone epochs counted in batches (the LR changes when epoch m ends, as stepping per epoch)."""
    if recipe.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, epochs=epochs,
                                                   steps_per_epoch=steps_per_epoch)
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, [m * steps_per_epoch for m in recipe.milestones],
                                                recipe.gamma)


def fit(recipe: Recipe, data: MNISTTensors, seed: int = 0, epochs: int | None = None,
        progress: bool = True, log=tqdm.write, on_epoch=None, teacher=None) -> Run:
    """Train `recipe` from scratch on `data` (already on its device), measuring its evaluation split
    after each epoch. `epochs`: default the recipe's, or 1 on fast-mode data. Ctrl-C stops cleanly:
    the Run keeps the finished epochs, `interrupted=True`. `on_epoch(run)` after each epoch (the
    CLI saves there); `log` gets a line per epoch (None: silent). A recipe with a teacher learns
    from the one given: `teacher=ml.get_teacher(recipe, data, seed)` (mnistlib.distil)."""
    if recipe.teacher and teacher is None:
        raise Refusal(f"{recipe.name} learns from {', '.join(recipe.teacher)}: pass "
                      "teacher=ml.get_teacher(recipe, data, seed)")
    if teacher is not None:
        teacher.check(recipe, data, seed)
    if epochs is None:
        epochs = default_epochs(recipe, data.fast)
    if epochs < 1:
        raise Refusal(f"epochs must be at least 1, got {epochs}")
    torch.manual_seed(seed)  # weights (initialised on the CPU, so the same on every device) and dropout
    # channels_last: oneDNN's faster convolution and pooling kernels on CPU (measured; on CUDA
    # these fp32 convs with 4-16 channels gain nothing from it, and lose nothing either)
    model = recipe.build().to(data.device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    batches = Batches(data.train_x, data.train_y, recipe.batch_size, seed, recipe.rotate, recipe.translate,
                      recipe.scale)
    scheduler = make_schedule(recipe, optimizer, epochs, len(batches))
    loss_fn = teacher.loss(recipe) if teacher else cross_entropy(recipe.label_smoothing)
    run = Run(recipe, seed, model, epochs, data.fast, data.split, environment=environment(data.device),
              teacher=teacher.provenance() if teacher else [])
    say = Log(log, progress)
    epoch_bar = tqdm(range(1, epochs + 1), desc=recipe.name + (" (FAST MODE)" if data.fast else ""), unit="epoch",
                     disable=not progress)
    try:
        for epoch in epoch_bar:
            start, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
            trained = train_epoch(model, batches, optimizer, loss_fn, scheduler, f"epoch {epoch}", progress)
            measured = evaluate(model, data.eval_x, data.eval_y)
            run.add_epoch(epoch, lr, round(time.perf_counter() - start, 3), trained, measured)
            epoch_bar.set_postfix({f"{short(data.split)}_acc": f"{measured[1]:.2f}"})
            say(format_epoch(run.history[-1], data.split, data.fast))
            if run.diverged:
                say(f"diverged: the loss is no longer finite at epoch {epoch}; stopping (a lower lr may help)")
                break
            if on_epoch:
                on_epoch(run)
    except KeyboardInterrupt:
        run.interrupted = True
        say(f"interrupted: keeping the {len(run.history)} finished epoch(s)")
    finally:
        epoch_bar.close()
        say.replace_bars()
    return run


def short(split: str) -> str:
    """How an epoch line names the evaluation split: val or test."""
    return "val" if split == "validation" else "test"


def format_epoch(h: dict, split: str = "test", fast: bool = False) -> str:
    return (f"epoch {h['epoch']:>2}  lr {h['lr']:<8.2g} train loss {h['train_loss']:.4f} acc {h['train_acc']:6.2f}"
            f"  {short(split)} loss {h['eval_loss']:.4f} acc {h['eval_acc']:6.2f}  {h['seconds']:6.1f}s"
            + ("  (FAST MODE: not a result)" if fast else ""))


def why_not_a_result(record, split: str = "test", registered: bool = True) -> str | None:
    """The one rule for what counts as a result, for a record (dict) or a Run: None for a whole run
    on `split` of today's registered recipe (registered=False: of any recipe, e.g. a variant on the
    validation split); else why not, in one line."""
    if not isinstance(record, dict):
        record = record.record()
    why = why_not_whole(record, split) or _why_not_its_teacher(record, registered)
    if why or not registered:
        return why
    diff, name = changes(record["recipe"]), record["recipe"]["name"]
    if diff is None:
        return f"NOT REGISTERED: {name} is no iteration of today's registry"
    return f"A VARIANT of {name}: not its registered recipe" if diff else None


def why_not_whole(record: dict, split: str = "test") -> str | None:
    """Why a record is no whole run on `split`, if it is not: such a run is no result of any recipe."""
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
    return None


def teacher_mismatch(members: list[dict], names, seed: int, split: str) -> str | None:
    """The one rule for a student's teacher (members as Teacher.provenance gives them), for `fit` and
    for a record: the members its recipe `names`, with seeds seed, seed + 1, ..., each trained for the
    student's own evaluation split. Why not, if not."""
    got, asked = [(m["iteration"], m["seed"]) for m in members], [(n, seed + i) for i, n in enumerate(names)]
    if got != asked:
        return f"NOT ITS TEACHER: learnt from {got}, its recipe asks for {asked}"
    for m in members:
        if m["evaluated_on"] != split:
            return (f"TEACHER ON ANOTHER SPLIT: {m['iteration']} seed {m['seed']} was trained for the "
                    f"{m['evaluated_on']} split, the student is measured on the {split} split (a teacher that saw "
                    "the student's evaluation images would leak them)")
    return None


def _why_not_its_teacher(record: dict, registered: bool) -> str | None:
    """Why the teacher a record names is not the one its recipe asks for, or was not trained whole,
    or, if `registered`, not from today's registered recipes."""
    members = record.get("teacher", [])
    why = teacher_mismatch(members, record["recipe"].get("teacher", ()), record["seed"], record["evaluated_on"])
    if why:
        return f"{why}, not a result"
    for m in members:
        if m["epochs"] != m["recipe"]["epochs"]:
            return (f"TEACHER NOT WHOLE: {m['iteration']} seed {m['seed']} trained {m['epochs']} epochs, its recipe "
                    f"{m['recipe']['epochs']}, not a result")
        if registered and changes(m["recipe"]) != {}:
            return (f"A VARIANT TEACHER: {m['iteration']} seed {m['seed']} is not today's registered recipe, "
                    "not a result")
    return None
