"""Stage-1 training data of the forgery experiment: patch pairs centred on the tampering's contour.

Chandakkar & Li 2017 ("Image forgery classification", Data generation) find the contour of
the tampered region (the difference of a tampered image and its authentic counterpart,
cleaned up morphologically), sample 15 pixels along it and crop 64x64 patches centred on
them, from the tampered image and from the authentic one. The pair (authentic patch,
tampered patch) shows the same place before and after tampering; stage 1 learns to rank the
first above the second (:class:`hyperimage.inference.ranking.SiameseRanker`). Before training, the
mean of the training patches is subtracted from every patch (:func:`mean_patch`).

The mask is an input here: :mod:`hyperimage.data.generators.tampering` writes it with every
forgery, and :func:`hyperimage.data.datasets.casia2.derive_mask` derives it for CASIA v2 the way
the paper does.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.measure import find_contours

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.io import load_image

#: Points sampled along the contour of each tampered region (the paper's 15).
POINTS = 15

#: Side of the patches (the "Forgery channel" input of Table 4).
PATCH = 64


@dataclass(frozen=True)
class PatchPairs:
    """Patches cut at the same centres from a tampered image and its authentic counterpart.

    Attributes
    ----------
    tampered, authentic : (K, size, size, C) float32 patches (or (K, size, size) for gray).
    centres : (K, 2) int64 (row, col) of each patch centre in its image.
    """

    tampered: np.ndarray
    authentic: np.ndarray
    centres: np.ndarray


def contour_points(mask: np.ndarray, rng: np.random.Generator, count: int = POINTS) -> np.ndarray:
    """Up to ``count`` pixels evenly spaced along the contour of ``mask``.

    The contour (every one, if the mask has several regions or holes) is traced by
    scikit-image's marching squares at level 0.5; where a region meets the image border the
    contour stops there, since the border is no seam. The sampled positions are equally
    spaced in arc length over all contours together, starting at a random phase drawn from
    ``rng``; each is then moved to the nearest pixel of the mask, so every centre lies on
    the region's inner boundary. A contour shorter than ``count`` pixels gives one point per
    pixel of length; points that land on one pixel are kept once.

    Parameters
    ----------
    mask : (H, W) bool (or 0/1) mask of the tampered region.
    rng : draws the phase.
    count : number of points wanted.

    Returns
    -------
    ndarray
        (K, 2) int64 (row, col), K <= ``count``, in order along the contour; (0, 2) if the
        mask is empty or covers the whole image (no contour).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    mask = mask.astype(bool)
    contours = find_contours(mask.astype(np.float32), 0.5)
    if not contours:
        return np.zeros((0, 2), np.int64)
    starts = np.concatenate([c[:-1] for c in contours])
    steps = np.concatenate([np.diff(c, axis=0) for c in contours])
    lengths = np.hypot(steps[:, 0], steps[:, 1])
    keep = lengths > 0
    starts, steps, lengths = starts[keep], steps[keep], lengths[keep]
    arc = np.concatenate([[0.0], np.cumsum(lengths)])
    k = int(min(count, max(1, np.floor(arc[-1]))))
    positions = (rng.uniform() + np.arange(k)) * arc[-1] / k
    segment = np.clip(np.searchsorted(arc, positions, side="right") - 1, 0, lengths.size - 1)
    points = starts[segment] + ((positions - arc[segment]) / lengths[segment])[:, None] * steps[segment]
    pixels = np.clip(np.floor(points + 0.5).astype(np.int64), 0, np.asarray(mask.shape) - 1)
    _, nearest = ndimage.distance_transform_edt(~mask, return_indices=True)
    centres = nearest[:, pixels[:, 0], pixels[:, 1]].T.astype(np.int64)
    _, first = np.unique(centres, axis=0, return_index=True)
    return centres[np.sort(first)]


def crop_patches(image: np.ndarray, centres: np.ndarray, size: int = PATCH) -> np.ndarray:
    """``size`` x ``size`` patches of ``image`` centred on ``centres``, reflect-padded at the borders.

    Patch k covers rows ``centres[k, 0] - size // 2`` to ``centres[k, 0] + (size - 1) // 2``
    (likewise columns), so its pixel ``[size // 2, size // 2]`` is the centre.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array.
    centres : (K, 2) integer (row, col) inside the image.
    size : patch side.

    Returns
    -------
    ndarray
        (K, size, size) or (K, size, size, C), of ``image``'s dtype.
    """
    image = np.asarray(image)
    centres = np.asarray(centres)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    if centres.ndim != 2 or centres.shape[1] != 2:
        raise ValueError(f"centres must be (K, 2), got shape {centres.shape}")
    if ((centres < 0) | (centres >= np.asarray(image.shape[:2]))).any():
        raise ValueError(f"centres must lie inside the {image.shape[0]}x{image.shape[1]} image")
    half = size // 2
    padded = np.pad(image, [(half, size - half)] * 2 + [(0, 0)] * (image.ndim - 2), mode="reflect")
    span = np.arange(size)
    rows = centres[:, 0, None].astype(np.int64) + span
    cols = centres[:, 1, None].astype(np.int64) + span
    return padded[rows[:, :, None], cols[:, None, :]]


def contour_patch_pairs(
    tampered: np.ndarray,
    authentic: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    count: int = POINTS,
    size: int = PATCH,
) -> PatchPairs:
    """The paper's stage-1 pairs of one forgery: patches at ``count`` contour points of both images.

    Parameters
    ----------
    tampered : (H, W, C) (or (H, W)) tampered image.
    authentic : its authentic counterpart, the same scene before tampering, same shape.
    mask : (H, W) tampered region.
    rng : draws the contour phase (:func:`contour_points`).
    count, size : points per image and patch side (the paper's 15 and 64).
    """
    tampered, authentic = np.asarray(tampered), np.asarray(authentic)
    if tampered.shape != authentic.shape or np.shape(mask) != tampered.shape[:2]:
        raise ValueError(
            f"tampered {tampered.shape}, authentic {authentic.shape} and mask {np.shape(mask)} must share (H, W)"
        )
    centres = contour_points(mask, rng, count)
    return PatchPairs(crop_patches(tampered, centres, size), crop_patches(authentic, centres, size), centres)


def pairs_from_records(
    records: Iterable[ImageRecord], rng: np.random.Generator, count: int = POINTS, size: int = PATCH, mode: str = "RGB"
) -> PatchPairs:
    """Stage-1 pairs of every tampered record that has a mask and a ``reference``, stacked.

    Tampered records (``target == 0``) of :func:`~hyperimage.data.generators.tampering.make_tampering_dataset`
    carry both; CASIA v2 records carry the host authentic image as ``reference`` and a mask
    where one was given or derived. Other records are skipped, and so are those whose
    reference or mask differs in size from the image (some CASIA v2 forgeries were resized:
    there is no pixel-wise counterpart), with one warning that counts them. Images are read
    in Pillow ``mode`` (``"RGB"`` or ``"L"``).

    Returns
    -------
    PatchPairs
        All pairs in record order; ``centres`` are in the coordinates of each pair's image.

    Raises
    ------
    ValueError
        No usable record.
    """
    parts, mismatched = [], []
    for record in records:
        if record.target != 0.0 or record.mask is None or record.reference is None:
            continue
        tampered = load_image(record.path, mode=mode)
        authentic = load_image(record.reference, mode=mode)
        mask = load_image(record.mask, mode="L") > 0.5
        if authentic.shape != tampered.shape or mask.shape != tampered.shape[:2]:
            mismatched.append(record.path)
            continue
        parts.append(contour_patch_pairs(tampered, authentic, mask, rng, count, size))
    if mismatched:
        warnings.warn(
            f"skipped {len(mismatched)} tampered images whose reference or mask differs in size "
            f"(first: {mismatched[0]})",
            stacklevel=2,
        )
    if not parts:
        raise ValueError("no tampered record with a mask and a reference image of its size")
    return PatchPairs(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("tampered", "authentic", "centres")))


def mean_patch(*patch_sets: np.ndarray) -> np.ndarray:
    """The pixel-wise mean of all training patches, to subtract from every patch.

    The paper subtracts "the mean of training patches" from each patch before stage 1; pass
    every training set of patches (e.g. ``pairs.tampered, pairs.authentic``), never
    validation or test patches.

    Parameters
    ----------
    *patch_sets : (N_i, size, size[, C]) arrays of one patch shape.

    Returns
    -------
    ndarray
        (size, size[, C]) float32.
    """
    if not patch_sets or sum(len(p) for p in patch_sets) == 0:
        raise ValueError("no patches given")
    shapes = {np.shape(p)[1:] for p in patch_sets}
    if len(shapes) != 1:
        raise ValueError(f"patch sets differ in patch shape: {sorted(shapes)}")
    total = sum(np.asarray(p).sum(axis=0, dtype=np.float64) for p in patch_sets)
    return (total / sum(len(p) for p in patch_sets)).astype(np.float32)
