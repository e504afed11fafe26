"""mnistlib: small, fast, honest MNIST CNN experiments for the notebook series.

One import serves every notebook:

    import mnistlib as ml
    recipe = ml.get_recipe("iteration1")     # model + training recipe, from the registry
    data = ml.load_mnist(device=ml.pick_device())  # both splits as tensors on the best device
    run = ml.fit(recipe, data, seed=0)       # tqdm bars; run.history, run.model
    ml.show(ml.plot_history(run))

Where things live: models.py (the networks), recipes.py (every iteration, as data),
data.py (loading, batches, augmentation), train.py (the loop and the run record), rf.py
(receptive-field maths), plots.py (every figure), results.py (run records on disk and the
tables made from them), cli.py (`python -m mnistlib`), bench.py (the pipeline benchmark),
colab.py (the repository address for the Colab badges), notebook.py (re-making the
committed notebooks).
"""
from .data import MNISTDataError, fast_mode, load_mnist
from .models import count_params, make_net
from .plots import (plot_comparison, plot_effective_rf, plot_history, plot_misclassified, plot_receptive_fields,
                    plot_seeds, save, show)
from .recipes import RECIPES, Recipe, get_recipe
from .results import load_records, results_table, save_run, summarize, validation_table
from .rf import effective_rf, format_rf_table, layer_listing, receptive_field, spatial_rows
from .train import Run, fit, pick_device


def summary(recipe: Recipe, **kwargs):
    """torchinfo's layer-by-layer summary of an iteration's model, for one 28x28 digit."""
    from torchinfo import summary as torchinfo_summary
    kwargs = {"input_size": (1, 1, 28, 28), "col_names": ("output_size", "num_params"),
              "row_settings": ("var_names",), "verbose": 0, **kwargs}
    return torchinfo_summary(recipe.build(), **kwargs)
