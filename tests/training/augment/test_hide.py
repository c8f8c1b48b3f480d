"""Hide-and-Seek on hyper-images: whole blocks hidden at the mean feature, nothing at test time."""

import pytest
import torch

from hyperimage.training import augment
from hyperimage.training.augment.hide import hide_cells


def test_hidden_blocks_take_the_mean_feature_and_the_rest_is_untouched():
    hyper = torch.randn(8, 3, 6, 7)
    out = hide_cells(hyper, torch.Generator().manual_seed(0), probability=0.5, cell=3)
    mean = hyper.mean(dim=(0, 2, 3))
    hidden = (out != hyper).any(dim=1)  # (N, U, V)
    assert 0 < hidden.float().mean() < 1
    for i in range(8):
        for r in range(0, 6, 3):
            for c in range(0, 7, 3):
                block = hidden[i, r : r + 3, c : c + 3]
                assert block.all() or not block.any()  # whole blocks only
                if block.all():
                    torch.testing.assert_close(out[i, :, r, c], mean)


def test_probability_zero_and_one_and_settings_from_a_recipe_entry():
    hyper = torch.randn(2, 4, 5, 5)
    gen = torch.Generator().manual_seed(1)
    assert torch.equal(hide_cells(hyper, gen, probability=0.0), hyper)
    assert torch.equal(hide_cells(hyper, gen, probability=1.0), hyper.mean(dim=(0, 2, 3), keepdim=True).expand_as(hyper))
    a = augment.apply([{"name": "hide", "probability": 0.3, "cell": 2}, "flips"], hyper, torch.Generator().manual_seed(2))
    b = augment.apply([{"name": "hide", "probability": 0.3, "cell": 2}, "flips"], hyper, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, hyper)
    with pytest.raises(ValueError, match="probability must be in"):
        hide_cells(hyper, gen, probability=1.5)


def test_an_end_to_end_cnn_trains_on_images_with_cells_hidden_at_the_training_mean(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from hyperimage.evaluation.baselines.end_to_end import EndToEndCNN
    from hyperimage.training import TrainConfig

    rng = np.random.default_rng(0)
    items = []
    for i in range(12):
        path = tmp_path / f"{i}.png"
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(path)
        items.append((path, float(i % 2)))
    seen = []

    def spy(batch, gen, **settings):
        out = hide_cells(batch, gen, **settings)
        seen.append(out)
        return out

    monkeypatch.setitem(augment.AUGMENTATIONS._items, "hide", spy)
    net = EndToEndCNN(size=(64, 64), conv_width=0.125, augment=[{"name": "hide", "cell": 16, "value": 0.0}])
    state = net.fit(items[:8], items[8:], TrainConfig(epochs=1, patience=1, batch_size=4))
    assert state.epoch == 1 and np.isfinite(state.history[0]["loss"]) and len(seen) == 2
    blocks = torch.cat(seen).abs().amax(dim=1).unfold(1, 16, 16).unfold(2, 16, 16).amax(dim=(-1, -2))  # (N, 4, 4)
    assert 0 < (blocks == 0).float().mean() < 1  # some 16 x 16 cells hidden at 0, the training mean
    assert len(net.predict([p for p, _ in items[8:]])) == 4 and len(seen) == 2  # nothing hidden at test time
