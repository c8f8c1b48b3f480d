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
from PIL import Image

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.io import load_image


def truth_mask(record: ImageRecord, shape: tuple[int, int]) -> np.ndarray:
    """The tampered-region mask of ``record`` as a bool (H, W) array of ``shape`` (the image as
    the model sees it, perhaps scaled down): pixels above half-grey, resized nearest-neighbour."""
    mask = load_image(record.mask, mode="L") > 0.5
    if mask.shape != tuple(shape):
        mask = np.asarray(Image.fromarray(mask).resize((shape[1], shape[0]), Image.NEAREST))
    return mask


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


def centre_map(shape: tuple[int, int]) -> np.ndarray:
    """A heat map ``(H, W)`` that grows towards the centre (minus the larger of the row and
    column distances from it, each as a share of its side): thresholded, a centred rectangle
    of the image's aspect ratio, the trivial baseline for a threshold chosen on validation images."""
    h, w = shape
    rows = np.abs(np.arange(h) + 0.5 - h / 2) / h
    cols = np.abs(np.arange(w) + 0.5 - w / 2) / w
    return -np.maximum(rows[:, None], cols[None, :])


def threshold_f1(maps: list[np.ndarray], masks: list[np.ndarray], threshold: float) -> dict[str, float]:
    """Pixel F1 and IoU of each map ``(H, W)`` flagged where it exceeds ``threshold``, against
    its true mask, averaged over the images: the one definition of pixel F1 the forensic
    benchmarks use (the threshold chosen on validation images, :func:`best_threshold`)."""
    scores = [mask_scores(m > threshold, t) for m, t in zip(maps, masks)]
    return {k: float(np.mean([s[k] for s in scores])) if scores else float("nan") for k in ("f1", "iou")}


def best_threshold(maps: list[np.ndarray], masks: list[np.ndarray], candidates: int = 41) -> float:
    """The threshold of :func:`threshold_f1` with the best mean F1 on these (validation) images,
    among the lowest pooled map value and ``candidates`` quantiles of the values above it (a
    sparse map, zero almost everywhere as the copy-move channel's, still gets its candidates).
    NaN pixels (outside a model's grid) are never flagged, so they offer no candidate."""
    values = np.concatenate([m.ravel() for m in maps])
    values = values[np.isfinite(values)]
    low = values.min()
    above = values[values > low]
    cuts = np.unique(np.concatenate([[low], np.quantile(above, np.linspace(0.0, 1.0, candidates)) if above.size else []]))
    return float(max(cuts, key=lambda c: threshold_f1(maps, masks, c)["f1"]))


def cell_map(cells: np.ndarray, cell: int, scale: float, shape: tuple[int, int], step: int = 1) -> np.ndarray:
    """A map of ``cells`` ``(U, V)`` (side ``cell`` px, from the origin, on the image analysed at
    ``scale`` times its native size) drawn on a frame ``shape`` of the native image whose
    pixels are ``step`` native pixels each: every frame pixel takes the value of the cell over
    its centre. Maps of one image analysed at different sizes are then scored against one
    truth on one frame (e.g. ``step`` 8: one value per JPEG block of the native image)."""
    if cell < 1 or step < 1 or not 0.0 < scale <= 1.0:
        raise ValueError(f"need cell >= 1, step >= 1 and 0 < scale <= 1, got {cell}, {step}, {scale}")
    cells = np.asarray(cells)
    if cells.ndim != 2 or not cells.size:
        raise ValueError(f"cells must be a non-empty (U, V) map, got shape {cells.shape}")
    rows, cols = ((np.arange(n) + 0.5) * step * scale // cell for n in shape)
    return cells[np.ix_(np.minimum(rows.astype(np.int64), cells.shape[0] - 1), np.minimum(cols.astype(np.int64), cells.shape[1] - 1))]
