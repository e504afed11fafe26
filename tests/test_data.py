import gzip
import stat
from pathlib import Path

import pytest
import torch

from mnistlib.data import BACKGROUND, FAST_IMAGES, Batches, MNISTTensors, augment, load_mnist
from mnistlib.errors import Refusal
from mnistlib.mnist_files import MNISTDataError, read_mnist
from tests.conftest import write_idx


def test_loads_synthetic_gz_set_without_downloading(tiny_root, monkeypatch):
    monkeypatch.delenv("MNISTLIB_FAST")
    data = load_mnist(tiny_root, download=False)
    assert data.train_x.shape == (40, 1, 28, 28) and data.eval_x.shape == (20, 1, 28, 28)
    assert data.train_y.tolist() == [i % 10 for i in range(40)]
    pixels = data.train_x[:, 0, 0, 0] * 0.3081 + 0.1307  # undo the normalisation
    assert torch.allclose(pixels * 255, data.train_y.float() * 25, atol=1e-3)
    assert data.train_y.dtype == data.eval_y.dtype == torch.int64


def test_a_read_only_root_is_read_as_it_is(tiny_root):
    """The .gz files are read where they are: nothing is written into the root or anywhere else."""
    raw = tiny_root / "MNIST" / "raw"
    before = sorted(p.name for p in tiny_root.rglob("*"))
    raw.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        assert load_mnist(tiny_root, download=False).train_x.shape[0] == 40
    finally:
        raw.chmod(0o755)
    assert sorted(p.name for p in tiny_root.rglob("*")) == before


def test_fast_mode_keeps_only_the_first_images(shared_root):
    data = load_mnist(shared_root, download=False)  # MNISTLIB_FAST=1 in tests
    assert len(data.train_x) == len(data.eval_x) == FAST_IMAGES and data.fast
    assert data.validation_split().fast and not load_mnist(shared_root, download=False, limit=3, fast=False).fast
    assert data.train_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.eval_y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_the_real_files_from_the_shared_copy(shared_root, monkeypatch):
    monkeypatch.delenv("MNISTLIB_FAST")
    data = load_mnist(shared_root, download=False)
    assert data.train_x.shape == (60000, 1, 28, 28) and data.eval_x.shape == (10000, 1, 28, 28)
    assert abs(data.train_x.mean().item()) < 1e-3 and abs(data.train_x.std().item() - 1) < 1e-3
    assert torch.bincount(data.eval_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_no_files_and_no_download_names_the_four_files(tmp_path):
    with pytest.raises(MNISTDataError) as e:
        load_mnist(tmp_path / "nowhere", download=False)
    message = str(e.value)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert name in message
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in message


def test_one_missing_file_is_named(tiny_root):
    (tiny_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MNISTDataError, match=r"lacks t10k-labels-idx1-ubyte\."):
        load_mnist(tiny_root, download=False)


def test_truncated_gz_is_named(tiny_root):
    gz = tiny_root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:-20])
    with pytest.raises(MNISTDataError, match="train-images-idx3-ubyte.gz is corrupt or truncated"):
        load_mnist(tiny_root, download=False)


def test_gz_with_wrong_length_is_named(tiny_root):
    gz = tiny_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    with gzip.open(gz) as f:
        blob = f.read()
    with gzip.open(gz, "wb") as f:
        f.write(blob[:-784])  # a valid gzip stream holding one image too few
    with pytest.raises(MNISTDataError, match="t10k-images-idx3-ubyte.gz is truncated or corrupt"):
        load_mnist(tiny_root, download=False)


def test_corrupt_extracted_file_is_named(tiny_root):
    raw = tiny_root / "MNIST" / "raw"
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\0" * 64)  # read before its .gz
    with pytest.raises(MNISTDataError, match="train-labels-idx1-ubyte is not an MNIST"):
        load_mnist(tiny_root, download=False)


def test_an_empty_file_is_named(tiny_root):
    raw = tiny_root / "MNIST" / "raw"
    write_idx(raw / "t10k-images-idx3-ubyte", torch.zeros(0, 28, 28, dtype=torch.uint8))  # a header, no image
    with pytest.raises(MNISTDataError, match="t10k-images-idx3-ubyte.gz holds no images"):
        load_mnist(tiny_root, download=False)


def test_foreign_file_is_named(tiny_root):
    raw = tiny_root / "MNIST" / "raw"
    write_idx(raw / "train-labels-idx1-ubyte", torch.zeros(5, 28, 28))  # images where labels belong
    with pytest.raises(MNISTDataError, match="train-labels-idx1-ubyte.gz is not an MNIST"):
        load_mnist(tiny_root, download=False)


def write_split(raw, split, kind, n):
    """The tiny MNIST's `split` (train or t10k) images or labels file, rewritten to hold n items."""
    labels = torch.arange(n) % 10
    write_idx(raw / f"{split}-{kind}", (labels * 25).view(n, 1, 1).expand(n, 28, 28) if "images" in kind else labels)


@pytest.mark.parametrize("kinds", [["images-idx3-ubyte"], ["images-idx3-ubyte", "labels-idx1-ubyte"]],
                         ids=["images swapped", "all four swapped"])
def test_swapped_train_and_test_files_are_refused_in_one_line_before_training(tiny_root, monkeypatch, kinds):
    """Swapped, the "test" accuracy would be measured on images trained on: refused where the data
    is read (read_mnist, which `study` calls before starting workers, and load_mnist, before
    any epoch), in one line naming both files."""
    for kind in kinds:  # the test split's 20 items under the training names, and the reverse
        write_split(tiny_root / "MNIST" / "raw", "train", kind, 20)
        write_split(tiny_root / "MNIST" / "raw", "t10k", kind, 40)
    for find in (read_mnist, load_mnist):
        with pytest.raises(Refusal, match="swapped") as e:
            find(tiny_root, download=False)
        assert "\n" not in str(e.value) and all(f"{s}-images-idx3-ubyte" in str(e.value) for s in ("train", "t10k"))


@pytest.mark.parametrize("split, n", [("train", 20), ("t10k", 40)])
def test_a_labels_file_of_the_other_split_is_refused(tiny_root, split, n):
    """Not after a whole epoch with torch's shape message: when the data is loaded, naming the file."""
    write_split(tiny_root / "MNIST" / "raw", split, "labels-idx1-ubyte", n)  # the other split's labels
    with pytest.raises(Refusal, match=f"{split}-labels-idx1-ubyte") as e:
        load_mnist(tiny_root, download=False)
    assert "\n" not in str(e.value)


def test_the_counts_rule_is_not_mnists_sizes(tiny_root, monkeypatch):
    """Any training split larger than the test split loads, with as many labels as images in each."""
    monkeypatch.delenv("MNISTLIB_FAST")
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        write_split(tiny_root / "MNIST" / "raw", "train", kind, 21)
    data = load_mnist(tiny_root, download=False)
    assert (len(data.train_x), len(data.train_y), len(data.eval_x), len(data.eval_y)) == (21, 21, 20, 20)


def test_a_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    """No empty (or half-filled) MNIST/raw/ after a failed download, which later runs would take for data."""
    from urllib.error import URLError
    import torchvision.datasets.mnist

    def fail(url, download_root, filename, md5):
        (Path(download_root) / filename).write_bytes(b"half a file")
        raise URLError("no network")
    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", fail)
    with pytest.raises(MNISTDataError, match="Downloading failed too"):
        load_mnist(tmp_path / "data", download=True)
    assert not (tmp_path / "data").exists()


def test_normalisation_uses_the_training_sets_own_statistics(shared_root):
    """Measured on the 60,000 training images, not taken from the module: mean 0 and std 1 after."""
    data = load_mnist(shared_root, fast=False)
    assert abs(data.train_x.mean().item()) < 1e-3 and abs(data.train_x.std().item() - 1) < 1e-3


def test_augmentation_is_the_identity_at_zero():
    x = torch.randn(6, 1, 28, 28)
    u = torch.rand(6, 3) * 2 - 1
    assert torch.allclose(augment(x, u, None, 0.0, 0.0), x, atol=1e-5)
    assert torch.allclose(augment(x, u, torch.rand(6), 0.0, 0.0, 0.0), x, atol=1e-5)


def test_augmentation_keeps_shape_and_fills_with_background():
    x = torch.full((4, 1, 28, 28), 2.0)
    assert augment(x, torch.rand(4, 3) * 2 - 1, None, 6.0, 0.1).shape == x.shape
    # a shift of a whole image width leaves only background (black, before normalisation)
    gone = augment(x, torch.tensor([[0.0, 1.0, 1.0]] * 4), None, 0.0, 1.0)
    assert torch.allclose(gone, torch.full_like(x, BACKGROUND), atol=1e-5)


def test_zoom_magnifies_about_the_centre():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 12:16, 12:16] = 1.0  # a 4x4 square in the middle
    still = torch.zeros(1, 3)
    big = augment(x, still, torch.ones(1), 0.0, 0.0, scale=1.0)  # zoom 1 + 1 x 1 = 2
    assert (big > 0.5).sum() == 64 and big[0, 0, 10:18, 10:18].min() > 0.5  # 8x8, same centre
    assert torch.allclose(augment(x, still, torch.zeros(1), 0.0, 0.0, scale=0.5), x, atol=1e-5)


def test_zoom_leaves_the_other_augmentations_random_stream_alone():
    """The zoom is drawn after each batch's angles and shifts, so a recipe without zoom keeps
    the shuffling and draws it always had."""
    x, y = torch.randn(20, 1, 28, 28), torch.arange(20)
    first = lambda scale: [b for b in Batches(x, y, 8, 3, 6.0, 0.1, scale)]
    (a, ya), (b, yb) = first(0.0)[0], first(0.1)[0]
    assert torch.equal(ya, yb) and not torch.allclose(a, b)
    g = torch.Generator().manual_seed(3)
    order = torch.randperm(20, generator=g)
    u = torch.rand(8, 3, generator=g) * 2 - 1
    assert torch.equal(order[:8], ya) and torch.allclose(a, augment(x[order[:8]], u, None, 6.0, 0.1), atol=1e-6)


def test_validation_split_holds_out_the_last_training_images():
    x, y = torch.arange(12.0).view(12, 1, 1, 1), torch.arange(12)
    data = MNISTTensors(x, y, x[:3], y[:3])
    val = data.validation_split(2)
    assert val.split == "validation" and data.split == "test" and not val.fast
    assert val.train_y.tolist() == list(range(10)) and val.eval_y.tolist() == [10, 11]
    with pytest.raises(ValueError, match="validation size"):
        data.validation_split(12)


def test_rotation_by_90_degrees_turns_the_image():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 2:5, 10:18] = 1.0  # a bar near the top
    turned = augment(x, torch.tensor([[1.0, 0.0, 0.0]]), None, 90.0, 0.0)
    assert torch.allclose(turned, torch.rot90(x, 1, (2, 3)), atol=1e-4) or \
        torch.allclose(turned, torch.rot90(x, -1, (2, 3)), atol=1e-4)


def test_batches_cover_every_image_once_and_follow_the_seed():
    x, y = torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10)
    order = lambda seed: torch.cat([yb for _, yb in Batches(x, y, 4, seed)]).tolist()
    assert sorted(order(0)) == list(range(10)) and len(Batches(x, y, 4)) == 3
    assert order(0) == order(0) != order(1)
