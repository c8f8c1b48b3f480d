"""Pixel-level localisation scores (hyperimage.evaluation.localisation)."""

from __future__ import annotations

import numpy as np
import pytest

from hyperimage.evaluation.localisation import centre_mask, flag_top, mask_scores


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
