"""Learning from a teacher (knowledge distillation: Hinton, Vinyals & Dean 2015).

A trained network's outputs, softened by a temperature T, say more than the label does: that
this 7 looks a little like a 1 and not at all like a 0. A small student learns from both:

    loss = (1 - w) * CE(student, label) + w * T^2 * KL(teacher at T || student at T)

The T^2 keeps the soft term's gradients the size of the hard term's whatever T is (their
section 2). With w = 0 the student trains exactly as without a teacher (tested). `get_teacher`
trains each member (several: an ensemble) or loads it from runs/teachers/, where a member is kept
under its recipe, seed, split and training images: a teacher is never reused for another split.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

try:
    import fcntl  # POSIX
except ImportError:  # Windows: no lock; two processes may then train the same member twice
    fcntl = None

from .data import MNISTTensors
from .errors import Refusal
from .paths import ROOT, USER_RUNS_DIR
from .recipes import Recipe, teacher_recipes
from .train import Log, default_epochs, fit, teacher_mismatch

TEACHERS_DIR = USER_RUNS_DIR / "teachers"  # trained teacher members (ignored by git; a cache, not evidence)


def distillation_loss(logits, y, teacher_probs, temperature: float, soft_weight: float,
                      label_smoothing: float = 0.0) -> torch.Tensor:
    """(1 - w) x cross-entropy with the labels + w x T^2 x KL(teacher's soft targets || the
    student's softened outputs), averaged over the batch."""
    hard = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    soft = F.kl_div(F.log_softmax(logits / temperature, dim=1), teacher_probs, reduction="batchmean")
    return (1 - soft_weight) * hard + soft_weight * temperature ** 2 * soft


@dataclass
class Teacher:
    members: list[nn.Module]  # trained networks, in eval mode
    records: list[dict]       # each member's own run record (recipe, seed, split, history)
    split: str                # the evaluation split its members were trained for
    train_images: int         # how many training images it learnt from (the student's own)

    @torch.no_grad()  # not inference_mode: the loss keeps these targets for its backward pass
    def soft_targets(self, x: torch.Tensor, temperature: float) -> torch.Tensor:
        """The members' mean class probabilities at `temperature` for the batch x."""
        probs = sum(F.softmax(m.eval()(x) / temperature, dim=1) for m in self.members)
        return probs / len(self.members)

    def loss(self, recipe):
        """The student's loss_fn (as mnistlib.train.train_epoch takes it): distillation_loss with
        this teacher's soft targets for the same augmented batch, at the recipe's T and w."""
        T, w = recipe.temperature, recipe.soft_weight
        return lambda logits, y, x: distillation_loss(logits, y, self.soft_targets(x, T), T, w, recipe.label_smoothing)

    def check(self, recipe, data, seed: int) -> None:
        """A teacher for `recipe`'s student of `seed` on `data`: by the one rule (train.teacher_mismatch),
        and trained on the student's own images."""
        if not recipe.teacher:
            raise Refusal(f"{recipe.name} has no teacher in its recipe; set one with "
                          "replace(recipe, teacher=('iteration4',))")
        why = teacher_mismatch(self.provenance(), recipe.teacher, seed, data.split)
        if why:
            raise Refusal(f"{why}: get_teacher(recipe, data, seed) gives its teacher")
        if self.train_images != len(data.train_x):
            raise Refusal(f"the teacher learnt from {self.train_images:,} training images, this student from "
                          f"{len(data.train_x):,}: get_teacher(recipe, data, seed) gives its teacher")

    def provenance(self) -> list[dict]:
        """What a student's record keeps of its teacher: per member its recipe, seed, size, its
        own evaluation accuracy and the epochs and seconds its training spent."""
        return [{"iteration": r["iteration"], "seed": r["seed"], "params": r["params"],
                 "evaluated_on": r["evaluated_on"], "train_images": self.train_images, "epochs": r["epochs"],
                 "final_acc": r["final_acc"], "seconds": round(sum(h["seconds"] for h in r["history"]), 1),
                 "recipe": r["recipe"]} for r in self.records]


CACHE_VERSION = 2  # raise it when a change to training, or to the record kept beside, makes kept teachers stale


def teacher_path(recipe, seed: int, data, epochs: int, cache_dir: Path) -> Path:
    """The file of one trained member: its name says what it is, its hash what exactly (the recipe,
    seed, epochs, split, the training images themselves, determinism, CACHE_VERSION)."""
    images = hashlib.sha1(data.train_y.cpu().numpy().tobytes()).hexdigest() + \
        f"{data.train_x.sum(dtype=torch.float64).item():.6f}"  # labels and pixel sum: which images, cheaply
    key = json.dumps([CACHE_VERSION, recipe.to_dict(), seed, data.split, data.fast, len(data.train_x), images, epochs,
                      torch.are_deterministic_algorithms_enabled()], sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return Path(cache_dir) / f"{recipe.name}-{data.split}{'-fast' if data.fast else ''}-seed{seed}-{digest}.pt"


def where(path: Path) -> Path:
    """The path as a reader of this project says it (relative to the repository when inside it)."""
    path = Path(path).resolve()
    return path.relative_to(ROOT) if ROOT in path.parents else path


@contextmanager
def locked(path: Path, log):
    """Hold `path`.lock: two students needing the same member (e.g. `study --jobs`) train it once;
    the second waits, saying so, then loads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        if fcntl:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"waiting for {where(path)}: another process is training this teacher")
                fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def save_member(model: nn.Module, record: dict, path: Path) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    torch.save({"state_dict": model.state_dict(), "record": json.dumps(record)}, tmp)  # JSON: plain text only
    tmp.replace(path)  # a half-written file never looks like a trained member


def load_member(recipe, path: Path, device) -> tuple[nn.Module, dict]:
    model = recipe.build().to(device, memory_format=torch.channels_last)  # outside the try: not about the file
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(saved["state_dict"])
        record = json.loads(saved["record"])
    except (OSError, EOFError, RuntimeError, KeyError, ValueError, pickle.UnpicklingError) as e:  # EOFError: empty
        why = (str(e) or type(e).__name__).splitlines()[0]
        raise Refusal(f"{where(path)}: cannot load this kept teacher ({why}); delete it, and it is trained "
                      "again") from None
    return model.eval(), record


def get_teacher(recipe: Recipe, data: MNISTTensors, seed: int = 0, cache_dir: Path | None = None,
                progress: bool = True, log=tqdm.write, epochs: int | None = None) -> Teacher | None:
    """The teacher of `recipe` for the student of `seed`: member i is its registered recipe trained
    from scratch with seed `seed + i` on the student's own training images (`data.train_x`: the
    first 50,000 in a validation run), or loaded from where that exact training was kept before
    (`cache_dir`, default runs/teachers/). None if it was interrupted (Ctrl-C) before it was whole.
    `epochs`: each member's, default its recipe's (1 on fast-mode data); fewer, for class time,
    make a weaker teacher than the recipe's, and every line about such a member says so."""
    cache_dir, say = Path(cache_dir or TEACHERS_DIR), Log(log, progress)
    members, records = [], []
    try:
        for i, member in enumerate(teacher_recipes(recipe)):
            member_seed, n = seed + i, epochs or default_epochs(member, data.fast)
            who = f"teacher {member.name} seed {member_seed}"
            short = f", not its recipe's {member.epochs}: a weaker teacher" if n < member.epochs else ""
            path = teacher_path(member, member_seed, data, n, cache_dir)
            with locked(path, say):
                if path.exists():
                    model, record = load_member(member, path, data.device)
                    say(f"{who}: trained before ({record['epochs']} epochs{short}), its {data.split} acc "
                        f"{record['final_acc']:.2f}%; kept in {where(path)}")
                else:
                    say(f"{who}: training it for {n} epochs{short}, on {len(data.train_x):,} images; then kept in "
                        f"{where(cache_dir)}/ for the next time")
                    run = fit(member, data, member_seed, epochs=n, progress=progress,
                              log=lambda line: say(f"{who}: {line}"))
                    say.replace_bars()  # fit left only its own lines in the cell: all of this call's
                    if run.interrupted:
                        return None
                    if run.diverged:
                        raise Refusal(f"{who} diverged; no student learns from it")
                    model, record = run.model.eval(), run.record()
                    try:
                        save_member(model, record, path)
                    except OSError as e:  # e.g. a full disk: the student still learns from it, it is just not kept
                        say(f"{who}: cannot keep it in {where(path)} ({e.strerror or e}); it is used now and "
                            "trained again next time")
            members.append(model)
            records.append(record)
    except KeyboardInterrupt:  # while waiting for another process's teacher, or loading one
        return None
    return Teacher(members, records, data.split, len(data.train_x))
