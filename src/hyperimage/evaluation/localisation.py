"""Where is the tampering? Pixel-level scores of a heat map against a ground-truth mask.

None of the paper's forgery baselines says where an image was changed; a hyper-image model
does, cell by cell (:mod:`hyperimage.inference.explain`). To score that, a heat map is turned into a
mask by flagging a fixed share of each image's pixels, those with the most evidence, and
compared with the true mask by pixel F1 and IoU (the usual forensics measures), averaged
over tampered images.

The share is one number for all images (by default the mean tampered area of the training
masks): no threshold is tuned on the test images, and the trivial baselines that flag the
same share of pixels in the centre of every image (:func:`centre_mask`), or flag the whole
image, face exactly the same rules.
"""

from __future__ import annotations

import numpy as np


def flag_top(evidence: np.ndarray, fraction: float) -> np.ndarray:
    """Flag the ``fraction`` of pixels with the highest ``evidence`` ``(H, W)``; NaN never flagged.

    Ties at the cut are all flagged, so a map with constant evidence flags every valid pixel.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    valid = np.isfinite(evidence)
    if not valid.any():
        return np.zeros(evidence.shape, bool)
    count = max(1, int(round(fraction * evidence.size)))
    values = np.sort(evidence[valid])[::-1]
    cut = values[min(count, len(values)) - 1]
    return valid & (evidence >= cut)


def centre_mask(shape: tuple[int, int], fraction: float) -> np.ndarray:
    """A centred rectangle of the image's aspect ratio covering ``fraction`` of ``shape``."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    h, w = shape
    side = np.sqrt(fraction)
    bh, bw = max(1, int(round(h * side))), max(1, int(round(w * side)))
    top, left = (h - bh) // 2, (w - bw) // 2
    mask = np.zeros(shape, bool)
    mask[top : top + bh, left : left + bw] = True
    return mask


def mask_scores(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pixel F1 and IoU of a predicted mask against the true one (both ``(H, W)`` bool).

    Both are 0 when the two masks share no pixel, and 1 when both are empty.
    """
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    if predicted.shape != truth.shape:
        raise ValueError(f"masks differ in shape: {predicted.shape} and {truth.shape}")
    both = np.count_nonzero(predicted & truth)
    either = np.count_nonzero(predicted | truth)
    total = np.count_nonzero(predicted) + np.count_nonzero(truth)
    if either == 0:
        return {"f1": 1.0, "iou": 1.0}
    return {"f1": 2.0 * both / total, "iou": both / either}
