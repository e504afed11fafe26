"""Many seeds at once (mnistlib.stack), tested against its reference: each seed trained alone by fit."""
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from mnistlib.data import Batches, MNISTTensors, load_mnist
from mnistlib.recipes import get_recipe
from mnistlib.stack import fit_many, seeded, stack, unstack
from mnistlib.train import fit

SEEDS = [3, 0, 7]


def weights(model) -> list[torch.Tensor]:
    return [t for t in model.state_dict().values() if t.is_floating_point()]


@pytest.mark.parametrize("name", ["iteration1", "iteration2", "iteration4", "iteration5"])
def test_stack_and_unstack_are_exact_and_the_stacked_forward_is_each_networks(name):
    recipe = get_recipe(name)
    nets = [seeded(recipe, s) for s in SEEDS]
    model = stack(nets)
    for k, net in enumerate(nets):
        back = unstack(model, recipe, k)
        assert all(torch.equal(a, b) for a, b in zip(weights(back), weights(net)))
    x = torch.randn(16, len(SEEDS), 28, 28)
    out = model.eval()(x).view(16, len(SEEDS), 10)
    for k, net in enumerate(nets):
        torch.testing.assert_close(out[:, k], net.eval()(x[:, k:k + 1]), rtol=1e-5, atol=1e-5)


def test_one_step_gives_each_seed_its_own_gradient():
    """float32, one step on a fixed batch: the stacked gradient of seed k is seed k's alone."""
    recipe = get_recipe("iteration4")
    nets = [seeded(recipe, s) for s in SEEDS]
    model = stack(nets)
    xs = [torch.randn(32, 1, 28, 28) for _ in SEEDS]
    ys = [torch.randint(0, 10, (32,)) for _ in SEEDS]
    torch.manual_seed(0)  # dropout: the same masks only matter per seed, so none is drawn here
    model.eval(), [net.eval() for net in nets]  # eval: dropout off, BatchNorm on running stats
    logits = model(torch.cat(xs, 1)).view(32, len(SEEDS), 10).transpose(1, 2)
    F.cross_entropy(logits, torch.stack(ys, 1), reduction="none").mean(0).sum().backward()
    for k, (net, x, y) in enumerate(zip(nets, xs, ys)):
        F.cross_entropy(net(x), y).backward()
        for one, many in zip(net.parameters(), model.parameters()):
            n = len(one)
            torch.testing.assert_close(many.grad[k * n:(k + 1) * n], one.grad, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def data64(shared_root_module):
    """480 real training images in float64, 400 to measure: float64 keeps the two ways' rounding
    differences (float32's grow over hundreds of steps, as any two summation orders' do) far below
    any real difference."""
    d = load_mnist(shared_root_module, fast=True, limit=480)
    return MNISTTensors(d.train_x.double(), d.train_y, d.eval_x[:400].double(), d.eval_y[:400], fast=True)


@pytest.fixture(scope="module")
def shared_root_module():
    from conftest import SHARED
    if not (SHARED / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST copy at {SHARED}")
    return SHARED


@pytest.mark.parametrize("name, changes", [
    # MultiStepLR stepped per epoch, rotation and shifts, weight decay, label smoothing
    ("iteration3", {"dropout": 0.0, "milestones": (1, 2), "weight_decay": 1e-4, "label_smoothing": 0.1, "lr": 0.03}),
    ("iteration5", {}),  # OneCycleLR stepped per batch, rotation, shifts and zoom
])
def test_after_hundreds_of_steps_each_seed_is_its_single_run(data64, name, changes):
    """Batches of 8: 60 steps per epoch, 3 epochs. Every weight, every BatchNorm statistic and
    every number of the history is the single run's, to float64 rounding (about 1e-12 here after
    180 steps; a wrong batch, a skipped step or another seed's gradient differs at order 1).
    Iteration 3's lr is lowered: at 0.1 with batches of 8, rounding alone grows to 1e-5."""
    recipe = replace(get_recipe(name), batch_size=8, epochs=3, **changes)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        runs = fit_many(recipe, data64, SEEDS, progress=False, log=None)
        for run in runs:
            alone = fit(recipe, data64, run.seed, progress=False, log=None)
            for a, b in zip(weights(run.model), weights(alone.model)):
                assert (a - b).abs().max() <= 1e-9 * b.abs().max()
            assert [h["eval_acc"] for h in run.history] == [h["eval_acc"] for h in alone.history]
            for h, g in zip(run.history, alone.history):
                assert h["train_loss"] == pytest.approx(g["train_loss"], abs=2e-6)
                assert h["train_acc"] == g["train_acc"] and h["lr"] == g["lr"]
            assert run.record()["stacked"] == SEEDS and "stacked" not in alone.record()
    finally:
        torch.set_default_dtype(previous)


def test_each_seed_reads_its_own_batches_and_augmentations(data64, monkeypatch):
    """What enters the stacked network as channel k is exactly what seed k's single run trains on."""
    import mnistlib.stack
    recipe = replace(get_recipe("iteration5"), batch_size=120, epochs=1)
    data = MNISTTensors(data64.train_x.float(), data64.train_y, data64.eval_x.float(), data64.eval_y, fast=True)
    seen, original = [], mnistlib.stack.stack

    def spying(nets):
        model = original(nets)
        model[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()) if m.training else None)
        return model

    monkeypatch.setattr(mnistlib.stack, "stack", spying)
    fit_many(recipe, data, SEEDS, progress=False, log=None)
    assert len(seen) == 4
    for k, s in enumerate(SEEDS):
        alone = Batches(data.train_x, data.train_y, 120, s, recipe.rotate, recipe.translate, recipe.scale)
        for step, (xb, _) in enumerate(alone):
            assert torch.equal(seen[step][:, k:k + 1], xb)


def test_dropout_masks_are_per_seed_at_the_recipes_rate():
    recipe = replace(get_recipe("iteration2"), dropout=0.3)
    model = stack([seeded(recipe, s) for s in SEEDS]).train()
    dropout = next(m for m in model if isinstance(m, torch.nn.Dropout))
    kept = dropout(torch.ones(64, len(SEEDS) * 16, 12, 12)) != 0
    per_seed = kept.view(64, len(SEEDS), 16, 12, 12).float().mean((0, 2, 3, 4))
    assert torch.allclose(per_seed, torch.full_like(per_seed, 0.7), atol=0.01)
    masks = kept.view(64, len(SEEDS), -1)
    assert not torch.equal(masks[:, 0], masks[:, 1])


def test_a_taught_recipe_or_repeated_seeds_are_refused(data64):
    with pytest.raises(ValueError):
        fit_many(get_recipe("iteration8"), data64, [0, 1])
    with pytest.raises(ValueError):
        fit_many(get_recipe("iteration1"), data64, [0, 0])
