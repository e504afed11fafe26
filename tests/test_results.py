import json
import shutil

import pytest

from mnistlib.lab import colab
from mnistlib.models import count_params
from mnistlib.recipes import RECIPES, get_recipe
from mnistlib.paths import RUNS_DIR
from mnistlib.lab.cli import parse_seeds
from mnistlib.lab.records import figures_dir, format_seeds, load_records, read_records, why_not_a_result
from mnistlib.lab.tables import results_table, seed_stats, validation_table, variant_label
from tests.conftest import PROJECT, record


def test_seed_lists():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0-4,10-12") == [0, 1, 2, 3, 4, 10, 11, 12]
    assert parse_seeds("7") == [7]
    for bad in ("", "a", "4-2", "1,,2", "-3"):
        with pytest.raises(ValueError, match="bad seed list"):
            parse_seeds(bad)
    assert format_seeds([0, 1, 2, 3, 4, 10, 11, 12, 20]) == "0-4, 10-12, 20"


def registered(monkeypatch, epochs):
    """Make today's iteration1 a recipe of `epochs` epochs, so short synthetic records are its results."""
    from dataclasses import replace
    monkeypatch.setitem(RECIPES, "iteration1", replace(RECIPES["iteration1"], epochs=epochs))


def test_seed_stats_are_the_final_epoch_mean_and_sample_std(tmp_path, monkeypatch):
    registered(monkeypatch, 2)
    for seed, finals in enumerate([[99.5, 99.0], [99.1, 99.2], [99.6, 99.4]]):
        (tmp_path / f"r{seed}.json").write_text(json.dumps(record(seed, finals)))
    (tmp_path / "cut.json").write_text(json.dumps({**record(9, [50.0], interrupted=True), "epochs_asked": 2,
                                                   "recipe": RECIPES["iteration1"].to_dict()}))
    (tmp_path / "fast.json").write_text(json.dumps(record(8, [10.0, 10.0], fast_mode=True)))
    (tmp_path / "short.json").write_text(json.dumps({**record(7, [10.0]), "recipe": RECIPES["iteration1"].to_dict()}))
    (tmp_path / "lr.json").write_text(json.dumps(record(6, [10.0, 10.0], changes={"lr": 0.5})))  # a variant
    (tmp_path / "val.json").write_text(json.dumps(record(5, [10.0, 10.0], evaluated_on="validation")))
    s = seed_stats(load_records("iteration1", tmp_path))
    assert s["seeds"] == [0, 1, 2]
    assert s["final_mean"] == pytest.approx(99.2) and s["final_std"] == pytest.approx(0.2)
    assert s["best_mean"] == pytest.approx((99.5 + 99.2 + 99.6) / 3)
    table = results_table(["iteration1"], tmp_path)
    assert "**99.20 ± 0.20**" in table and "98.99 (best epoch, 9), one run" in table


def test_validation_table_has_one_row_per_variant_registered_first(tmp_path, monkeypatch):
    registered(monkeypatch, 1)
    val = {"evaluated_on": "validation"}
    runs = {"a0": record(0, [99.30], **val), "a1": record(1, [99.40], **val),
            "b0": record(0, [99.50], changes={"batch_size": 64}, **val),
            "b1": record(1, [99.60], changes={"batch_size": 64}, **val),
            "c0": record(0, [99.45], changes={"cfg": (8, "M", (16, 3, 1)), "lr": 0.2}, **val),
            "test": record(0, [99.99]),  # a test-set run: not a validation result
            "cut": record(2, [99.99], interrupted=True, **val)}
    (tmp_path / "validation").mkdir()
    for name, rec in runs.items():
        (tmp_path / "validation" / f"{name}.json").write_text(json.dumps(rec))
    assert variant_label(runs["c0"]) == "iteration1 + cfg=(8,'M',(16,3,1)), lr=0.2"
    assert variant_label({**runs["a0"], "recipe": {**runs["a0"]["recipe"], "lr": 0.5, "bn_first": True}}) == \
        "iteration1 + bn_first=True, lr=0.5"  # named against today's registry, old switches included
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


SEEDS = {"iteration1": range(5), "iteration2": range(5), "iteration3": range(5),  # seeds 10-12: held out
         "iteration4": range(13), "iteration5": range(13),
         "iteration6": range(13), "iteration7": range(13), "iteration8": range(13)}


def test_registry_integrity_every_committed_record_is_a_result_of_todays_recipe():
    """Fails when a registered recipe changes and its records are not re-made (or a record is
    dropped, cut short, or of another schema): every committed test-set record must be a
    complete run of today's registry entry, and each iteration must have its seeds."""
    every = list(read_records(RUNS_DIR))
    for r in every:
        why = why_not_a_result(r)
        assert why is None, (f"{r['iteration']} seed {r['seed']}: {why}; re-make it with `python -m mnistlib study`")
        assert r["final_acc"] == r["history"][-1]["eval_acc"] and len(r["history"]) == r["epochs"]
        assert r["params"] == count_params(get_recipe(r["iteration"]).build())
    for name, seeds in SEEDS.items():
        assert [r["seed"] for r in load_records(name)] == list(seeds), name
    assert set(SEEDS) == set(RECIPES)  # every iteration has its evidence


def test_committed_validation_records_are_complete_and_whole():
    for r in read_records(RUNS_DIR / "validation"):
        assert r["schema"] == 3 and r["evaluated_on"] == "validation" and not r["fast_mode"]
        assert r["epochs"] == r["epochs_asked"] == r["recipe"]["epochs"] == len(r["history"])


def test_repository_address_is_in_one_place(tmp_path):
    """README's badge holds the address; rewriting it changes README and every notebook, and
    leaves no trace of the old one."""
    old = colab.repository()
    readme = (PROJECT / "README.md").read_text()
    assert f"github/{old}/blob/main/notebooks/" in readme
    copy = tmp_path / "project"
    shutil.copytree(PROJECT / "notebooks", copy / "notebooks")
    shutil.copy(PROJECT / "README.md", copy / "README.md")
    changed = colab.set_repository("someone/mnist-tiny", root=copy)
    assert len(changed) == 1 + len(list((copy / "notebooks").glob("*.ipynb")))
    assert colab.repository(copy) == "someone/mnist-tiny"
    for path in changed:
        assert old not in path.read_text() and "someone/mnist-tiny" in path.read_text()
    with pytest.raises(ValueError):
        colab.set_repository("not a repo", root=copy)


def test_the_registry_holds_single_runs_and_stacked_ones_agree_with_them():
    """figures/runs/ holds runs trained alone; iteration 5's seeds 0-9 re-made stacked
    (figures/runs/stacked/) are results of the same registered recipe, within one std of them."""
    assert not [r for name in RECIPES for r in load_records(name) if "stacked" in r]
    stacked = load_records("iteration5", RUNS_DIR / "stacked")
    assert [r["seed"] for r in stacked] == list(range(10))
    assert all(r["seed"] in r["stacked"] and len(r["stacked"]) > 1 for r in stacked)
    alone = seed_stats([r for r in load_records("iteration5") if r["seed"] < 10])
    assert abs(seed_stats(stacked)["final_mean"] - alone["final_mean"]) < alone["final_std"]
