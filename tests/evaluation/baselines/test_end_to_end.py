"""The end-to-end CNN baseline of the forgery experiment (hyperimage.evaluation.baselines.end_to_end)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyperimage.data.io import save_image
from hyperimage.evaluation.baselines.end_to_end import EndToEndCNN, load_resized
from hyperimage.inference.networks.forgery import END_TO_END_SPEC, scaled
from hyperimage.training import TrainConfig


def test_load_resized_turns_portraits_and_resizes(tmp_path):
    portrait = np.zeros((60, 40, 3), np.float32)
    portrait[:, :20] = 1.0  # left half bright
    save_image(tmp_path / "p.png", portrait)
    out = load_resized(tmp_path / "p.png", (32, 48))
    assert out.shape == (3, 32, 48) and out.dtype == torch.float32
    # after a quarter turn the bright half is one horizontal band
    rows = out.mean(dim=(0, 2))
    assert abs(float(rows[0]) - float(rows[-1])) > 0.9


def test_scaled_thins_convolutions_only():
    assert scaled(END_TO_END_SPEC, 0.25)[:3] == [8, "M", 16]
    assert scaled([3, "M"], 0.01) == [1, "M"]


def test_learns_a_visible_tampering(tmp_path, seed, learned):
    rng = np.random.default_rng(seed)
    items = []
    for i in range(32):
        image = rng.random((32, 48, 3)).astype(np.float32) * 0.3
        label = i % 2
        if label == 0:
            image[8:20, 10:30] = 0.9  # a pasted bright block
        save_image(tmp_path / f"{i}.png", image)
        items.append((tmp_path / f"{i}.png", float(label)))
    cnn = EndToEndCNN(size=(32, 48), conv_width=0.5, seed=seed)
    state = cnn.fit(items[:24], items[24:], TrainConfig(epochs=12, patience=12, batch_size=8, lr=0.01))
    # measured 0.045 +- 0.089 (worst 0.216, 11 spreads)
    learned("training loss, last / first epoch", state.history[-1]["loss"] / state.history[0]["loss"], below=1.0)
    p = cnn.predict_proba([path for path, _ in items])
    labels = np.array([label for _, label in items])
    assert p.shape == (32,) and ((p >= 0) & (p <= 1)).all()
    # measured 0.953 +- 0.097 (worst 0.766, 10 spreads)
    learned("mean probability, authentic - tampered", p[labels == 1].mean() - p[labels == 0].mean(), above=0.0)


def test_regression_cnn_learns_the_blur_level(tmp_path, seed, learned):
    from scipy.ndimage import gaussian_filter
    from scipy.stats import spearmanr

    rng = np.random.default_rng(seed)
    items = []
    for i in range(40):
        blur = float(rng.uniform(0.0, 3.0))
        texture = gaussian_filter(rng.random((64, 64, 3)), (0.7, 0.7, 0))
        image = gaussian_filter(texture, (blur, blur, 0)).astype(np.float32)
        save_image(tmp_path / f"{i}.png", (image - image.min()) / np.ptp(image))
        items.append((tmp_path / f"{i}.png", 10.0 * blur))  # any target scale: standardised inside
    cnn = EndToEndCNN(size=(64, 64), conv_width=0.25, seed=seed, network="iqa-shallow-end-to-end", loss="mae")
    assert not cnn.classifier
    cnn.fit(items[:30], items[30:], TrainConfig(epochs=16, patience=16, batch_size=8, lr=0.01))
    train_paths, train_targets = zip(*items[:30])
    scores = cnn.predict(list(train_paths))
    assert scores.shape == (30,) and scores.dtype == np.float64
    # A random network's output already follows blur, either way: untrained, its SROCC ranged
    # from -0.61 to 0.56 over 6 seeds and its error was 1.0-1.6 times the constant guess's.
    # measured 0.951 +- 0.023 (worst 0.908, 7 spreads)
    learned("training-set SROCC", spearmanr(scores, train_targets).statistic, above=0.8)
    guess = np.abs(np.array(train_targets) - np.median(train_targets)).mean()
    # measured 0.438 +- 0.126 (worst 0.668, 4 spreads)
    learned("training MAE / best constant guess's", np.abs(scores - train_targets).mean() / guess, below=0.9)
    with pytest.raises(ValueError, match="predict_proba needs a classifier"):
        cnn.predict_proba(list(train_paths))


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        EndToEndCNN(size=(64, 64), network="iqa-shallow-end-to-end", loss="siamese")
