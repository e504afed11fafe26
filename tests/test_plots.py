import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from mnistlib import plots  # noqa: E402
from tests.test_results import record  # noqa: E402


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


def test_figures_draw(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTLIB_FAST", "0")
    history = record(0, [98.0, 99.0, 99.2])["history"]
    fig = plots.plot_history(history, "t")
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3  # train, test, 99.4 line
    assert plots.save(fig, "curves", tmp_path).is_file()
    monkeypatch.setenv("MNISTLIB_FAST", "1")
    assert plots.save(fig, "curves-fast", tmp_path) is None  # fast mode never overwrites figures
    recs = [record(s, [98.0, 99.0 + s / 10]) for s in range(3)]
    assert len(plots.plot_seeds(recs).axes) == 2
    assert len(plots.plot_comparison({"iteration1": recs}).axes) == 2
    y = torch.tensor([0, 1, 2])
    fig = plots.plot_misclassified(Fixed(torch.eye(10)[[1, 2, 2]]), torch.zeros(3, 1, 28, 28), y, n=5, cols=4)
    assert sum(len(ax.images) > 0 for ax in fig.axes) == 2  # two wrong answers drawn
    from mnistlib.recipes import get_recipe
    fig = plots.plot_receptive_fields(get_recipe("iteration1").build(), torch.zeros(1, 28, 28))
    assert [ax.get_title().split()[-1] for ax in fig.axes] == ["3", "5", "6", "10", "12", "20", "28", "28"]
