"""Records on disk: runs that differ never share a name, a record replaces only a record of the same
run, a run's .partial is its own, and what is read back is whole and consistent."""
import itertools
import json
import os
from dataclasses import replace

import pytest
from torch import nn

from mnistlib.errors import Refusal
from mnistlib.lab.records import partial_path, read_record, record_path, save_record, save_run
from mnistlib.recipes import get_recipe
from mnistlib.train import Run
from tests.conftest import record


def test_runs_that_differ_never_share_a_name(tmp_path):
    recipe = get_recipe("iteration3")
    runs = list(itertools.product([recipe, replace(recipe, lr=0.2)], [0, 1], ["test", "validation"], [1, 2, 15],
                                  [False, True]))
    assert len({record_path(r, seed, tmp_path, split, epochs, fast) for r, seed, split, epochs, fast in runs}) == len(runs)
    assert record_path(recipe, 0, tmp_path) == record_path(recipe, 0, tmp_path, epochs=15)  # by default the recipe's


def test_a_run_claims_a_partial_of_its_own(tmp_path):
    path = tmp_path / "r.json"
    first = partial_path(path)
    save_record(record(0, [99.0]), first, new=True)
    second = partial_path(path)
    assert second != first and second.name.endswith(".partial")
    with pytest.raises(Refusal, match=str(first)):
        save_record(record(0, [98.0]), first, new=True)  # claimed meanwhile: never replaced
    assert read_record(first)["final_acc"] == 99.0


def test_a_record_replaces_only_a_record_of_the_same_run(tmp_path):
    path = tmp_path / "r.json"
    save_record(record(0, [99.0]), path)
    save_record(record(0, [98.0]), path)  # a re-make of the same run
    assert read_record(path)["final_acc"] == 98.0
    other = record(1, [97.0])
    with pytest.raises(Refusal, match="--overwrite"):
        save_record(other, path)
    assert read_record(path)["seed"] == 0
    save_record(other, path, overwrite=True)
    assert read_record(path)["seed"] == 1


@pytest.mark.parametrize("what", ["a file that is no record", "a folder", "a link to a record", "a named pipe"])
def test_nothing_but_a_record_is_ever_replaced_not_even_with_overwrite(tmp_path, what):
    target, kept = tmp_path / "target.json", tmp_path / "kept.json"
    save_record(record(0, [99.0]), kept)
    {"a file that is no record": lambda: target.write_text("my notes"), "a folder": target.mkdir,
     "a link to a record": lambda: target.symlink_to(kept), "a named pipe": lambda: os.mkfifo(target)}[what]()
    before = sorted(os.listdir(tmp_path))
    for overwrite in (False, True):
        with pytest.raises(Refusal, match=str(target)) as e:
            save_record(record(0, [99.0]), target, overwrite=overwrite)
        assert "--overwrite" not in str(e.value) and "\n" not in str(e.value)
    assert sorted(os.listdir(tmp_path)) == before and json.loads(kept.read_text()) == record(0, [99.0])
    if what == "a file that is no record":
        assert target.read_text() == "my notes"


def test_a_record_reads_back_as_written(tmp_path):
    rec = record(3, [98.0, 99.5, 99.25], stacked=[3, 4])
    assert read_record(save_record(rec, tmp_path / "r.json")) == rec


@pytest.mark.parametrize("change", [{"seed": "0"}, {"params": 7344.0}, {"final_acc": None},
                                    {"recipe": {"name": "iteration1"}}, {"teacher": [{"seed": 0}]}])
def test_a_record_of_the_wrong_shape_is_refused_naming_the_file(tmp_path, change):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**record(0, [99.0]), **change}))
    with pytest.raises(Refusal, match=str(path)):
        read_record(path)


def test_a_notebook_run_is_kept_once_and_its_interrupted_epochs_apart(tmp_path):
    recipe = replace(get_recipe("iteration1"), epochs=2)
    history = [{"epoch": 1, "train_loss": 0.5, "train_acc": 90.0, "eval_loss": 0.4, "eval_acc": 91.0, "lr": 0.01,
                "seconds": 1.0}]
    run = Run(recipe, 0, nn.Linear(1, 1), 2, history=history, interrupted=True)
    first, second = save_run(run, tmp_path), save_run(run, tmp_path)
    assert first != second and all(p.name.endswith(".partial") for p in (first, second))
    assert read_record(first)["interrupted"] and read_record(second) == read_record(first)
    assert save_run(replace(run, history=[]), tmp_path) is None and save_run(replace(run, fast=True), tmp_path) is None
    done = replace(run, history=history * 2, interrupted=False)
    done.history[1] = {**history[0], "epoch": 2}
    assert save_run(done, tmp_path) == record_path(recipe, 0, tmp_path) and read_record(record_path(recipe, 0, tmp_path))
