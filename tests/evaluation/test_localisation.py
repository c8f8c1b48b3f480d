"""Pixel-level localisation scores (hyperimage.evaluation.localisation)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.evaluation.localisation import (
    best_threshold, cell_map, centre_mask, flag_top, mask_scores, threshold_f1, truth_mask,
)


def test_flag_top_flags_the_highest_share_and_never_nan():
    evidence = np.arange(20, dtype=float).reshape(4, 5)
    evidence[0, 0] = np.nan
    flagged = flag_top(evidence, 0.25)
    assert flagged.sum() == 5
    assert flagged[3].all() and not flagged[:3].any()
    assert not flag_top(np.full((3, 3), np.nan), 0.5).any()
    assert flag_top(np.ones((3, 3)), 0.1).all()  # ties at the cut are all flagged
    with pytest.raises(ValueError):
        flag_top(evidence, 0.0)


def test_centre_mask_covers_the_share_in_the_middle():
    mask = centre_mask((100, 200), 0.25)
    assert mask.sum() == 50 * 100
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (25, 74, 50, 149)


def test_mask_scores_by_hand():
    truth = np.zeros((4, 4), bool)
    truth[:2, :2] = True  # 4 pixels
    pred = np.zeros((4, 4), bool)
    pred[:2, :3] = True  # 6 pixels, 4 of them right
    scores = mask_scores(pred, truth)
    assert scores["f1"] == pytest.approx(2 * 4 / 10)
    assert scores["iou"] == pytest.approx(4 / 6)
    assert mask_scores(~truth, truth) == {"f1": 0.0, "iou": 0.0}
    assert mask_scores(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == {"f1": 1.0, "iou": 1.0}
    with pytest.raises(ValueError):
        mask_scores(pred, truth[:3])


def test_cell_map_draws_cells_of_any_analysis_size_on_one_native_frame():
    cells = np.arange(6, dtype=float).reshape(2, 3)
    # At native size, one frame pixel per image pixel: the cells blown up, the last ones partial.
    assert np.array_equal(cell_map(cells, 4, 1.0, (7, 10)), np.kron(cells, np.ones((4, 4)))[:7, :10])
    # Analysed at half size, a 4-px cell covers 8 native pixels: 4 frame pixels of 2.
    half = cell_map(cells[:, :2], 4, 0.5, (8, 8), step=2)
    assert np.array_equal(half, np.kron(cells[:, :2], np.ones((4, 4))))
    # A 3000 x 4500 photo shrunk to 256 x 384 (scale 0.0853): 4 x 6 cells of 64 px, each 750 native
    # pixels, on a frame of one value per 8 x 8 block: frame pixel 100 is native 804, cell 1.
    grid = np.arange(24, dtype=float).reshape(4, 6)
    shrunk = cell_map(grid, 64, 384 / 4500, (375, 563), step=8)
    assert shrunk.shape == (375, 563)
    assert shrunk[50, 50] == grid[0, 0] and shrunk[100, 100] == grid[1, 1] and shrunk[-1, -1] == grid[3, 5]
    assert np.array_equal(np.unique(shrunk), grid.ravel())
    assert cell_map(cells, 4, 1.0, (20, 20))[-1, -1] == cells[-1, -1]  # past the last cell: the last cell
    with pytest.raises(ValueError, match="scale"):
        cell_map(cells, 64, 1.5, (4, 4))
    with pytest.raises(ValueError, match="non-empty"):
        cell_map(np.zeros((0, 3)), 64, 1.0, (4, 4))


def test_best_threshold_ignores_pixels_outside_the_grid():
    """NaN (no patch covers the pixel) is never flagged and offers no candidate threshold."""
    heat = np.array([[np.nan, 0.2, 0.9], [np.nan, 0.1, 0.8]])
    truth = np.array([[False, False, True], [True, False, True]])
    threshold = best_threshold([heat], [truth])
    assert np.isfinite(threshold) and 0.2 <= threshold < 0.8
    assert threshold_f1([heat], [truth], threshold) == {"f1": pytest.approx(0.8), "iou": pytest.approx(2 / 3)}


def test_truth_mask_is_resized_nearest_neighbour_to_the_map(tmp_path):
    mask = np.zeros((4, 8), np.uint8)
    mask[:, :4] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    truth = truth_mask(ImageRecord(path=tmp_path / "x.jpg", target=0.0, mask=tmp_path / "m.png"), (2, 4))
    assert truth.dtype == bool and np.array_equal(truth, np.array([[1, 1, 0, 0], [1, 1, 0, 0]], bool))
