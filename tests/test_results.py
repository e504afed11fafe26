import json
import shutil

import pytest

from mnistlib import colab
from mnistlib.results import (RUNS_DIR, figures_dir, format_seeds, load_records, parse_seeds, results_table,
                              summarize, validation_table, variant_label)
from tests.conftest import PROJECT


def test_seed_lists():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0-4,10-12") == [0, 1, 2, 3, 4, 10, 11, 12]
    assert parse_seeds("7") == [7]
    for bad in ("", "a", "4-2", "1,,2", "-3"):
        with pytest.raises(ValueError, match="bad seed list"):
            parse_seeds(bad)
    assert format_seeds([0, 1, 2, 3, 4, 10, 11, 12, 20]) == "0-4, 10-12, 20"


def record(seed, finals, iteration="iteration1", **extra):
    history = [{"epoch": i + 1, "train_loss": 0.1, "train_acc": 99.0, "test_loss": 0.1, "test_acc": a,
                "lr": 0.01, "seconds": 1.0} for i, a in enumerate(finals)]
    return {"iteration": iteration, "params": 7344, "seed": seed, "epochs": len(finals),
            "planned_epochs": len(finals), "device": "cpu", "history": history,
            "final_test_acc": finals[-1], "best_test_acc": max(finals), **extra}


def test_summary_is_final_epoch_mean_and_sample_std(tmp_path):
    for seed, finals in enumerate([[99.5, 99.0], [99.1, 99.2], [99.6, 99.4]]):
        (tmp_path / f"r{seed}.json").write_text(json.dumps(record(seed, finals)))
    (tmp_path / "bad.json").write_text(json.dumps(record(9, [50.0], interrupted=True)))
    (tmp_path / "fast.json").write_text(json.dumps(record(8, [10.0], fast_mode=True)))
    s = summarize(load_records("iteration1", tmp_path))
    assert s["seeds"] == [0, 1, 2]
    assert s["final_mean"] == pytest.approx(99.2) and s["final_std"] == pytest.approx(0.2)
    assert s["best_mean"] == pytest.approx((99.5 + 99.2 + 99.6) / 3)
    table = results_table(["iteration1"], tmp_path)
    assert "**99.20 ± 0.20**" in table and "98.99 (best epoch, 9), one run" in table


def test_validation_table_has_one_row_per_variant_registered_first(tmp_path):
    val = {"evaluated_on": "validation"}
    runs = {"a0": record(0, [99.30], recipe_changes={}, **val), "a1": record(1, [99.40], recipe_changes={}, **val),
            "b0": record(0, [99.50], recipe_changes={"batch_size": 64}, **val),
            "b1": record(1, [99.60], recipe_changes={"batch_size": 64}, **val),
            "c0": record(0, [99.45], recipe_changes={"cfg": [8, "M", [16, 3, 1]], "lr": 0.2}, **val),
            "test": record(0, [99.99], recipe_changes={}),  # a test-set run: not a validation result
            "cut": record(2, [99.99], recipe_changes={}, interrupted=True, **val)}
    for name, rec in runs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(rec))
    assert variant_label(runs["c0"]) == "iteration1 + cfg=(8,'M',(16,3,1)), lr=0.2"
    from dataclasses import asdict
    from mnistlib.recipes import ITERATION1
    whole = json.loads(json.dumps(asdict(ITERATION1)))  # a record with its whole recipe is named against
    assert variant_label({**runs["b0"], "recipe": whole}) == "iteration1"  # today's registry, not its changes
    assert variant_label({**runs["a0"], "recipe": {**whole, "lr": 0.5, "bn_first": True}}) == \
        "iteration1 + bn_first=True, lr=0.5"
    rows = validation_table(tmp_path).splitlines()[2:]
    assert [row.split("|")[1].strip() for row in rows] == [
        "`iteration1`", "`iteration1 + batch_size=64`", "`iteration1 + cfg=(8,'M',(16,3,1)), lr=0.2`"]
    assert "| 0-1 | **99.35** ± 0.07 | 99.30 – 99.40 |" in rows[0]
    assert "**99.45** (one seed)" in rows[2]
    with pytest.raises(ValueError, match="no complete validation-split records"):
        validation_table(tmp_path / "empty")


def test_figures_from_other_runs_dirs_stay_beside_them(tmp_path):
    assert figures_dir() == figures_dir(RUNS_DIR / ".." / "runs") == RUNS_DIR.parent
    assert figures_dir(tmp_path) == tmp_path


def test_committed_records_are_complete_runs():
    records = load_records(runs_dir=RUNS_DIR, complete=False)
    assert {r["iteration"] for r in records} >= {"iteration1", "iteration2", "iteration3"}
    for r in records:
        assert not r["interrupted"] and not r["fast_mode"] and r["epochs"] == 15 == len(r["history"])
        assert r["final_test_acc"] == r["history"][-1]["test_acc"]
    for name in ("iteration1", "iteration2", "iteration3"):
        assert [r["seed"] for r in records if r["iteration"] == name] == [0, 1, 2, 3, 4]
    for name in ("iteration4", "iteration5", "iteration6"):  # seeds 10-12 held out
        assert [r["seed"] for r in records if r["iteration"] == name] == [0, 1, 2, 3, 4, 10, 11, 12]


def test_repository_address_is_in_one_place(tmp_path, monkeypatch):
    readme = (PROJECT / "README.md").read_text()
    assert f"github.com/{colab.REPOSITORY}" in readme or f"github/{colab.REPOSITORY}/" in readme
    # rewriting it touches the constant, README and every notebook, and nothing is left behind
    copy = tmp_path / "project"
    shutil.copytree(PROJECT / "notebooks", copy / "notebooks")
    shutil.copy(PROJECT / "README.md", copy / "README.md")
    module = tmp_path / "colab.py"
    shutil.copy(colab.__file__, module)
    monkeypatch.setattr(colab, "__file__", str(module))
    changed = colab.set_repository("someone/mnist-tiny", root=copy)
    assert len(changed) == 2 + len(list((copy / "notebooks").glob("*.ipynb")))
    assert 'REPOSITORY = "someone/mnist-tiny"' in module.read_text()
    for path in changed[1:]:
        assert colab.REPOSITORY not in path.read_text() and "someone/mnist-tiny" in path.read_text()
    with pytest.raises(ValueError):
        colab.set_repository("not a repo", root=copy)
