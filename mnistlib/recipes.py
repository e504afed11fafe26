"""Every iteration's whole recipe, as data, in one registry: `get_recipe("iteration2").build()`. A later
iteration is `after(previous, ...)`, naming only what changed (`diff` prints it) and recording what it
builds on (BUILDS_ON). Every recipe is checked as it is made: a bad value fails in one line."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields, replace

import torch
from torch import nn

from .errors import Refusal
from .models import count_params, layer_diff, make_net

DISTILLATION = ("teacher", "temperature", "soft_weight")  # in force only with a teacher


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str                      # one line: what this iteration changes and why
    cfg: tuple                        # layer list, see mnistlib.models
    head: str = "gap"                 # "gap" (avg-pool + 1x1 conv) or "conv" (kernel = map size)
    dropout: float = 0.0              # after each max-pool
    lr: float = 0.01                  # SGD learning rate
    momentum: float = 0.9             # the write-up names only "SGD"; momentum 0.9 is our choice
    weight_decay: float = 0.0
    schedule: str = "step"            # "step": MultiStepLR below; "onecycle": OneCycleLR peaking at lr
    milestones: tuple = ()            # MultiStepLR: LR x gamma after these epochs
    gamma: float = 0.1
    label_smoothing: float = 0.0
    rotate: float = 0.0               # augmentation: rotation up to +-rotate degrees
    translate: float = 0.0            # augmentation: shift up to translate x image size
    scale: float = 0.0                # augmentation: zoom by a factor in 1 +- scale
    batch_size: int = 128
    epochs: int = 15
    teacher: tuple = ()               # distillation: registered recipes whose soft targets the net also learns from
    temperature: float = 4.0          # softening of teacher and student outputs (only with a teacher)
    soft_weight: float = 0.7          # loss = (1 - w) CE + w T^2 KL (only with a teacher; 0: as without one)
    reported: dict = field(default_factory=dict)  # the write-up's own claims, for comparison only

    def __post_init__(self):  # every field settled and checked: a bad value fails here, in one line
        if "_check" in globals():  # the rules, defined after the registry, check it where they end
            _check(self)

    def build(self) -> nn.Sequential:
        return make_net(self.cfg, self.head, self.dropout)

    def __str__(self) -> str:
        """The fields in force, one a line, as `replace(recipe, field=...)` names them: a schedule's
        settings only under it; dropout, weight decay, label smoothing, each augmentation only when on."""
        step, stepped = self.schedule == "step", self.schedule == "step" and bool(self.milestones)
        shown = {**dict.fromkeys(DISTILLATION, bool(self.teacher)), "milestones": stepped, "gamma": stepped,
                 "schedule": stepped or not step, "head": True, "momentum": True, "summary": False, "reported": False}
        notes = {"lr": "at the start" if stepped else "constant" if step else "the one-cycle peak",
                 "schedule": "MultiStepLR" if step else "OneCycleLR, stepped per batch",
                 "momentum": None if step else "not in force: OneCycleLR cycles it from 0.95 to 0.85 and back",
                 "gamma": "LR x gamma after each milestone epoch",
                 "teacher": "trained first, on the same images, with seeds: the student's, +1, +2, ..."}
        return "\n".join(f"{n:<16}{v!r}" + (f"  # {notes[n]}" if notes.get(n) else "")
                         for n, v in vars(self).items() if shown.get(n, bool(v)))

    def to_dict(self) -> dict:
        """The recipe as run records store it, JSON-ready: without the write-up's claims and, without a
        teacher, without the distillation fields (not in force; older records read back the same)."""
        return json.loads(json.dumps({k: v for k, v in asdict(self).items()
                                      if k != "reported" and (self.teacher or k not in DISTILLATION)}))


BUILDS_ON: dict[str, str] = {}  # iteration -> the iteration it builds on, as `after` records it


def after(previous: Recipe, **changed) -> Recipe:
    """The next iteration: `previous` with only what `changed` names, its lineage recorded in BUILDS_ON."""
    recipe = replace(previous, **changed)
    BUILDS_ON[recipe.name] = previous.name
    return recipe


def padded(*channels) -> tuple:
    """Layer list of padded 3x3 convs ((n, 3, 1): the map keeps its size), "M" passed through."""
    return tuple(c if c == "M" else (c, 3, 1) for c in channels)


ITERATION1 = Recipe(
    name="iteration1",
    summary="baseline: four 3x3 convs, two max-pools, GAP + 1x1 head; no augmentation, no dropout",
    cfg=(16, 16, "M", 16, "M", 16),
    reported={"params": 7344, "train_acc": 99.59, "best_test_acc": 98.99, "best_epoch": 9},
)

ITERATION2 = after(
    ITERATION1, name="iteration2",
    summary="fight overfitting: Dropout(0.1) after each max-pool, rotation +-6 deg and 10% shifts; "
    "3x3 conv head on the 3x3 map instead of GAP + 1x1",
    head="conv", dropout=0.1, rotate=6.0, translate=0.1,
    reported={"params": 8624, "best_test_acc": 99.44, "best_epoch": 14},
)

ITERATION3 = after(
    ITERATION2, name="iteration3",
    summary="fewer parameters, faster learning: first conv 1->8; LR 0.1, x0.1 after epochs 6 and 13",
    cfg=(8, 16, "M", 16, "M", 16),
    lr=0.1, milestones=(6, 13),
    reported={"params": 7384, "best_test_acc": 99.40, "best_epoch": 14},
)

ITERATION4 = after(
    ITERATION3, name="iteration4",
    summary="one max-pool, three convs after it on larger maps, GAP + 1x1 head; rotation +-7 deg, "
    "9% zoom, Dropout 0.05; batches of 64; OneCycle LR peaking at 0.1 and annealing to ~0",
    cfg=(8, 12, "M", 16, 16, 16),
    head="gap", dropout=0.05, rotate=7.0, scale=0.09, batch_size=64,
    schedule="onecycle", milestones=(),
    reported={},
)

ITERATION5 = after(
    ITERATION4, name="iteration5",
    summary="under 4k: three blocks of three padded 3x3 convs (4, 8, 8 channels) at 28, 14 and 7 px, "
    "max-pool between blocks, GAP + 1x1 head; no dropout; +-7 deg, 9% shift and 9% zoom",
    cfg=padded(4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8),
    dropout=0.0, translate=0.09,
    batch_size=128,  # iteration 4's batches of 64 scored the same here on the validation split
)

ITERATION6 = after(
    ITERATION5, name="iteration6",
    summary="under 3k: iteration 5 with one conv fewer in the first and in the last block",
    cfg=padded(4, 4, "M", 8, 8, 8, "M", 8, 8),
)

ITERATION7 = after(
    ITERATION5, name="iteration7",
    summary="under 4k, found by search on the validation split: two padded 3x3 convs per block, 6, 10 and 10 "
    "channels (wider and shallower than iteration 5); iteration 5's training",
    cfg=padded(6, 6, "M", 10, 10, "M", 10, 10),
)

ITERATION8 = after(
    ITERATION7, name="iteration8",
    summary="under 4k, learning from a teacher: iteration 7 trained on the soft targets (T=4, weight 0.7) of two "
    "iteration-4 runs averaged, the teacher trained first on the same images",
    teacher=("iteration4", "iteration4"),
)

RECIPES: dict[str, Recipe] = {r.name: r for r in (ITERATION1, ITERATION2, ITERATION3, ITERATION4, ITERATION5,
                                                   ITERATION6, ITERATION7, ITERATION8)}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise Refusal(f"unknown iteration {name!r}; choose from: {', '.join(RECIPES)}")
    return RECIPES[name]


def teacher_recipes(recipe: Recipe) -> list[Recipe]:
    """The registered recipes of `recipe`'s teacher, one per member (several: an ensemble). A
    teacher is trained from scratch: a member that itself learns from a teacher is refused."""
    for name in recipe.teacher:
        try:
            if get_recipe(name).teacher:
                raise Refusal(f"{name} itself learns from a teacher; a teacher learns from scratch")
        except Refusal as e:
            raise Refusal(f"recipe field teacher: {e}") from None
    return [RECIPES[name] for name in recipe.teacher]


def diff(recipe: Recipe, previous: Recipe | None = None) -> None:
    """Print what changed from `previous` (default: a variant's registered recipe, a registered one's
    the iteration it builds on), a field a line, `old -> new`, and the parameter counts."""
    if previous is None:
        previous = RECIPES[recipe.name] if changes(recipe.to_dict()) else RECIPES.get(BUILDS_ON.get(recipe.name))
    if previous is None:
        return print(f"{recipe.name} is the first iteration: nothing to compare it with")
    print(f"{recipe.name} against {previous.name}:")
    for f in fields(Recipe):
        old, new = getattr(previous, f.name), getattr(recipe, f.name)
        if f.name == "cfg" and old != new:  # the layer lists aligned, one layer a line
            print("  cfg", *(f"    {r}" for r in layer_diff(old, new, (previous.name, recipe.name))), sep="\n")
        elif f.name not in ("name", "summary", "reported") and old != new:
            print(f"  {f.name:<16}{old!r} -> {new!r}")
    print(f"  {'parameters':<16}{count_params(previous.build()):,} -> {count_params(recipe.build()):,}")


# --- The checks: a bad value is refused in one line that names its field -----------------------

NUMBERS = {  # number field -> the interval it lies in ("[": that end included, "(": excluded)
    **dict.fromkeys(("dropout", "momentum", "label_smoothing", "translate", "scale"), "[0, 1)"),
    **dict.fromkeys(("lr", "temperature"), "(0, inf)"), "weight_decay": "[0, inf)", "gamma": "(0, 1]",
    "soft_weight": "[0, 1]", "rotate": "[0, 180]", "batch_size": "[1, inf)", "epochs": "[1, 15]",  # the series' budget
}
WHOLE = ("batch_size", "epochs")  # whole numbers; the other numbers are floats
CHOICES = {"head": ("gap", "conv"), "schedule": ("step", "onecycle")}
KINDS = {"name": (str, "a non-empty string"), "summary": (str, "a string"), "reported": (dict, "a dict"),
         "teacher": (tuple, "a tuple of registered iteration names, e.g. ('iteration4',)")}


def check_field(name: str, value) -> None:
    """One field's own rule (the CLI's --epochs follows the recipe's); cfg and milestones: in _check."""
    if name in NUMBERS:
        interval, whole = NUMBERS[name], name in WHOLE
        low, high = (float(end) for end in interval[1:-1].split(","))
        # NaN fails every comparison, and inf too: each interval's end at inf is open
        ok = (isinstance(value, int if whole else (int, float)) and not isinstance(value, bool)
              and (low < value if interval[0] == "(" else low <= value)
              and (value < high if interval[-1] == ")" else value <= high))
        what = f"a {'whole ' * whole}number in {interval}"
    elif name in CHOICES:
        ok, what = value in CHOICES[name], f"one of {', '.join(CHOICES[name])}"
    else:  # the name, and each teacher member, a non-empty string
        kind, what = KINDS[name]
        names = {"name": (value,), "teacher": value}.get(name, ())
        ok = isinstance(value, kind) and all(isinstance(n, str) and n for n in names)
    if not ok:
        raise Refusal(f"recipe field {name} must be {what}, got {value!r}")


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def _check(recipe: Recipe) -> None:
    """Settle each field (JSON's lists back to tuples, whole numbers in float fields to floats: a recipe
    read back from a record equals its original) and check it, then the rules between fields."""
    for name, value in list(vars(recipe).items()):
        if name in ("cfg", "milestones", "teacher"):  # a lone teacher name: --set teacher=iteration4
            value = _tuples((value,) if name == "teacher" and isinstance(value, str) else value)
        elif name in NUMBERS and name not in WHOLE and type(value) is int:
            value = float(value)
        object.__setattr__(recipe, name, value)
        if name not in ("cfg", "milestones"):
            check_field(name, value)
    for name in ("temperature", "soft_weight"):
        if not recipe.teacher and getattr(recipe, name) != getattr(Recipe, name):  # not its default
            raise Refusal(f"recipe field {name} is in force only with a teacher: set one too, "
                          "e.g. teacher=('iteration4',)")
    m, e = recipe.milestones, recipe.epochs
    if not (isinstance(m, tuple) and all(type(x) is int and 1 <= x < e for x in m) and list(m) == sorted(set(m))):
        example = (e // 2,) if e < 5 else (round(e * 0.4), e - 2)  # (6, 13) for 15 epochs
        raise Refusal("recipe field milestones must be " + ("() for a 1-epoch recipe" if e == 1 else
                      f"a tuple of increasing whole epochs between 1 and {e - 1}, e.g. {example}") + f", got {m!r}")
    try:
        with torch.device("meta"):  # shapes only: no memory, no draw from the random generator
            recipe.build()
    except Refusal as e:
        raise Refusal(f"recipe field cfg={recipe.cfg!r} does not build: {e}") from None


for _recipe in RECIPES.values():  # the registry, made before these rules, is checked by them now
    _check(_recipe)


# --- A record's recipe against the registry (records, tables, the CLI) ------------------------

def changes(recipe_fields: dict) -> dict | None:
    """How a recipe as a record stores it (`Recipe.to_dict()`) differs from today's registry entry of the
    same name: {} for the registered recipe itself, None for an unregistered name (name, summary: prose)."""
    if (registered := RECIPES.get(recipe_fields.get("name"))) is None:
        return None
    now = registered.to_dict()
    keys = [k for k in {**now, **recipe_fields} if k not in ("name", "summary")]  # missing on one side: differs
    return {k: recipe_fields.get(k) for k in keys if recipe_fields.get(k, KeyError) != now.get(k, KeyError)}


def literal(value) -> str:
    """A recipe value as typed after --set: JSON lists back to tuples, no spaces."""
    return repr(_tuples(value)).replace(" ", "")


def slug(recipe_fields: dict) -> str:
    """A file-name label: the iteration's name, plus a variant's changes ('iteration5+batch_size64+lr0.2');
    a value that does not read back unchanged as a file name (a layer list) is a short hash of it."""
    parts = [_file_safe(str(recipe_fields["name"]))]
    for key, value in sorted((changes(recipe_fields) or {}).items()):
        text = "-".join(value) if key == "teacher" else literal(value)
        if _file_safe(text) != text or len(text) > 16:
            text = hashlib.sha1(text.encode()).hexdigest()[:8]
        parts.append(f"{key}{text}")
    return "+".join(parts)


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.")
