"""mnistlib: small, fast, honest MNIST CNN experiments for the notebook series.

One import serves every notebook:

    import mnistlib as ml
    recipe = ml.get_recipe("iteration1")     # model + training recipe, from the registry
    data = ml.load_mnist(device=ml.pick_device())  # both splits as tensors on the best device
    run = ml.fit(recipe, data, seed=0)       # tqdm bars; run.history, run.model
    ml.show(ml.plot_history(run))            # the curves, and their caption

Where things live. The lesson, read top-down:
    models.py    the networks: a layer list -> nn.Sequential
    recipes.py   every iteration's whole recipe, as data, in one registry
    rf.py        receptive-field maths, from the model itself
    data.py      both splits as tensors on the device, batches, augmentation
    train.py     the loop (`fit`), the Run and its record; a student's teacher (`get_teacher`)
    distil.py    learning from a teacher: soft targets and the distillation loss
    plots.py     every figure
The evidence:
    results.py   run records on disk, the one rule for what is a result, the tables
The machinery:
    machine.py (device, threads, malloc, environment), mnist_files.py (finding, checking and
    extracting the MNIST files), paths.py, runner.py (training seeds for the CLI, in parallel,
    Ctrl-C safe), notebook.py (training output in a notebook), cli.py (`python -m mnistlib`),
    bench.py (the pipeline benchmark), remake.py (re-making the committed notebooks),
    colab.py (the repository address of the Colab badges).
"""
from .data import load_mnist
from .machine import pick_device
from .mnist_files import MNISTDataError
from .models import count_params, make_net, summary
from .plots import (plot_augmentations, plot_comparison, plot_effective_rf, plot_history, plot_misclassified,
                    plot_receptive_fields, plot_schedule, plot_seeds, plot_soft_targets, plot_with_and_without, save, show)
from .recipes import RECIPES, Recipe, diff, get_recipe
from .results import (FROM_SCRATCH, TAUGHT, load_records, results_table, save_run, summarize, taught_table,
                      teacher_table, validation_table, why_not_a_result)
from .rf import effective_rf, format_rf_table, layer_listing, receptive_field, spatial_rows
from .distil import Teacher, distillation_loss
from .train import Run, fit, get_teacher
