"""Same-file windows (hyperimage.evaluation.windows)."""

from __future__ import annotations

import numpy as np

from hyperimage.evaluation.windows import clean_window, crop, tampered_window, window_counts


def _mask() -> np.ndarray:
    mask = np.zeros((64, 96), bool)
    mask[40:56, 70:90] = True  # 16 x 20 tampered pixels near the lower right
    return mask


def test_window_counts_match_a_direct_count():
    mask = np.random.default_rng(0).random((40, 56)) < 0.3
    rows, cols, counts = window_counts(mask, 16, 8)
    assert list(rows) == [0, 8, 16, 24] and list(cols) == [0, 8, 16, 24, 32, 40]
    for i, y in enumerate(rows):
        for j, x in enumerate(cols):
            assert counts[i, j] == mask[y : y + 16, x : x + 16].sum()
    assert window_counts(mask, 64, 8)[2].size == 0  # the image is smaller than a window


def test_tampered_window_holds_the_most_tampered_pixels_on_the_grid():
    mask = _mask()
    y, x = tampered_window(mask, 32, 16)
    assert (y, x) == (32, 64)  # the grid's window that covers the whole region
    assert crop(mask, (y, x), 32).sum() == mask.sum()
    assert tampered_window(np.zeros((64, 96), bool), 32, 16) is None


def test_clean_window_holds_no_tampered_pixel_and_follows_its_seed():
    mask = _mask()
    corners = {clean_window(mask, 32, 8, seed) for seed in range(20)}
    assert len(corners) > 1  # drawn among several
    for corner in corners:
        assert corner[0] % 8 == 0 and corner[1] % 8 == 0
        assert not crop(mask, corner, 32).any()
        assert crop(mask, corner, 32).shape == (32, 32)
    assert clean_window(mask, 32, 8, 3) == clean_window(mask, 32, 8, 3)
    assert clean_window(np.ones((64, 96), bool), 32, 8, 0) is None
