import json

import pytest
import torch

from mnistlib.data import load_mnist
from mnistlib.recipes import get_recipe
from mnistlib.train import fit, pick_device


@pytest.fixture(scope="module")
def data():
    from tests.conftest import SHARED
    if not (SHARED / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST copy at {SHARED}")
    return load_mnist(SHARED, "cpu", download=False, limit=1024)


def test_training_lowers_the_loss_and_is_deterministic(data):
    recipe = get_recipe("iteration3")
    first = fit(recipe, data, seed=0, epochs=3, progress=False, log=None)
    again = fit(recipe, data, seed=0, epochs=3, progress=False, log=None)
    other = fit(recipe, data, seed=1, epochs=3, progress=False, log=None)
    strip = lambda run: [{k: v for k, v in h.items() if k != "seconds"} for h in run.history]
    assert strip(first) == strip(again)
    assert strip(first) != strip(other)
    losses = [h["train_loss"] for h in first.history]
    assert losses[-1] < losses[0] < 2.5
    assert first.history[-1]["test_acc"] > 50  # 1,024 images, 3 epochs: far above chance


def test_record_has_the_documented_fields(data):
    run = fit(get_recipe("iteration2"), data, seed=3, epochs=2, progress=False, log=None)
    rec = json.loads(json.dumps(run.record()))
    assert {"iteration", "params", "seed", "epochs", "device", "torch", "history",
            "final_test_acc", "best_test_acc"} <= rec.keys()
    assert (rec["iteration"], rec["params"], rec["seed"], rec["epochs"]) == ("iteration2", 8624, 3, 2)
    assert set(rec["history"][0]) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}
    assert rec["final_test_acc"] == rec["history"][-1]["test_acc"] <= rec["best_test_acc"]
    assert rec["evaluated_on"] == "test"


def test_malloc_setting_applies_on_linux_and_runs_stay_deterministic(data):
    import sys
    from mnistlib.train import keep_freed_memory
    assert keep_freed_memory() == sys.platform.startswith("linux")  # glibc here; a no-op elsewhere
    recipe = get_recipe("iteration5")  # also exercises the zoom augmentation
    a = fit(recipe, data, seed=0, epochs=1, progress=False, log=None)
    keep_freed_memory()
    b = fit(recipe, data, seed=0, epochs=1, progress=False, log=None)
    assert a.history[0]["test_loss"] == b.history[0]["test_loss"]


def test_schedule_follows_the_recipe(data):
    recipe = get_recipe("iteration3")
    run = fit(recipe, data, seed=0, epochs=15, progress=False, log=None)
    lrs = [h["lr"] for h in run.history]
    assert lrs[:6] == [0.1] * 6
    assert lrs[6:13] == pytest.approx([0.01] * 7) and lrs[13:] == pytest.approx([0.001] * 2)


def test_ctrl_c_keeps_the_finished_epochs(data):
    def interrupt_after_two(run):
        if len(run.history) == 2:
            raise KeyboardInterrupt
    run = fit(get_recipe("iteration1"), data, seed=0, epochs=5, progress=False, log=None,
              on_epoch=interrupt_after_two)
    assert run.interrupted and len(run.history) == 2 and run.record()["interrupted"]


def test_fast_mode_is_one_epoch(data):
    run = fit(get_recipe("iteration1"), data, seed=0, progress=False, log=None)
    assert len(run.history) == 1


def test_device_choice():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            pick_device("cuda")


def test_onecycle_steps_every_batch(data):
    from dataclasses import replace
    recipe = replace(get_recipe("iteration3"), schedule="onecycle", lr=0.2, milestones=(), label_smoothing=0.1)
    run = fit(recipe, data, seed=0, epochs=4, progress=False, log=None)
    lrs = [h["lr"] for h in run.history]
    assert lrs[0] == pytest.approx(0.2 / 25)  # OneCycleLR starts at max_lr / div_factor
    assert lrs[1] > lrs[0] and lrs[3] < lrs[2]  # up, then down, within the run
    assert run.history[-1]["test_acc"] > 50


def test_unknown_schedule_is_an_error(data):
    from dataclasses import replace
    with pytest.raises(ValueError, match="unknown schedule 'cosine'"):
        fit(replace(get_recipe("iteration1"), schedule="cosine"), data, epochs=1, progress=False, log=None)
