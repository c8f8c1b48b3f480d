import numpy as np
import pytest
import torch

from hyperimage.inference.grid import PatchGrid
from hyperimage.training import window_labels


def test_synthetic_rule_counts_dissimilarity_mass_inside_each_window():
    grid = PatchGrid(patch=32, grid=(4, 4), max_size=(128, 128))  # stride 32, no overlap
    img = torch.full((1, 1, 128, 128), 0.2)
    img[0, 0, 0:16, 0:16] = 0.7  # whole patch inside window (0, 0): dissimilarity 0.5
    img[0, 0, 56:72, 24:40] = 0.6  # straddles windows (1,0),(1,1),(2,0),(2,1): 0.4 split in quarters
    labels, keep = window_labels.get("synthetic")(img, torch.tensor([0.0]), grid)
    assert keep.all()
    assert labels[0, 0, 0].item() == pytest.approx(4.5, abs=1e-4)
    for u, v in [(1, 0), (1, 1), (2, 0), (2, 1)]:
        assert labels[0, u, v].item() == pytest.approx(5 - 0.1, abs=1e-4)
    assert labels[0, 3, 3].item() == pytest.approx(5.0)


def test_image_rule_copies_the_image_label():
    grid = PatchGrid(patch=8, grid=(2, 3), max_size=(32, 32))
    labels, keep = window_labels.get("image")(torch.rand(2, 3, 32, 32), torch.tensor([1.5, -2.0]), grid)
    assert labels.shape == (2, 2, 3) and keep.all()
    assert torch.all(labels[0] == 1.5) and torch.all(labels[1] == -2.0)


def test_unknown_rule():
    with pytest.raises(ValueError, match="unknown window-label rule"):
        window_labels.get("nope")


def test_selective_rule_keeps_only_damaged_windows_of_distorted_images():
    grid = PatchGrid(patch=16, grid=(4, 4), max_size=(64, 64))  # stride 16, no overlap
    rng = np.random.default_rng(0)
    ref = torch.from_numpy(rng.random((1, 3, 64, 64)).astype(np.float32))
    img = ref.clone()
    img[0, :, 16:32, 32:48] = torch.from_numpy(rng.random((3, 16, 16)).astype(np.float32))  # damage cell (1, 2)
    labels, weights = window_labels.get("selective")(img, torch.tensor([3.0]), grid, ref, threshold=0.9)
    assert torch.all(labels == 3.0)
    expected = torch.zeros(1, 4, 4)
    expected[0, 1, 2] = 1.0
    assert torch.equal(weights, expected)
    _, pristine = window_labels.get("selective")(ref, torch.tensor([9.0]), grid, None)
    assert torch.all(pristine == 1.0)


def test_balance_gives_pristine_and_distorted_windows_equal_total_weight():
    from hyperimage.training.store import balance

    weights = torch.zeros(4, 2, 2)
    weights[0] = 1.0  # pristine: 4 windows
    weights[1:, 0, 0] = 1.0  # three distorted images, one kept window each
    out = balance(weights, torch.tensor([True, False, False, False]))
    assert out[0].sum() == pytest.approx(out[1:].sum().item())
    assert torch.equal(out[1:], weights[1:])
