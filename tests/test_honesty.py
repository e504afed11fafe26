"""The honesty rules themselves, each tested so that breaking it fails here: final epoch, never
the best; every training image once per epoch; evaluation that changes nothing; the validation
split made of training images only; the schedules the recipes describe; records never half-written."""
import errno
import json
import math

import pytest
import torch
from torch import nn

from mnistlib import train
from mnistlib.lab import records, tables
from mnistlib.data import Batches, MNISTTensors, normalise
from mnistlib.recipes import get_recipe
from tests.conftest import PROJECT, record, write_idx


class Counting(nn.Module):
    """A tiny trainable model that remembers which images it was trained on (pixel 0 = index)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 10)
        self.seen: list[int] = []

    def forward(self, x):
        if self.training:
            self.seen += x[:, 0, 0, 0].long().tolist()
        return self.linear(x[:, 0, 0, :1])


@pytest.mark.parametrize("n, batch_size", [(100, 32), (64, 64), (65, 64), (7, 128)])
def test_an_epoch_trains_on_every_image_exactly_once(n, batch_size):
    x, y = torch.arange(float(n)).view(n, 1, 1, 1), torch.arange(n) % 10
    model = Counting()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    train.train_epoch(model, Batches(x, y, batch_size, seed=3), opt, train.cross_entropy(), progress=False)
    assert sorted(model.seen) == list(range(n))


def test_evaluation_runs_in_eval_mode_and_moves_no_statistic():
    model = get_recipe("iteration2").build()  # BatchNorm and Dropout
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(50, 1, 28, 28), torch.arange(50) % 10
    loss, acc = train.evaluate(model, x, y)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "evaluation changed a weight or a running statistic"
    assert not model.training
    again = train.evaluate(model, x, y)  # eval mode: no dropout, no batch statistics, so the same twice
    assert again == (loss, acc)


def test_the_headline_is_the_final_epoch_even_when_an_earlier_one_was_better(monkeypatch):
    falling = iter([(0.1, 99.5), (0.2, 99.1), (0.3, 98.7)])
    monkeypatch.setattr(train, "evaluate", lambda model, x, y: next(falling))
    x, y = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    data = MNISTTensors(x, y, x, y)
    run = train.fit(get_recipe("iteration1"), data, seed=0, epochs=3, progress=False, log=None)
    rec = run.record()
    assert run.final_acc == rec["final_acc"] == rec["history"][-1]["eval_acc"] == 98.7
    assert run.best_acc == rec["best_acc"] == 99.5
    s = tables.seed_stats([record(0, [99.5, 99.1, 98.7]), record(1, [99.0, 99.2, 98.9])])
    assert (s["final_mean"], s["final_min"]) == (pytest.approx(98.8), 98.7) and s["best_mean"] == pytest.approx(99.35)
    assert "final-epoch test acc 98.80 ± 0.14 (min 98.70, max 98.90); best-epoch 99.35" in tables.format_seed_stats(s)


def test_each_epoch_measures_the_held_out_split_and_nothing_else(monkeypatch):
    measured = []
    monkeypatch.setattr(train, "evaluate", lambda model, x, y: measured.append((x, y)) or (0.1, 50.0))
    x, y = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    data = MNISTTensors(x, y, x[:5].clone(), y[:5].clone())
    train.fit(get_recipe("iteration1"), data, seed=0, epochs=2, progress=False, log=None)
    assert len(measured) == 2 and all(mx is data.eval_x and my is data.eval_y for mx, my in measured)


def test_the_validation_split_is_the_last_sixth_of_the_training_images():
    n = 60_000
    x, y = torch.arange(float(n)).view(n, 1, 1, 1), torch.arange(n) % 10
    data = MNISTTensors(x, y, -x[:10_000], y[:10_000])
    val = data.validation_split()
    assert (len(val.train_x), len(val.eval_x), val.split) == (50_000, 10_000, "validation")
    assert val.eval_x[:, 0, 0, 0].tolist() == list(range(50_000, 60_000))  # the last 10,000 training images
    assert val.train_x[:, 0, 0, 0].tolist() == list(range(50_000))


def test_the_cli_validation_run_measures_held_out_training_images_never_a_test_image(tmp_path, monkeypatch):
    """Train images are filled with their index, test images with 255: what --validation measures
    must be exactly the last sixth of the training images."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "train-images-idx3-ubyte", torch.arange(60).view(60, 1, 1).expand(60, 28, 28).contiguous())
    write_idx(raw / "train-labels-idx1-ubyte", torch.arange(60) % 10)
    write_idx(raw / "t10k-images-idx3-ubyte", torch.full((30, 28, 28), 255))
    write_idx(raw / "t10k-labels-idx1-ubyte", torch.arange(30) % 10)
    import mnistlib.lab.runner
    from mnistlib.lab.cli import main
    seen = {}
    real_fit = mnistlib.lab.runner.fit

    def spy(recipe, data, **kwargs):
        seen.update(split=data.split, eval_x=data.eval_x.clone(), train_n=len(data.train_x))
        return real_fit(recipe, data, **kwargs)

    monkeypatch.setattr(mnistlib.lab.runner, "fit", spy)
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    out = tmp_path / "v.json"
    assert main(["train", "iteration1", "--validation", "--set", "epochs=1", "--data-root", str(tmp_path),
                 "--out", str(out)]) == 0
    assert seen["split"] == "validation" and seen["train_n"] == 50
    assert torch.equal(seen["eval_x"], normalise(torch.arange(50, 60).view(10, 1, 1).expand(10, 28, 28)))
    assert json.loads(out.read_text())["evaluated_on"] == "validation"


def test_onecycle_starts_low_peaks_at_thirty_percent_and_ends_near_zero():
    recipe = get_recipe("iteration4")
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr)
    steps_per_epoch = 20
    schedule = train.make_schedule(recipe, opt, recipe.epochs, steps_per_epoch)
    lrs = []
    for _ in range(recipe.epochs * steps_per_epoch):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    total = len(lrs)
    assert lrs[0] == pytest.approx(recipe.lr / 25)               # max_lr / div_factor
    assert abs(lrs.index(max(lrs)) - 0.3 * total) <= 1 and max(lrs) == pytest.approx(recipe.lr)
    assert lrs[-1] < recipe.lr / 1e4 and all(a >= b for a, b in zip(lrs[total // 3:], lrs[total // 3 + 1:]))


def test_step_schedule_drops_tenfold_after_the_milestones():
    recipe = get_recipe("iteration3")
    opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=recipe.lr)
    schedule = train.make_schedule(recipe, opt, recipe.epochs, 10)  # stepped per batch, 10 an epoch
    lrs = []
    for _ in range(recipe.epochs * 10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert lrs[::10] == pytest.approx([0.1] * 6 + [0.01] * 7 + [0.001] * 2)  # at each epoch's start
    assert lrs[59:61] == pytest.approx([0.1, 0.01])  # the step comes as epoch 6 ends


def test_a_failing_write_leaves_the_old_record_byte_for_byte_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    records.save_record(record(0, [99.0]), path)
    old = path.read_bytes()

    def full_disk(obj, f, **kwargs):
        f.write('{"half": ')
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(records.json, "dump", full_disk)
    with pytest.raises(OSError):
        records.save_record(record(1, [98.0]), path)
    assert path.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_refused_replacement_writes_nothing(tmp_path):
    path = tmp_path / "r.json"
    records.save_record(record(0, [99.0] * 15), path)
    old = path.read_bytes()
    with pytest.raises(ValueError, match="holds a run with a different epochs_asked"):
        records.save_record({**record(0, [99.0] * 15), "epochs_asked": 3}, path, overwrite=False)
    assert path.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_records_are_strict_json_even_when_a_loss_is_not_finite():
    x, y = torch.randn(8, 1, 28, 28), torch.arange(8) % 10
    run = train.Run(get_recipe("iteration1"), 0, nn.Linear(1, 1), 1, history=[
        {"epoch": 1, "train_loss": math.inf, "train_acc": 10.0, "eval_loss": math.nan, "eval_acc": 9.0, "lr": 0.1,
         "seconds": 1.0}])
    text = json.dumps(run.record(), allow_nan=False)
    assert json.loads(text)["history"][0]["eval_loss"] is None


def test_every_quoted_mean_and_std_is_one_the_records_give():
    """README's and the notebooks' prose quote results as 'mean ± std': each must be the mean and
    sample std of some group of committed records (an iteration or a variant, on the test set or
    the validation split, over a run of consecutive seeds), to two decimals."""
    import re
    import statistics
    from mnistlib.paths import RUNS_DIR
    given = set()
    for folder in [RUNS_DIR, *sorted(p for p in RUNS_DIR.rglob("*") if p.is_dir())]:
        groups = {}
        for rec in records.read_records(folder):
            if rec.get("schema") == 3 and not rec["interrupted"] and not rec["fast_mode"]:
                groups.setdefault((tables.variant_label(rec), rec["epochs"]), []).append(rec)
        for recs in groups.values():
            recs.sort(key=lambda r: r["seed"])
            for key in ("final_acc", "best_acc"):
                values = [r[key] for r in recs]
                for i in range(len(values)):
                    for j in range(i + 2, len(values) + 1):
                        given.add(f"{statistics.fmean(values[i:j]):.2f} ± {statistics.stdev(values[i:j]):.2f}")
    texts = [(PROJECT / "README.md").read_text(), *[p.read_text() for p in sorted((PROJECT / "docs").glob("*.md"))]]
    for path in sorted((PROJECT / "notebooks").glob("*.ipynb")):
        texts += ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]
    quoted = {f"{a} ± {b}" for text in texts for a, b in re.findall(r"\b(\d\d\.\d\d)\s*(?:±|\+-)\s*(\d\.\d\d)\b", text)}
    assert quoted and not quoted - given, f"quoted but not given by any group of records: {sorted(quoted - given)}"
