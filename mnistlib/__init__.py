"""mnistlib: small, fast, honest MNIST CNN experiments for the notebook series.

One import serves every notebook:

    import mnistlib as ml
    recipe = ml.get_recipe("iteration1")     # model + training recipe, from the registry
    data = ml.load_mnist(device=ml.pick_device())  # both splits as tensors on the best device
    run = ml.fit(recipe, data, seed=0)       # tqdm bars; run.history, run.model
    runs = ml.fit_many(recipe, data, seeds=[0, 1, 2])  # three seeds at once, a Run each
    ml.show(ml.plot_history(run))            # the curves, and their caption

Where things live. The lesson, read top-down:
    models.py    the networks: a layer list -> nn.Sequential
    recipes.py   every iteration's whole recipe, as data, in one registry
    rf.py        receptive-field maths, from the model itself
    data.py      both splits as tensors on the device, batches, augmentation
    train.py     the loop (`fit`, `train_epoch`), the Run and its record
    stack.py     many seeds at once: K runs as one grouped network (`fit_many`)
    distil.py    learning from a teacher: soft targets, the distillation loss, `get_teacher`
    plots.py     the figures of a run, a recipe, a teacher (plots_rf.py: of receptive fields)
Beside them: machine.py, mnist_files.py, paths.py, notebook.py, errors.py. The lab (mnistlib/lab/:
records, tables, runner, CLI) turns runs into evidence; no module above imports it.
"""
from importlib import import_module

from .data import load_mnist
from .errors import Refusal
from .machine import pick_device
from .mnist_files import MNISTDataError
from .models import count_params, make_net, summary
from .recipes import RECIPES, Recipe, diff, get_recipe
from .rf import effective_rf, format_rf_table, layer_listing, receptive_field, spatial_rows
from .distil import Teacher, distillation_loss, get_teacher
from .train import Run, fit
from .stack import fit_many

# Loaded on first use (PEP 562), so that `import mnistlib` loads neither matplotlib nor the
# records: `ml.plot_history(run)` and `ml.results_table()` work all the same.
_LAZY = {"plots": ("plot_augmentations", "plot_history", "plot_misclassified", "plot_schedule", "plot_soft_targets",
                   "plot_with_and_without", "save", "show"),
         "plots_rf": ("plot_effective_rf", "plot_jumps", "plot_receptive_fields"),
         "lab.ablations": ("ablation_table", "plot_ablation"),
         "lab.plots_results": ("plot_comparison", "plot_seeds", "plot_variant"),
         "lab.records": ("load_records", "save_run", "why_not_a_result"),
         "lab.tables": ("FROM_SCRATCH", "TAUGHT", "results_table", "seed_stats", "taught_table", "teacher_table",
                        "validation_table")}


def __getattr__(name: str):
    module = next((module for module, names in _LAZY.items() if name in names), None)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(import_module(f".{module}", __name__), name)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *(name for names in _LAZY.values() for name in names)})
