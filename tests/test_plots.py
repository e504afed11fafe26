import matplotlib

matplotlib.use("Agg")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

from mnistlib import plots, plots_rf  # noqa: E402
from mnistlib.lab import plots_results  # noqa: E402
from tests.conftest import PROJECT, record  # noqa: E402


class Fixed(nn.Module):
    """Answers with pre-set logits, whatever the image."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.logits[: len(x)]


def test_misclassified_lists_only_wrong_answers_most_confident_first():
    y = torch.tensor([0, 1, 2, 3])
    logits = torch.tensor([[5.0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 9], [0, 0, 0, 1]])  # wrong: 1 (->2), 2 (->3)
    idx, pred, conf = plots.misclassified(Fixed(logits), torch.zeros(4, 1, 28, 28), y)
    assert idx.tolist() == [2, 1] and pred.tolist() == [3, 2]
    assert conf[0] > conf[1] > 0.25


def run_of(model, fast=False, epochs=15):
    """A Run of iteration1 with `epochs` of its 15 epochs done (what plot_misclassified needs)."""
    from mnistlib.recipes import get_recipe
    from mnistlib.train import Run
    return Run(get_recipe("iteration1"), 0, model, epochs, fast, history=record(0, [99.0] * epochs)["history"])


def data(n, fast=False):
    from mnistlib.data import MNISTTensors
    x, y = torch.zeros(n, 1, 28, 28), torch.arange(n) % 10
    return MNISTTensors(x, y, x, y, fast=fast)


def test_only_the_remake_command_saves_a_notebooks_figures(tmp_path, monkeypatch):
    fig = plots.plot_history(record(0, [91.0, 97.0])["history"], "t")
    plots.show(fig, "curves", tmp_path)
    assert not (tmp_path / "curves.png").exists()
    monkeypatch.setenv("MNISTLIB_SAVE_FIGURES", "1")  # as `python -m mnistlib notebooks` sets it
    plots.show(fig, "curves", tmp_path)
    assert (tmp_path / "curves.png").is_file()


def test_schedule_and_augmentation_figures_come_from_the_training_code():
    from mnistlib.recipes import get_recipe
    fig = plots.plot_schedule(get_recipe("iteration4"))
    lrs = fig.axes[0].lines[0].get_ydata()
    assert len(lrs) == 15 * 938 and abs(list(lrs).index(max(lrs)) - 0.3 * len(lrs)) <= 1
    assert "one-cycle: from 0.004 up to 0.1 at 30% of the steps" in fig.alt_text
    assert "0.1, x0.1 after epochs 6, 13" in plots.plot_schedule(get_recipe("iteration3")).alt_text
    assert "constant 0.01" in plots.plot_schedule(get_recipe("iteration1")).alt_text
    digits = data(4)
    digits.train_x[0, 0, 10:18, 12:16] = 3.0  # a bar
    fig = plots.plot_augmentations(get_recipe("iteration4"), digits, n=5)
    shown = [ax.images[0].get_array() for ax in fig.axes]
    assert len(shown) == 6 and all(not (a == shown[0]).all() for a in shown[1:])  # each draw moves the digit
    assert "rotation up to ±7°, shift up to 10% of the image, zoom up to ±9%" in fig.alt_text
    fig = plots.plot_augmentations(get_recipe("iteration1"), digits, n=3)
    assert all((ax.images[0].get_array() == fig.axes[0].images[0].get_array()).all() for ax in fig.axes)
    assert "no augmentation" in fig.alt_text


def test_figures_draw_every_point_and_carry_a_text_alternative(tmp_path, capsys):
    history = record(0, [91.0, 97.0, 98.5, 99.0, 99.1, 99.2, 99.3])["history"]
    history[0]["train_acc"] = 85.0  # the lowest point of either curve sets the axis
    fig = plots.plot_history(history, "t")
    acc = fig.axes[0]
    assert len(acc.lines) == 3 and acc.get_ylim()[0] < 85.0  # train, test, 99.4 line; nothing cut
    assert len(fig.axes) == 2 and len(acc.child_axes) == 1  # accuracy with an inset on the late epochs, loss
    assert "final epoch: train 99.00%, test 99.30%" in fig.alt_text
    assert plots.show(fig, "curves", tmp_path) is None and not (tmp_path / "curves.png").exists()  # a student's run
    out = capsys.readouterr().out
    assert out.startswith("Figure: accuracy and loss per epoch over 7 epoch(s)") and "curves.png" not in out
    recs = [record(s, [97.0 + s, 99.0, 99.0, 99.0, 99.0, 99.1 + s / 10]) for s in range(3)]
    one = plots.plot_history(history[:1], "one epoch")  # a class-time or fast-mode run: the tick is epoch 1
    assert [t for t in one.axes[0].get_xticks() if 0.5 <= t <= 1.5] == [1.0]
    fig = plots_results.plot_seeds(recs)
    assert len(fig.axes) == 3 and fig.axes[0].get_ylim()[0] < 97.0  # all epochs, the late ones enlarged
    assert "final epoch over seeds 0-2: 99.20 ± 0.10" in fig.alt_text
    fig = plots_results.plot_seeds(recs + [record(11, [97.0, 99.0, 99.0, 99.0, 99.0, 98.0])])  # a held-out seed: drawn, not averaged
    assert "seeds 0-2: 99.20 ± 0.10" in fig.alt_text and "held-out seeds 11: 98.00" in fig.alt_text
    assert "3 seeds + 1 held out" in fig._suptitle.get_text()
    assert len(plots_results.plot_comparison({"iteration1": recs}).axes) == 2
    fig = plots.plot_misclassified(run_of(Fixed(torch.eye(10)[[1, 2, 2]])), data(3), n=5, cols=4)
    assert sum(len(ax.images) > 0 for ax in fig.axes) == 2  # two wrong answers drawn
    assert "2 of 3 wrong" in fig.alt_text
    from mnistlib.recipes import get_recipe
    fig = plots_rf.plot_receptive_fields(get_recipe("iteration1").build(), data(1))
    assert [ax.get_title().split()[-1] for ax in fig.axes] == ["3", "5", "6", "10", "12", "20", "28", "28"]


def test_figures_of_runs_that_are_not_results_say_so_and_are_never_saved(tmp_path):
    fig = plots.plot_misclassified(run_of(Fixed(torch.eye(10)[[1, 2, 2]]), fast=True), data(3, fast=True))
    assert "FAST MODE" in fig._suptitle.get_text() and "FAST MODE" in fig.alt_text
    assert plots.save(fig, "fast", tmp_path) is None and not (tmp_path / "fast.png").exists()
    fig = plots.plot_misclassified(run_of(Fixed(torch.eye(10)[[1, 2, 2]]), epochs=3), data(3))
    assert "SHORT RUN: 3 of 15 epochs" in fig._suptitle.get_text() and plots.save(fig, "short", tmp_path) is None
    from mnistlib.recipes import get_recipe
    assert plots.save(plots_rf.plot_receptive_fields(get_recipe("iteration1").build(), data(1, fast=True)), "rf",
                      tmp_path) is None


def test_the_figures_load_on_first_use_and_the_lesson_figures_never_load_the_records():
    loaded = ("[m for m in sys.modules if m.split('.')[0] == 'matplotlib' or m in "
              "('mnistlib.plots', 'mnistlib.lab.plots_results', 'mnistlib.lab.records', 'mnistlib.lab.tables', "
              "'mnistlib.lab.runner', 'mnistlib.lab.cli', 'mnistlib.lab.commands')]")
    lesson = [p.stem for p in (PROJECT / "mnistlib").glob("*.py") if p.stem not in ("__init__", "__main__")]
    code = (f"import sys, mnistlib as ml; print({loaded}); names = dir(ml); import mnistlib.plots; "
            f"import {', '.join('mnistlib.' + m for m in lesson)}; print({loaded} + "
            "[m for m in sys.modules if m.startswith('mnistlib.lab')]); "
            "print(all(n in names for n in ('plot_history', 'plot_seeds', 'show', 'results_table', 'FROM_SCRATCH')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"  # import mnistlib: no matplotlib, no figures, no records, no CLI
    assert "'mnistlib.plots'" in out[1] and "mnistlib.lab" not in out[1] and out[2] == "True"  # no lesson module loads the lab
    import mnistlib as ml
    from mnistlib.lab import records, tables
    assert ml.plot_history is plots.plot_history and ml.show is plots.show and ml.plot_seeds is plots_results.plot_seeds
    assert ml.results_table is tables.results_table and ml.FROM_SCRATCH is tables.FROM_SCRATCH
    assert ml.load_records is records.load_records and ml.why_not_a_result is records.why_not_a_result


def test_a_variant_is_set_beside_the_recipes_validation_records_of_the_same_seeds(tmp_path):
    """The verdict is the project's rule: the mean gain over the same seeds against one seed std."""
    import matplotlib.pyplot as plt
    plt.close("all")  # the figures earlier tests drew
    from dataclasses import replace
    from mnistlib.recipes import get_recipe
    from mnistlib.train import Run
    (tmp_path / "validation").mkdir()
    for seed, acc in enumerate([99.0, 99.2, 99.1, 95.0]):  # seed 3: not among the variant's seeds
        rec = record(seed, [acc] * 15, evaluated_on="validation")
        (tmp_path / "validation" / f"r{seed}.json").write_text(json.dumps(rec))
    variant = replace(get_recipe("iteration1"), lr=0.02)

    def runs(accs):
        return [Run(variant, seed, variant.build(), 15, split="validation", history=record(seed, [acc] * 15)["history"])
                for seed, acc in enumerate(accs)]

    better = plots_results.plot_variant(runs([99.4, 99.5, 99.3]), tmp_path)
    assert "+0.30" in better.alt_text and "more than" in better.alt_text and "not more" not in better.alt_text
    assert better.not_saved is None  # a whole validation run of a variant: nothing to warn about
    same = plots_results.plot_variant(runs([99.05, 99.2, 99.1]), tmp_path)
    assert "not more than" in same.alt_text
    alone = plots_results.plot_variant(runs([99.05, 99.2, 99.1]), tmp_path / "nothing")
    assert "no validation records" in alone.alt_text
    plt.close("all")


def test_the_jump_picture_sets_each_layers_units_a_jump_apart():
    """00's picture of a pool doubling the jump: a row of unit centres per conv/pool layer, spaced
    by the layer's jump, and every label inside the frame."""
    import matplotlib.pyplot as plt
    from mnistlib.recipes import get_recipe
    fig = plots_rf.plot_jumps(get_recipe("iteration1").build())
    ax = fig.axes[0]
    rows = [line.get_xdata() for line in ax.lines if line.get_color() == "0.55"]  # every unit of a row, grey
    assert [round(float(xs[1] - xs[0])) for xs in rows if len(xs) > 1] == [1, 1, 1, 2, 2, 4, 4]  # input, 2 convs, pool...
    assert "jump 1, 1, 2, 2, 4, 4, 12 and receptive field 3, 5, 6, 10, 12, 20, 28 px" in fig.alt_text
    fig.canvas.draw()
    frame = ax.get_window_extent()
    assert all(frame.x0 <= t.get_window_extent().x0 and t.get_window_extent().x1 <= frame.x1 for t in ax.texts)
    plt.close("all")


def test_the_comparisons_labels_stay_inside_the_frame_and_off_the_error_bars():
    """09's figure, from the committed records: each label of the right panel inside its frame and
    clear of every error bar, the 99.4% line, the legend and every other label."""
    import matplotlib.pyplot as plt
    from mnistlib.lab.records import load_records
    from mnistlib.lab.tables import FROM_SCRATCH
    fig = plots_results.plot_comparison({name: load_records(name) for name in FROM_SCRATCH})
    scatter = fig.axes[1]
    fig.canvas.draw()
    renderer, to_px = fig.canvas.get_renderer(), scatter.transData.transform
    frame = scatter.get_window_extent(renderer)
    labels = [t.get_window_extent(renderer) for t in scatter.texts]
    assert len(labels) == len(FROM_SCRATCH) + 3  # each iteration, and the write-up's three claims
    bars = []
    for container in scatter.containers:
        for (x, low), (_, high) in container.lines[2][0].get_segments():  # the vertical bar, in data
            (px, y0), (_, y1) = to_px((x, low)), to_px((x, high))
            bars.append((px - 6, y0, px + 6, y1))  # with its caps
    target = to_px((0, 99.4))[1]
    others = bars + [(frame.x0, target, frame.x1, target), tuple(scatter.get_legend().get_window_extent(renderer).extents)]
    meets = lambda a, b: a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]  # noqa: E731
    for i, box in enumerate(labels):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        assert not any(meets(box.extents, other) for other in others + [b.extents for b in labels[i + 1:]])
    plt.close("all")
