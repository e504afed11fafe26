"""What each change bought: the ablation table's arithmetic on planted validation records."""
import json

import pytest

from mnistlib.errors import Refusal
from mnistlib.lab.ablations import ablation, ablation_table, ideas, plot_ablation
from tests.conftest import record


def plant(folder, seed, acc, iteration="iteration1", **changes):
    """A complete 15-epoch validation record of `iteration` (with `changes`: a variant of it)."""
    rec = record(seed, [98.0] * 14 + [acc], iteration, changes=changes, evaluated_on="validation")
    name = f"{iteration}{''.join(f'+{k}' for k in changes)}-seed{seed}.json"
    (folder / name).write_text(json.dumps(rec))


def test_each_idea_is_the_fields_it_sets_from_the_parent():
    assert ideas("iteration2") == {"head": {"head": "conv"}, "dropout": {"dropout": 0.1},  # the head alone: its own
                                   "augmentation": {"rotate": 6.0, "translate": 0.1}}
    assert ideas("iteration4")["body"] == {"cfg": (8, 12, "M", 16, 16, 16), "head": "gap"}  # with a new body: the body
    assert set(ideas("iteration4")) == {"body", "dropout", "augmentation", "batch size", "learning rate"}
    with pytest.raises(Refusal):
        ablation("iteration8")


def test_gains_are_paired_by_seed_and_judged_against_the_parents_spread(tmp_path):
    folder = tmp_path / "validation"
    folder.mkdir()
    for seed, acc in enumerate([99.00, 99.10, 99.20]):  # parent: std 0.10
        plant(folder, seed, acc)
        plant(folder, seed, acc + 0.30, dropout=0.1)        # +0.30 on every seed: beyond
        plant(folder, seed, acc + 0.05, rotate=6.0, translate=0.1)  # +0.05: within
        plant(folder, seed, acc + 0.20, "iteration2")       # the whole step
    plant(folder, 3, 98.00, dropout=0.1)  # a seed the parent lacks: left out of the pairing
    a = ablation("iteration2", tmp_path)
    assert sorted(a["accs"]["dropout"]) == [0, 1, 2, 3] and a["accs"]["head"] == {}
    rows = {row.split(" | ")[0].strip("| "): row for row in ablation_table("iteration2", tmp_path).splitlines()}
    assert "+0.30 | yes" in rows["dropout: dropout=0.1"]
    assert "+0.05 | no" in rows["augmentation: rotate=6.0, translate=0.1"]
    assert "not measured" in rows["head: head='conv'"]
    assert "+0.20 | yes" in rows["iteration2 (all at once)"]
    assert "sum of the single gains" not in rows  # one idea is not measured: no sum to set beside the step
    fig = plot_ablation("iteration2", tmp_path)
    assert "dropout +0.30" in fig.alt_text and "augmentation +0.05" in fig.alt_text


def test_the_sum_is_of_the_gains_as_shown_and_nothing_shows_as_minus_zero(tmp_path):
    folder = tmp_path / "validation"
    folder.mkdir()
    for seed, acc in enumerate([99.00, 99.10]):
        plant(folder, seed, acc)
        plant(folder, seed, acc + 0.014, head="conv")                # +0.014: shown +0.01
        plant(folder, seed, acc + 0.014, dropout=0.1)                # +0.014: shown +0.01
        plant(folder, seed, acc + 0.014, rotate=6.0, translate=0.1)  # +0.014: shown +0.01
        plant(folder, seed, acc - 0.004, "iteration2")                # -0.004: shown 0.00, not -0.00
    rows = {row.split(" | ")[0].strip("| "): row for row in ablation_table("iteration2", tmp_path).splitlines()}
    assert "| 0.00 | no" in rows["iteration2 (all at once)"]
    assert "| +0.03 |" in rows["sum of the single gains"]  # +0.01 three times, as shown (unrounded: +0.042)


def test_without_the_parents_records_the_table_refuses_in_one_line(tmp_path):
    (tmp_path / "validation").mkdir()
    with pytest.raises(Refusal, match="iteration1"):
        ablation_table("iteration2", tmp_path)


def test_the_commands_print_every_iterations_table_and_draw_the_figure(tmp_path, capsys):
    from mnistlib.lab.cli import main
    folder = tmp_path / "validation"
    folder.mkdir()
    for seed in (0, 1):
        for n in (1, 2, 3, 4):
            plant(folder, seed, 99.0 + n / 10 + seed / 20, f"iteration{n}")
    assert main(["table", "--ablations", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines() if "each change alone on" in line] == \
        ["| iteration2", "| iteration3", "| iteration4", "| iteration5"]
    assert main(["figures", "--runs-dir", str(tmp_path)]) == 0
    assert f"figure: {tmp_path / 'ablations.png'}" in capsys.readouterr().out and (tmp_path / "ablations.png").stat().st_size
