"""The committed notebooks: executed in full mode, thin, each with its Colab badge."""
import json
import re

import pytest

from mnistlib.colab import repository
from mnistlib.remake import KERNELSPEC, WIDGET_VIEW
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
                                           "06_iteration6.ipynb", "07_iteration7.ipynb", "08_comparison.ipynb"]


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
    assert 'os.path.isdir("/content")' in setup and f"github.com/{repository()} " in setup


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
                caption = [text_of({"outputs": [other]}) for other in outputs if other is not o]
                assert any(line.startswith("Figure: ") for text in caption for line in text.splitlines()), \
                    "".join(c["source"])


def test_normalise_strips_widgets_and_timestamps():
    from mnistlib.remake import normalise
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


def test_iteration_notebooks_differ_only_in_prose_and_name():
    strip = lambda p: ["".join(c["source"]).replace(p.stem.split("_")[1], "NAME") for c in cells(p)]
    first, *others = (strip(PROJECT / "notebooks" / f"0{n}_iteration{n}.ipynb") for n in (1, 2, 3, 4, 5, 6, 7))
    assert all(other == first for other in others)
