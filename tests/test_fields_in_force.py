"""Every recipe field is in force: changing it alone changes what training does.

A field the loop ignored would train a variant exactly as its recipe, and its record would claim a
change that never happened. Each field below is changed alone on a short run of a base recipe in
which every field can act (a step schedule with a milestone, dropout, every augmentation, label
smoothing, weight decay), and the trained weights or the history must differ from the base run's.
The distillation fields (teacher, temperature, soft_weight) are tested in tests/test_distil.py.
"""
from dataclasses import fields, replace

import pytest
import torch

from mnistlib.data import MNISTTensors
from mnistlib.recipes import Recipe, get_recipe
from mnistlib.train import fit

BASE = replace(get_recipe("iteration3"), epochs=2, milestones=(1,), gamma=0.5, batch_size=16, dropout=0.1,
               rotate=6.0, translate=0.1, scale=0.05, label_smoothing=0.05, weight_decay=1e-4)
CHANGED = {"cfg": (8, 16, "M", 16, "M", 12), "head": "gap", "dropout": 0.3, "lr": 0.05, "momentum": 0.5,
           "weight_decay": 1e-2, "schedule": "onecycle", "milestones": (), "gamma": 0.1, "label_smoothing": 0.2,
           "rotate": 15.0, "translate": 0.2, "scale": 0.2, "batch_size": 24, "epochs": 3}
ELSEWHERE = {"name", "summary", "reported", "teacher", "temperature", "soft_weight"}


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (96,), generator=g)
    return MNISTTensors(x, y, x[:32], y[:32])


@pytest.fixture(scope="module")
def base_run(data):
    return fit(BASE, data, seed=0, progress=False, log=None)


def test_every_field_has_a_change_to_try():
    assert {f.name for f in fields(Recipe)} - ELSEWHERE == set(CHANGED)


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_changing_one_field_changes_the_training(name, data, base_run):
    run = fit(replace(BASE, **{name: CHANGED[name]}), data, seed=0, progress=False, log=None)
    same_weights = [a.shape == b.shape and torch.equal(a, b) for a, b in
                    zip(run.model.state_dict().values(), base_run.model.state_dict().values())]
    same_history = [{k: v for k, v in h.items() if k != "seconds"} for h in run.history] == \
        [{k: v for k, v in h.items() if k != "seconds"} for h in base_run.history]
    assert not (all(same_weights) and len(same_weights) == len(base_run.model.state_dict()) and same_history), name
