"""The committed notebooks: executed in full mode, thin, each with its Colab badge."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from mnistlib.lab.colab import repository
from mnistlib.lab.remake import KERNELSPEC, WIDGET_VIEW
from tests.conftest import PROJECT

NOTEBOOKS = sorted((PROJECT / "notebooks").glob("*.ipynb"))


def cells(path, kind="code"):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def text_of(cell):
    out = []
    for o in cell.get("outputs", []):
        out.append("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


def test_the_series_is_there():
    assert [p.name for p in NOTEBOOKS] == ["00_receptive_field.ipynb", "01_iteration1.ipynb", "02_iteration2.ipynb",
                                           "03_iteration3.ipynb", "04_iteration4.ipynb", "05_iteration5.ipynb",
                                           "06_iteration6.ipynb", "07_iteration7.ipynb", "08_learning_from_a_teacher.ipynb",
                                           "09_comparison.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_executed_in_full_mode(path):
    code = cells(path)
    assert all(c["execution_count"] is not None for c in code), "every code cell must carry its execution count"
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), "run top to bottom, once"
    assert all("FAST MODE" not in text_of(c) for c in code), "stored outputs must come from a full run"
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_badge_and_install_cell(path):
    badge = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             f"(https://colab.research.google.com/github/{repository()}/blob/main/notebooks/{path.name})")
    assert badge in "".join(cells(path, "markdown")[0]["source"])
    setup = "".join(cells(path)[0]["source"])
    assert setup.startswith("# @title ") and f'REPOSITORY = "{repository()}"' in setup  # run as on Colab: test_colab.py


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_notebooks_read_cleanly_everywhere(path):
    """No frozen progress bar, no widget view or state (which shows "model not found" or blank
    bands when it is missing or stale), and the kernelspec JupyterLab writes, so opening the
    notebook does not mark it modified."""
    nb = json.loads(path.read_text())
    assert "widgets" not in nb["metadata"]
    assert nb["metadata"]["kernelspec"] == KERNELSPEC
    for c in cells(path):
        for o in c.get("outputs", []):
            assert WIDGET_VIEW not in o.get("data", {}), "a widget view in the stored outputs"
            assert not re.search(r"\b0%\|", text_of({"outputs": [o]})), "a frozen 0% progress bar"
            assert str(PROJECT) not in text_of({"outputs": [o]}) and "PosixPath(" not in text_of({"outputs": [o]}), \
                "a path of the machine that executed it"
        assert "execution" not in c["metadata"]
    assert all("id" in c for c in nb["cells"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_stored_figure_has_a_text_alternative(path):
    for c in cells(path):
        outputs = c.get("outputs", [])
        for i, o in enumerate(outputs):
            if "image/png" in o.get("data", {}):
                caption = ["".join(other.get("data", {}).get("text/markdown", "")) for other in outputs if other is not o]
                assert any(text.startswith("*Figure: ") and "figures/" not in text for text in caption), \
                    "".join(c["source"])


def test_normalise_strips_widgets_and_timestamps():
    from mnistlib.lab.remake import normalise
    nb = {"metadata": {"kernelspec": {"display_name": "Python 3", "name": "python3"}, "widgets": {"state": {}}},
          "nbformat": 4, "nbformat_minor": 4,
          "cells": [{"cell_type": "code", "metadata": {"execution": {"iopub.status.busy": "2026"}}, "source": "",
                     "outputs": [{"output_type": "display_data", "data": {WIDGET_VIEW: {}, "text/plain": "0%|"}},
                                 {"output_type": "stream", "name": "stdout", "text": "epoch  1 ..."}]}]}
    out = normalise(nb)
    assert out["metadata"] == {"kernelspec": KERNELSPEC} and out["nbformat_minor"] == 5
    assert out["cells"][0]["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "epoch  1 ..."}]
    assert out["cells"][0]["metadata"] == {} and out["cells"][0]["id"] == "cell-00"


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_iteration_notebooks_show_their_network_and_figures(n):
    path = PROJECT / "notebooks" / f"0{n}_iteration{n}.ipynb"
    code = cells(path)
    images = sum("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))
    assert images >= 3  # curves, misclassified digits, seeds
    trained = next(c for c in code if "ml.fit(recipe" in "".join(c["source"]))
    assert len(re.findall(r"^epoch +\d+ ", text_of(trained), re.M)) == 15  # the full 15 epochs ran
    listing = next(c for c in code if "layer_listing" in "".join(c["source"]))
    assert text_of(listing).startswith("cfg = (") and "RF" in text_of(listing)  # the network, as code
    assert any("replace(recipe" in "".join(c["source"]) and "validation_split()" in "".join(c["source"]) for c in code)
    assert sum(len(c["source"]) for c in code) < 40 * len(code)  # thin: short cells that call mnistlib


OWN_CELLS = ("nn.Sequential(", "ablation")  # 01 writes its network out; 02-05 measure their changes one by one


def test_iteration_notebooks_differ_only_in_prose_and_name():
    strip = lambda p: ["".join(c["source"]).replace(p.stem.split("_")[1], "NAME") for c in cells(p)
                       if not any(own in "".join(c["source"]) for own in OWN_CELLS)]
    first, *others = (strip(PROJECT / "notebooks" / f"0{n}_iteration{n}.ipynb") for n in (1, 2, 3, 4, 5, 6, 7))
    assert all(other == first for other in others)


def test_the_network_in_pytorch_written_out_in_01_and_printed_in_every_iteration():
    written = next(c for c in cells(PROJECT / "notebooks" / "01_iteration1.ipynb") if "nn.Sequential(" in "".join(c["source"]))
    assert text_of(written).startswith("7,344 parameters") and text_of(written).rstrip().endswith("True")
    for n in range(1, 8):
        code = cells(PROJECT / "notebooks" / f"0{n}_iteration{n}.ipynb")
        printed = next(c for c in code if "".join(c["source"]).startswith("print(recipe.build())"))
        assert text_of(printed).startswith("Sequential(") and "bias=False" in text_of(printed)
        rf = next(c for c in code if "plot_receptive_fields(recipe.build(), data)" in "".join(c["source"]))
        assert any("image/png" in o.get("data", {}) for o in rf["outputs"])


STUDENT_PLUMBING = ("data.fast", "TRY or", "NBVAL", "MNISTLIB_FAST")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_cells_carry_no_test_plumbing(path):
    for c in cells(path):
        source = "".join(c["source"])
        assert not any(word in source for word in STUDENT_PLUMBING), source
    for c in cells(path, "markdown"):
        assert "fast mode" not in "".join(c["source"]).lower()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_iteration_notebooks_teach_what_changed_with_exercises_and_the_recipe_drawn(n):
    path = PROJECT / "notebooks" / f"0{n}_iteration{n}.ipynb"
    sources = ["".join(c["source"]) for c in cells(path)]
    assert any(s.startswith("ml.diff(recipe)") for s in sources)  # a generated diff from the previous iteration
    assert "EPOCHS = 15  # class time: e.g. 3" in "\n".join(sources)
    for plot in ("plot_schedule(recipe)", "plot_augmentations(recipe, data)"):
        drawn = next(c for c in cells(path) if plot in "".join(c["source"]))
        assert any("image/png" in o.get("data", {}) for o in drawn["outputs"]), plot
    prose = ["".join(c["source"]) for c in cells(path, "markdown")]
    exercises = next(p for p in prose if p.startswith("## Exercises"))
    assert exercises.count("<details>") >= 2 and exercises.count("<details>") == exercises.count("</details>")
    assert "docs/methods.md" in prose[-1]  # provenance: one line, linking the methods page


def test_a_students_full_run_changes_no_project_file(tmp_path):
    """Every cell of notebook 01 run in full mode in a copy of the project (training patched to
    one short step that reads as a complete 15-epoch result): git status stays clean."""
    clone = tmp_path / "project"
    files = subprocess.run(["git", "ls-files"], cwd=PROJECT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT / name, clone / name)
    git = lambda *args: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=clone,
                                       capture_output=True, text=True, check=True).stdout
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "copy")
    script = """
import json, sys
from dataclasses import replace
import mnistlib
real_fit = mnistlib.fit
def fit(recipe, data, seed=0, epochs=None, **kwargs):  # one step on 256 images, shown as 15 epochs
    run = real_fit(recipe, replace(data, train_x=data.train_x[:256], train_y=data.train_y[:256]), seed=seed, epochs=1,
                   progress=False, log=None)
    run.history = [{**run.history[0], "epoch": e} for e in range(1, 16)]
    run.epochs_asked = 15
    return run
mnistlib.fit = fit
namespace = {}
for cell in json.load(open(sys.argv[1]))["cells"]:
    if cell["cell_type"] == "code":
        exec("".join(cell["source"]), namespace)
assert mnistlib.why_not_a_result(namespace["run"]) is None  # it reads as a result: the old code saved its figures
"""
    env = {**os.environ, "MNISTLIB_FAST": "0", "PYTHONPATH": str(clone), "MPLBACKEND": "Agg"}
    env.pop("MNISTLIB_SAVE_FIGURES", None)
    subprocess.run([sys.executable, "-c", script, "01_iteration1.ipynb"], cwd=clone / "notebooks", env=env, check=True,
                   capture_output=True, text=True, timeout=300)
    assert git("status", "--porcelain") == ""


def test_the_teacher_notebook_shows_soft_targets_the_loss_and_both_runs():
    code = cells(PROJECT / "notebooks" / "08_learning_from_a_teacher.ipynb")
    source = lambda c: "".join(c["source"])
    loss = next(c for c in code if "def loss_with_teacher" in source(c))
    mine, library = re.findall(r"(\d+\.\d{4})", text_of(loss))
    assert mine == library  # the loss written out in the cell is the one training uses
    runs = [c for c in code if re.search(r"^\w+ = ml\.fit\(", source(c), re.M)]
    assert len(runs) == 2 and "teacher=teacher" in source(runs[1]) and "teacher" not in source(runs[0])
    assert all(len(re.findall(r"^epoch +\d+ ", text_of(c), re.M)) == 15 for c in runs)  # 15 epochs each, stored
    images = sum("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))
    assert images >= 2  # the soft targets, the two runs
    assert all(re.search(r"ml\.fit\(\w+, val, ", source(c)) for c in runs)  # a choice of recipe: on validation only
    assert "data.validation_split()" in "".join(source(c) for c in code)


def test_00_draws_a_pool_doubling_the_jump_and_its_checks_keep_the_answers_folded():
    path = PROJECT / "notebooks" / "00_receptive_field.ipynb"
    code = cells(path)
    jumps = next(c for c in code if "plot_jumps(" in "".join(c["source"]))
    assert any("image/png" in o.get("data", {}) for o in jumps["outputs"])
    checks = [c for c in code if "".join(c["source"]).startswith("# Check answer")]
    assert len(checks) == 3
    for c in checks:  # stored as a student first sees them: a reminder, no table, no number
        assert text_of(c).startswith("Your answer first") and not re.search(r"\d", text_of(c))
    assert "docs/methods.md" not in "".join(cells(path, "markdown")[-1]["source"])  # no lab footer in 00


LAB_TALK = (r"python -m mnistlib", r"tests/test_", r"\b[0-9a-f]{10}\.pt\b", "AMD EPYC", r"Xeon", "across machines")


@pytest.mark.parametrize("name", ["00_receptive_field", "08_learning_from_a_teacher", "09_comparison"])
def test_no_lab_talk_in_the_teaching_text(name):
    """CLI commands, test files, cache hashes and machine names stay in docs/, out of the prose and
    the tables a student reads (the Colab set-up cell, the lab's own, aside)."""
    path = PROJECT / "notebooks" / f"{name}.ipynb"
    prose = ["".join(c["source"]) for c in cells(path, "markdown")]
    tables = ["".join(o.get("data", {}).get("text/markdown", "")) for c in cells(path)[1:] for o in c.get("outputs", [])]
    for text in prose + tables:
        assert not any(re.search(talk, text) for talk in LAB_TALK), text


def test_the_teacher_cell_says_its_cost_and_follows_epochs():
    """08 in class: EPOCHS is set with the teachers, they train for it, and the prose before the
    cell says what it costs."""
    path = PROJECT / "notebooks" / "08_learning_from_a_teacher.ipynb"
    nb = json.loads(path.read_text())["cells"]
    at = next(i for i, c in enumerate(nb) if "ml.get_teacher(" in "".join(c["source"]))
    assert re.search(r"^EPOCHS = 15\b", "".join(nb[at]["source"]), re.M)
    assert "epochs=EPOCHS" in "".join(nb[at]["source"])
    assert "minutes" in "".join(nb[at - 1]["source"]) and "EPOCHS = 3" in "".join(nb[at - 1]["source"])
    assert all("epochs=EPOCHS" in "".join(c["source"]) for c in nb if "get_teacher(" in "".join(c["source"]))


def test_a_short_class_time_teacher_says_so(tmp_path):
    from dataclasses import replace
    import torch
    from mnistlib import distil
    from mnistlib.data import MNISTTensors
    from mnistlib.recipes import get_recipe
    x, y = torch.randn(150, 1, 28, 28, generator=torch.Generator().manual_seed(0)), torch.arange(150) % 10
    data = MNISTTensors(x[:120], y[:120], x[120:], y[120:])
    said = []
    student = replace(get_recipe("iteration6"), teacher=("iteration4",))
    teacher = distil.get_teacher(student, data, seed=0, cache_dir=tmp_path, progress=False, log=said.append, epochs=1)
    assert teacher.records[0]["epochs"] == 1
    assert "training it for 1 epochs, not its recipe's 15: a weaker teacher" in said[0]
    again = []
    distil.get_teacher(student, data, seed=0, cache_dir=tmp_path, progress=False, log=again.append, epochs=1)
    assert "trained before (1 epochs, not its recipe's 15: a weaker teacher)" in again[0]


@pytest.mark.parametrize("name", ["00_receptive_field", "08_learning_from_a_teacher", "09_comparison"])
def test_a_sentence_reads_each_figure_and_table(name):
    """After a cell that draws a figure or a table comes prose, not straight the next cell."""
    nb = json.loads((PROJECT / "notebooks" / f"{name}.ipynb").read_text())["cells"]
    for c, after in zip(nb, nb[1:] + [None]):
        shown = [o.get("data", {}) for o in c.get("outputs", [])]
        if any("image/png" in d or "|---" in "".join(d.get("text/markdown", "")) for d in shown):
            assert after is not None and after["cell_type"] == "markdown", "".join(c["source"])


def test_09_has_exercises_with_folded_answers():
    prose = ["".join(c["source"]) for c in cells(PROJECT / "notebooks" / "09_comparison.ipynb", "markdown")]
    exercises = next(p for p in prose if p.startswith("## Exercises"))
    assert exercises.count("<details>") >= 3 and exercises.count("<details>") == exercises.count("</details>")


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_each_step_shows_what_each_of_its_changes_bought_alone(n):
    code = cells(PROJECT / "notebooks" / f"0{n}_iteration{n}.ipynb")
    table = next(c for c in code if "ablation_table(recipe.name)" in "".join(c["source"]))
    shown = "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in table["outputs"])
    assert f"each change alone on iteration{n - 1}" in shown and f"iteration{n} (all at once)" in shown
    figure = next(c for c in code if "plot_ablation(recipe.name)" in "".join(c["source"]))
    assert any("image/png" in o.get("data", {}) for o in figure["outputs"])
    prose = ["".join(c["source"]) for c in cells(PROJECT / "notebooks" / f"0{n}_iteration{n}.ipynb", "markdown")]
    assert "ABLATION-LESSON" not in "".join(prose)
