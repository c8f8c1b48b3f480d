"""Region masks for localized distortions, and the blend that confines a distortion to one.

A localized distortion distorts the whole image and keeps the result only inside a mask:
``mask * distorted + (1 - mask) * original`` (:func:`blend`). The generators here draw
masks of a requested area fraction: smooth random :func:`blobs`, random axis-aligned
:func:`rectangles`, a :func:`centre` ellipse and its complement, the :func:`periphery`.
Masks are float32 (H, W) arrays in [0, 1]; ``feather`` > 0 softens their edges with a
Gaussian of that many pixels (which keeps the mean, hence the area fraction, nearly
unchanged). Random ones are reproducible from the ``rng``.

The placement of distortions (salient centre versus periphery) is what drives the quality
difference in Fig. 1(a) of Chandakkar & Li (2017), "Capturing Localized Image Artifacts
through a CNN-based Hyper-image Representation".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import ndimage

#: Aspect ratios (height / width) of the rectangles drawn by :func:`rectangles`.
RECTANGLE_ASPECT = (1 / 3, 3.0)


def _check_area(area: float) -> float:
    if not 0.0 <= area <= 1.0:
        raise ValueError(f"area fraction must lie in [0, 1], got {area}")
    return float(area)


def _check_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2 or shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"mask shape must start with a positive (H, W), got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def _top(score: np.ndarray, area: float) -> np.ndarray:
    """Boolean mask of the round(area * size) pixels with the highest score (ties: stable order)."""
    count = round(area * score.size)
    order = np.argsort(-score, axis=None, kind="stable")
    mask = np.zeros(score.size, dtype=bool)
    mask[order[:count]] = True
    return mask.reshape(score.shape)


def _finish(mask: np.ndarray, feather: float) -> np.ndarray:
    mask = mask.astype(np.float32)
    if feather > 0:
        mask = np.clip(ndimage.gaussian_filter(mask, feather, mode="reflect"), 0.0, 1.0)
    return mask


def blobs(
    shape: tuple[int, ...], area: float, rng: np.random.Generator, *, scale: float = 0.08, feather: float = 0.0
) -> np.ndarray:
    """Smooth random blobs covering ``area`` of the image.

    White noise is low-pass filtered with a Gaussian of ``scale`` times the shorter side and
    the highest ``area`` fraction of it is kept, so the blobs' count and outline are random
    while the covered fraction is exact (to one pixel) before feathering.

    Parameters
    ----------
    shape : (H, W) or (H, W, C); only H and W are used.
    area : fraction of pixels in the mask, 0 to 1.
    rng : source of the noise.
    scale : blob size relative to the shorter side (larger, fewer and rounder blobs).
    feather : Gaussian softening of the edges, in pixels (0: a binary mask).
    """
    h, w = _check_shape(shape)
    area = _check_area(area)
    field = ndimage.gaussian_filter(rng.standard_normal((h, w)), max(scale * min(h, w), 0.5), mode="reflect")
    return _finish(_top(field, area), feather)


def rectangles(
    shape: tuple[int, ...], area: float, rng: np.random.Generator, *, count: int = 3, feather: float = 0.0
) -> np.ndarray:
    """Random axis-aligned rectangles covering ``area`` of the image (within 1 % of the pixels).

    ``count`` rectangles of equal area, aspect ratio log-uniform in
    :data:`RECTANGLE_ASPECT`, are placed uniformly. Where they overlap, rectangles the size
    of the shortfall are added, each over a random still uncovered pixel, until the covered
    fraction is within 1 % of ``area`` (never above it by more than the rounding of one
    rectangle's sides).
    """
    h, w = _check_shape(shape)
    area = _check_area(area)
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    mask = np.zeros((h, w), dtype=bool)
    target = area * h * w
    log_aspect = np.log(RECTANGLE_ASPECT)
    for drawn in range(count + 1000):
        shortfall = target - mask.sum()
        if shortfall <= 0 or (drawn >= count and shortfall <= 0.01 * h * w):
            break
        size = target / count if drawn < count else shortfall
        aspect = math.exp(rng.uniform(*log_aspect))
        rh = min(h, max(1, round(math.sqrt(size * aspect))))
        rw = min(w, max(1, round(size / rh)))
        if drawn < count:
            top, left = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
        else:
            free = np.flatnonzero(~mask)
            y, x = divmod(int(free[rng.integers(free.size)]), w)
            top, left = min(max(y - rh // 2, 0), h - rh), min(max(x - rw // 2, 0), w - rw)
        mask[top : top + rh, left : left + rw] = True
    return _finish(mask, feather)


def _radius(h: int, w: int) -> np.ndarray:
    """Elliptical distance from the image centre, 1 on the inscribed ellipse."""
    y = (np.arange(h) + 0.5 - h / 2) / (h / 2)
    x = (np.arange(w) + 0.5 - w / 2) / (w / 2)
    return np.hypot(y[:, None], x[None, :])


def centre(shape: tuple[int, ...], area: float, *, feather: float = 0.0) -> np.ndarray:
    """A central ellipse (of the image's aspect ratio) covering ``area`` of the image.

    The round(area * H * W) pixels nearest the centre in elliptical distance; past
    pi/4 of the image the ellipse is cut by the borders and the mask keeps growing into
    the corners.
    """
    h, w = _check_shape(shape)
    return _finish(_top(-_radius(h, w), _check_area(area)), feather)


def periphery(shape: tuple[int, ...], area: float, *, feather: float = 0.0) -> np.ndarray:
    """The complement of :func:`centre` with ``1 - area``: the ``area`` fraction of pixels farthest from the centre."""
    h, w = _check_shape(shape)
    return _finish(~_top(-_radius(h, w), 1.0 - _check_area(area)), feather)


_GENERATORS: dict[str, Callable[[tuple[int, ...], float, np.random.Generator], np.ndarray]] = {
    "blobs": blobs,
    "rectangles": rectangles,
    "centre": lambda shape, area, rng: centre(shape, area),
    "periphery": lambda shape, area, rng: periphery(shape, area),
}

#: Names accepted by :func:`make_mask`.
MASK_KINDS = tuple(_GENERATORS)


def make_mask(kind: str, shape: tuple[int, ...], area: float, rng: np.random.Generator) -> np.ndarray:
    """The mask generator ``kind`` (one of :data:`MASK_KINDS`) with its default settings."""
    if kind not in _GENERATORS:
        raise ValueError(f"unknown mask kind {kind!r}; known kinds: {', '.join(MASK_KINDS)}")
    return _GENERATORS[kind](shape, area, rng)


def check_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``mask`` as float32 after checking it is (H, W) matching ``shape`` with values in [0, 1].

    Raises
    ------
    ValueError
        Naming the bad shape or values.
    """
    mask = np.asarray(mask)
    if mask.shape != tuple(shape[:2]):
        raise ValueError(f"mask must have the image's (H, W) = {tuple(shape[:2])}, got {mask.shape}")
    if mask.dtype.kind not in "biuf":
        raise ValueError(f"mask must be boolean or numeric, got dtype {mask.dtype}")
    mask = mask.astype(np.float32)
    if not np.isfinite(mask).all() or mask.min() < 0.0 or mask.max() > 1.0:
        raise ValueError("mask values must be finite and lie in [0, 1]")
    return mask


def blend(original: np.ndarray, distorted: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask * distorted + (1 - mask) * original``, the mask broadcast over channels.

    Where the mask is 0 the result equals ``original`` exactly; where it is 1, ``distorted``.
    """
    if original.shape != distorted.shape:
        raise ValueError(f"original {original.shape} and distorted {distorted.shape} differ in shape")
    weight = check_mask(mask, original.shape)
    if original.ndim == 3:
        weight = weight[..., None]
    return (weight * distorted + (1.0 - weight) * original).astype(np.float32)
