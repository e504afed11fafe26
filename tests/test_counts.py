"""Every measured number is over exactly the images it claims: each accuracy, on the training
batches or on the held-out split, counts every image of its split once, last partial batch
included. A network that always answers 0 is right on exactly the images labelled 0."""
import pytest
import torch
from torch import nn

from mnistlib.data import Batches
from mnistlib.train import EVAL_BATCH, cross_entropy, evaluate, train_epoch


class AlwaysZero(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([10.0] + [0.0] * 9))

    def forward(self, x):
        return self.bias.expand(len(x), 10) + 0 * x.flatten(1).sum(1, keepdim=True)


@pytest.mark.parametrize("n, batch_size", [(2 * EVAL_BATCH + 37, 64), (130, 128), (7, 128)])
def test_accuracies_count_every_image_once(n, batch_size):
    y = torch.arange(n) % 10
    x = torch.randn(n, 1, 28, 28)
    zeros = int((y == 0).sum())
    model = AlwaysZero()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # the answers never change
    loss, train_acc = train_epoch(model, Batches(x, y, batch_size, seed=1), optimizer, cross_entropy(), progress=False)
    held_loss, held_acc = evaluate(model, x, y)
    assert train_acc == pytest.approx(100 * zeros / n) and held_acc == pytest.approx(100 * zeros / n)
    per_image = torch.nn.functional.cross_entropy(model(x), y).item()
    assert loss == pytest.approx(per_image, rel=1e-5) and held_loss == pytest.approx(per_image, rel=1e-5)
