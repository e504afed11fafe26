import json

import pytest
import torch

from mnistlib.data import MNISTTensors, load_mnist
from mnistlib.recipes import get_recipe
from mnistlib.machine import pick_device
from mnistlib.train import fit


@pytest.fixture(scope="module")
def data():
    from tests.conftest import SHARED
    if not (SHARED / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST copy at {SHARED}")
    return load_mnist(SHARED, "cpu", download=False, limit=1024, fast=False)


def test_training_lowers_the_loss_and_is_deterministic(data):
    recipe = get_recipe("iteration3")
    first = fit(recipe, data, seed=0, epochs=3, progress=False, log=None)
    again = fit(recipe, data, seed=0, epochs=3, progress=False, log=None)
    other = fit(recipe, data, seed=1, epochs=3, progress=False, log=None)
    strip = lambda run: [{k: v for k, v in h.items() if k != "seconds"} for h in run.history]
    assert strip(first) == strip(again)
    assert strip(first) != strip(other)
    losses = [h["train_loss"] for h in first.history]
    assert losses == sorted(losses, reverse=True) and len(set(losses)) == 3 and losses[0] < 2.3  # ln 10: chance
    from mnistlib.train import evaluate
    untrained = evaluate(recipe.build(), data.eval_x, data.eval_y)[1]
    assert untrained < 20 and first.history[-1]["eval_acc"] > untrained + 35  # 1,024 images, 3 epochs


def test_record_has_the_documented_fields(data):
    run = fit(get_recipe("iteration2"), data, seed=3, epochs=2, progress=False, log=None)
    run.command = ["x"]  # the CLI's runner sets it
    rec = json.loads(json.dumps(run.record()))
    assert set(rec) == {"schema", "iteration", "params", "seed", "evaluated_on", "epochs_asked", "epochs", "interrupted", "diverged",
                        "fast_mode", "recipe", "command", "environment", "history", "final_acc", "best_acc"}
    assert (rec["schema"], rec["iteration"], rec["params"], rec["seed"]) == (3, "iteration2", 8624, 3)
    assert (rec["epochs_asked"], rec["epochs"], rec["command"], rec["evaluated_on"]) == (2, 2, ["x"], "test")
    assert rec["recipe"] == get_recipe("iteration2").to_dict() and "reported" not in rec["recipe"]
    env = rec["environment"]
    assert env["device"] == "cpu" and env["threads"] == torch.get_num_threads() and env["torch"] == torch.__version__
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and env["cpu"]
    assert {"torchvision", "cuda", "cudnn", "deterministic_algorithms", "cudnn_benchmark"} <= env.keys()
    import torchvision
    assert env["torchvision"] == torchvision.__version__  # read without the import, build tag and all
    assert set(rec["history"][0]) == {"epoch", "train_loss", "train_acc", "eval_loss", "eval_acc", "lr", "seconds"}
    assert rec["final_acc"] == rec["history"][-1]["eval_acc"] <= rec["best_acc"]
    from mnistlib.lab.records import why_not_a_result
    assert why_not_a_result(rec).startswith("SHORT RUN: 2 of 15 epochs")


def test_batches_draw_the_stream_they_always_drew(data):
    """The reference: how batches were drawn when the committed records were made (one generator
    on the data's device, each batch drawing its own augmentation right before it is used). The
    per-epoch CPU draws must give the same batches, image for image, so CPU histories stay equal."""
    import math
    import torch.nn.functional as F
    from mnistlib.data import MEAN, STD, Batches

    def affine(x, angle, shift, zoom):  # as written when the records were made
        cos, sin = angle.cos(), angle.sin()
        if zoom is not None:
            cos, sin = cos / zoom, sin / zoom
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        black = -MEAN / STD
        return F.grid_sample(x - black, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + black

    def reference(x, y, batch_size, seed, rotate, translate, scale, epochs=2):
        g = torch.Generator(device=x.device).manual_seed(seed)
        for _ in range(epochs):
            for idx in torch.randperm(len(x), device=x.device, generator=g).split(batch_size):
                n = len(idx)
                u = torch.rand(n, 3, device=x.device, generator=g) * 2 - 1
                zoom = 1 + scale * (torch.rand(n, device=x.device, generator=g) * 2 - 1) if scale else None
                yield affine(x[idx], u[:, 0] * math.radians(rotate), u[:, 1:] * 2 * translate, zoom), y[idx]

    x, y = data.train_x[:300], data.train_y[:300]
    for rotate, translate, scale in ((6.0, 0.1, 0.0), (7.0, 0.09, 0.09)):
        batches = Batches(x, y, 64, 5, rotate, translate, scale)
        ours = [b for _ in range(2) for b in batches]
        ref = list(reference(x, y, 64, 5, rotate, translate, scale))
        assert len(ours) == len(ref) == 10
        for (xa, ya), (xb, yb) in zip(ours, ref):
            assert torch.equal(ya, yb) and torch.equal(xa, xb)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_run_agrees_with_the_cpu_run(data):
    """Seed S draws the same batches on both devices, so a CUDA run follows the CPU run within
    floating-point noise (iteration 3 with augmentation, no dropout-free shortcut: 2 epochs)."""
    from mnistlib.data import Batches
    cuda = type(data)(*(t.cuda() for t in (data.train_x, data.train_y, data.eval_x, data.eval_y)))
    on_cpu = list(Batches(data.train_x, data.train_y, 128, 3, 6.0, 0.1, 0.09))
    on_gpu = list(Batches(cuda.train_x, cuda.train_y, 128, 3, 6.0, 0.1, 0.09))
    for (xa, ya), (xb, yb) in zip(on_cpu, on_gpu):
        assert torch.equal(ya, yb.cpu()) and torch.allclose(xa, xb.cpu(), atol=1e-4)
    recipe = get_recipe("iteration5")  # no dropout: the only randomness is the shared batch stream
    a = fit(recipe, data, seed=0, epochs=2, progress=False, log=None)
    from mnistlib.machine import tune
    tune(cuda.device, deterministic=True)
    b = fit(recipe, cuda, seed=0, epochs=2, progress=False, log=None)
    for ha, hb in zip(a.history, b.history):
        assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=0.05)
        assert abs(ha["eval_acc"] - hb["eval_acc"]) < 3.0


def test_the_malloc_setting_changes_no_result(data):
    """keep_freed_memory is process-wide and cannot be undone, so the run without it is made in a
    fresh process that never sets it (nothing there calls pick_device or tune); both runs must agree
    to the last digit."""
    import subprocess
    import sys
    from mnistlib.machine import keep_freed_memory
    from tests.conftest import SHARED
    assert keep_freed_memory() == sys.platform.startswith("linux")  # glibc here; a no-op elsewhere
    script = ("import json, torch; torch.set_num_threads(1); "
              "from mnistlib import fit, get_recipe, load_mnist; "
              f"d = load_mnist({str(SHARED)!r}, limit=1024, fast=False); d.train_x = d.train_x[:256]; d.train_y = d.train_y[:256]; "
              "r = fit(get_recipe('iteration5'), d, seed=0, epochs=1, progress=False, log=None); "
              "print(json.dumps([r.history[0]['train_loss'], r.history[0]['eval_loss']]))")
    without = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # here the setting is on: keep_freed_memory() above applied it
        small = MNISTTensors(data.train_x[:256], data.train_y[:256], data.eval_x, data.eval_y)
        run = fit(get_recipe("iteration5"), small, seed=0, epochs=1, progress=False, log=None)
    finally:
        torch.set_num_threads(threads)
    assert json.loads(without) == [run.history[0]["train_loss"], run.history[0]["eval_loss"]]


def test_schedule_follows_the_recipe(data):
    recipe = get_recipe("iteration3")  # one batch an epoch: the LR of each epoch is all this reads
    one_batch = MNISTTensors(data.train_x[:128], data.train_y[:128], data.eval_x[:100], data.eval_y[:100])
    run = fit(recipe, one_batch, seed=0, epochs=15, progress=False, log=None)
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


def test_fast_data_trains_one_epoch_and_says_so(data):
    from dataclasses import replace
    lines = []
    run = fit(get_recipe("iteration1"), replace(data, fast=True), seed=0, progress=False, log=lines.append)
    assert len(run.history) == 1 and run.record()["fast_mode"] and "FAST MODE" in lines[0]
    assert len(fit(get_recipe("iteration1"), data, seed=0, epochs=2, progress=False, log=None).history) == 2


def test_device_choice_is_cuda_when_there_is_a_gpu_else_the_cpu(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    for available, expected in ((True, "cuda"), (False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
        assert pick_device("auto").type == expected
    with pytest.raises(ValueError, match="no CUDA"):
        pick_device("cuda")  # still False: asked for, but not there


def test_cpu_cores_works_where_the_os_has_no_affinity(monkeypatch):
    import os
    from mnistlib.machine import cpu_cores
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # as on macOS and Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 12)
    assert cpu_cores() == 12
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # os.cpu_count may not know
    assert cpu_cores() == 1


def test_onecycle_steps_every_batch(data):
    from dataclasses import replace
    recipe = replace(get_recipe("iteration3"), schedule="onecycle", lr=0.2, milestones=(), label_smoothing=0.1)
    run = fit(recipe, data, seed=0, epochs=4, progress=False, log=None)
    steps = -(-len(data.train_x) // recipe.batch_size)
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.2)
    reference = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=4 * steps)  # torch's own, stepped per batch
    expected = []
    for step in range(4 * steps):
        if step % steps == 0:
            expected.append(opt.param_groups[0]["lr"])
        opt.step()
        reference.step()
    assert [h["lr"] for h in run.history] == pytest.approx(expected, rel=1e-12)  # each epoch starts where torch says


def test_unknown_schedule_is_refused_when_the_recipe_is_made():
    from dataclasses import replace
    with pytest.raises(ValueError, match="schedule must be one of step, onecycle, got 'cosine'"):
        replace(get_recipe("iteration1"), schedule="cosine")
