"""Copy-move evidence: where a region of the image reappears elsewhere in it.

A region copied and pasted within the same photo (to hide or to repeat something) survives
resampling, so this channel works on grey copies of the image at its own working sizes, not at
native resolution, and maps what it finds back onto the native :class:`CellGrid`. Two stages
find the pairs of regions, each in its own way, and add their evidence:

* **Keypoints** (Amerini et al. 2011): SIFT keypoints (Lowe 2004) on a copy of at most
  :attr:`CopyMoveConfig.keypoint_pixels`, small images enlarged up to
  :attr:`~CopyMoveConfig.upsample` times (CASIA v1's 384 x 256 gives few keypoints otherwise),
  with a low contrast threshold; RootSIFT descriptors (Arandjelovic & Zisserman 2012); each
  keypoint matched to the others of the image by the generalised 2-nearest-neighbour test
  (g2NN); pairs closer than :attr:`~CopyMoveConfig.min_shift` dropped. The pairs must then
  agree on one affine transformation: RANSAC (Fischler & Bolles 1981) on hypotheses drawn from
  spatial neighbours, a few models in turn, each kept with at least
  :attr:`~CopyMoveConfig.min_inliers` pairs and a plausible scale. Isolated look-alike pairs
  (two similar leaves) rarely agree on one model; a model whose sources match again one step
  back or two steps ahead (a row of windows, a printed fabric) is a repeated pattern and is
  left out (:attr:`~CopyMoveConfig.repeat`).
* **Dense field** (Cozzolino, Poggi & Verdoliva 2015): rotation-invariant features per pixel
  (magnitudes of Zernike moments on a disc), on a copy of at most
  :attr:`~CopyMoveConfig.dense_pixels`; a nearest-neighbour field found by PatchMatch
  (Barnes et al. 2009) started from the exact nearest neighbours of a sparse grid of pixels;
  the field median-filtered, and kept where a linear model fits it locally (dense linear
  fitting: a copied region moves as one piece), where each pixel's match points back to it,
  the two are at least :attr:`~CopyMoveConfig.min_shift` apart, the patch is not flat (flat
  sky matches everything) and the match is not repeated (as for models). This finds copies of
  weakly textured regions (grass, water, sand) that give no keypoints.

Each region the two stages find, source and copy alike, carries a strength: ``n / keypoint_unit``
for a model with ``n`` inlier pairs (on the hulls of its inliers), ``a / area_unit`` for a
dense region of ``a`` pixels, and ``1 / pair_unit`` around each end of a pair no model took
(weak evidence, so that a few pairs that agree on nothing still rank an image above none);
where they overlap they add; the strength map is
``1 - exp(-sum)`` in [0, 1). The image-level score is its maximum (the largest cell
``strength``). Every parameter was fixed on CASIA v1 images (re-saved at JPEG quality 75) that
are training images in all three splits of ``benchmarks/copy_move.py``, never on a test image.

References
----------
I. Amerini, L. Ballan, R. Caldelli, A. Del Bimbo and G. Serra, "A SIFT-based forensic method
for copy-move attack detection and transformation recovery", IEEE TIFS 6(3), 2011.
D. Cozzolino, G. Poggi and L. Verdoliva, "Efficient dense-field copy-move forgery detection",
IEEE TIFS 10(11), 2015.
D. G. Lowe, "Distinctive image features from scale-invariant keypoints", IJCV 60(2), 2004.
R. Arandjelovic and A. Zisserman, "Three things everyone should know to improve object
retrieval", CVPR 2012 (RootSIFT).
C. Barnes, E. Shechtman, A. Finkelstein and D. B. Goldman, "PatchMatch: a randomized
correspondence algorithm for structural image editing", ACM TOG 28(3), 2009.
M. A. Fischler and R. C. Bolles, "Random sample consensus", Commun. ACM 24(6), 1981.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch
from scipy.spatial import cKDTree

from hyperimage.inference.evidence import CellGrid, Evidence, register


@dataclass(frozen=True)
class CopyMoveConfig:
    """The channel's parameters; the defaults were fixed on CASIA v1 training images."""

    keypoint_pixels: int = 2_000_000
    """Largest size of the keypoint stage's copy (pixels); larger images are shrunk to it."""
    upsample: float = 2.0
    """Smaller images are enlarged up to this factor for the keypoint stage (more keypoints)."""
    contrast: float = 0.01
    """SIFT's contrast threshold (OpenCV's default 0.04 leaves weak textures without keypoints)."""
    max_keypoints: int = 6000
    """The strongest keypoints kept (bounds the matching cost, quadratic in their number)."""
    neighbours: int = 10
    """Nearest neighbours examined per keypoint by the g2NN test."""
    ratio: float = 0.6
    """g2NN: the k-th neighbour is a match while ``d_k / d_{k+1}`` stays below this."""
    min_shift: float = 16.0
    """Pairs closer than this (pixels of the dense stage's copy) are the same place, not a copy."""
    tolerance: float = 2.0
    """A pair fits an affine model when it lands within this many pixels (of the dense copy)."""
    min_inliers: int = 4
    """Pairs a model needs to count."""
    models: int = 3
    """Affine models sought in turn, each from the pairs the earlier ones left."""
    hypotheses: int = 300
    """RANSAC hypotheses per model."""
    dense_pixels: int = 250_000
    """Largest size of the dense stage's copy (pixels); smaller images are analysed as they are."""
    radius: int = 6
    """Radius of the disc of the Zernike moments (dense-copy pixels)."""
    order: int = 5
    """Highest order of the Zernike moments (5: 12 features)."""
    grid_stride: int = 4
    """The sparse grid whose exact nearest neighbours start PatchMatch: every this many pixels..."""
    grid_points: int = 8000
    """...or sparser, so that it holds at most about this many pixels (its cost is quadratic)."""
    iterations: int = 2
    """PatchMatch iterations (propagation by jumps of 8, 4, 2, 1 pixels, then local search)."""
    fit_radius: int = 5
    """Half side of the window of the dense linear fit of the field."""
    fit_error: float = 0.5
    """Largest mean squared residual (pixels^2) of the linear fit where the field counts."""
    symmetry: float = 2.0
    """A pixel's match must map back to within this many pixels of it."""
    nearer: float = 0.01
    """Added to a match's squared feature distance per pixel of offset (L1): of equal matches the
    nearest wins, so a repeated pattern matches its nearest repeat and the check the other way
    (:attr:`repeat`) falls inside the image."""
    repeat_reach: int = 1
    """How far (pixels) around the points one step back and two steps ahead a repeat is sought."""
    repeat: float = 4.0
    """A match (a dense pixel, a keypoint model's sources) counts only where the patches one
    offset the other way and two offsets ahead, those on the image, are this many times farther
    in features: a repeated pattern (bricks, tiles, a row of windows) matches again, a copy
    does not."""
    flat: float = 4.0
    """Patches whose grey level standard deviation is below this are flat: skipped."""
    min_area: int = 25
    """Dense regions smaller than this (pixels of the dense copy) are dropped."""
    keypoint_unit: float = 10.0
    """Inlier pairs of a model for a strength sum of 1."""
    pair_unit: float = 100.0
    """Ends of pairs that no model took, within twice ``radius`` of a pixel, for a strength sum of 1."""
    area_unit: float = 400.0
    """Dense-copy pixels of a region for a strength sum of 1."""
    seed: int = 0
    """Seed of RANSAC and PatchMatch: the channel is deterministic."""


@dataclass
class CopyMoveResult:
    """What the channel found in one image.

    Attributes
    ----------
    strength : ``(H, W)`` float32 in [0, 1) at native size: the strength of the copied region
        (source or copy) covering each pixel, 0 elsewhere.
    pairs : ``(n, 2, 2)`` float32, the inlier keypoint pairs of the accepted models as
        ``[[x, y] of one end, [x, y] of the other]`` in native pixels.
    dense : ``(H, W)`` bool at native size, the regions of the dense field.
    """

    strength: np.ndarray
    pairs: np.ndarray
    dense: np.ndarray

    @property
    def score(self) -> float:
        """The image-level evidence: the largest strength, 0 where nothing was found."""
        return float(self.strength.max()) if self.strength.size else 0.0


def detect(pixels: np.ndarray, config: CopyMoveConfig = CopyMoveConfig()) -> CopyMoveResult:
    """Copy-moved regions of ``pixels`` ``(H, W, 3)`` uint8 (or ``(H, W)`` grey).

    Images too small or too flat for either stage give an all-zero result, no error.
    """
    gray = _gray(pixels)
    h, w = gray.shape
    dense_scale = min(1.0, math.sqrt(config.dense_pixels / (h * w)))
    dense_gray = _resized(gray, dense_scale)
    evidence = np.zeros(dense_gray.shape, np.float64)
    pairs = np.zeros((0, 2, 2), np.float32)
    dense = np.zeros(dense_gray.shape, bool)
    if min(dense_gray.shape) >= 2 * config.radius + 1:
        features = _zernike_magnitudes(dense_gray.astype(np.float32), config.radius, config.order)
        pairs = _keypoint_evidence(gray, dense_scale, features, evidence, config)
        dense = _dense_evidence(dense_gray, features, evidence, config)
    strength = (1.0 - np.exp(-evidence)).astype(np.float32)
    return CopyMoveResult(
        strength=cv2.resize(strength, (w, h), interpolation=cv2.INTER_NEAREST),
        pairs=pairs,
        dense=cv2.resize(dense.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool),
    )


class CopyMove:
    """The ``copy-move`` evidence channel: per cell, the strength of the copied region over it
    (source and copy alike, its maximum over the cell), the inlier keypoints in it (log1p of
    their count) and the share of it covered by a dense-field region."""

    name = "copy-move"
    features = ("strength", "keypoints", "dense")
    headline = "strength"
    legend = "copy-move: regions that reappear elsewhere in the image, source and copy (match strength 0-1)"
    shipped_model = None

    def __init__(self, config: CopyMoveConfig = CopyMoveConfig()):
        self.config = config

    def __call__(self, evidence: Evidence, grid: CellGrid) -> np.ndarray:
        """``(U, V, 3)`` float32 on ``grid``."""
        found = detect(evidence.pixels, self.config)
        u, v = grid.shape(*evidence.size)
        ends = found.pairs.reshape(-1, 2)
        column = np.clip(ends[:, 0] // grid.cell, 0, v - 1).astype(np.int64)
        row = np.clip(ends[:, 1] // grid.cell, 0, u - 1).astype(np.int64)
        counts = np.bincount(row * v + column, minlength=u * v).reshape(u, v)
        return np.stack(
            [_cell_max(found.strength, grid), np.log1p(counts), grid.pool(found.dense.astype(np.float32))], axis=2
        ).astype(np.float32)


register(CopyMove.name)(CopyMove())


def _gray(pixels: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 luma of an RGB or grey image."""
    if pixels.ndim == 2:
        return np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"copy-move needs an (H, W, 3) or (H, W) image, got shape {pixels.shape}")
    return cv2.cvtColor(np.ascontiguousarray(pixels, dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def _resized(gray: np.ndarray, scale: float) -> np.ndarray:
    """``gray`` scaled by ``scale`` (area averaging down, bicubic up), unchanged at 1."""
    if scale == 1.0:
        return gray
    h, w = gray.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def _cell_max(values: np.ndarray, grid: CellGrid) -> np.ndarray:
    """The maximum of ``values`` ``(H, W)`` >= 0 over each cell of ``grid``: ``(U, V)``; one reshape."""
    h, w = values.shape
    u, v = grid.shape(h, w)
    padded = np.pad(values, [(0, u * grid.cell - h), (0, v * grid.cell - w)])
    return padded.reshape(u, grid.cell, v, grid.cell).max(axis=(1, 3))


# Keypoint stage ---------------------------------------------------------------------------


def _keypoint_evidence(
    gray: np.ndarray, dense_scale: float, features: np.ndarray, evidence: np.ndarray, config: CopyMoveConfig
) -> np.ndarray:
    """Add each accepted affine model's ``inliers / keypoint_unit`` to ``evidence`` (the dense
    copy's grid) over the hulls of its inliers, both ends; returns the inlier pairs
    ``(n, 2, 2)`` in native pixels. Distances are in pixels of the dense copy, whatever size
    the keypoints were found at. A model is accepted where most of its sources match only
    once (:func:`_single` on the dense ``features``): the facade's row of windows repeats.
    The pairs no model took add ``1 / pair_unit`` each around both ends (:func:`_pair_density`):
    weak evidence, below a model's, where too few pairs agree for one."""
    h, w = gray.shape
    scale = min(config.upsample, math.sqrt(config.keypoint_pixels / (h * w)))
    first, second = (ends * (dense_scale / scale) for ends in _g2nn_pairs(_resized(gray, scale), config))
    apart = np.hypot(*(second - first).T) >= config.min_shift
    first, second = first[apart], second[apart]
    models = _affine_models(first, second, config)
    alone = np.ones(len(first), bool)
    for inliers, _, _ in models:
        alone[inliers] = False
    loose = np.concatenate([first[alone], second[alone]])
    evidence += _pair_density(loose, evidence.shape, 2 * config.radius) / config.pair_unit
    found = []
    for inliers, source, fitted in models:
        ahead = _apply(fitted, source)
        back = _apply(np.linalg.inv(np.vstack([fitted.T, [0.0, 0.0, 1.0]]))[:2].T, source)
        if np.mean(_single(features, source, ahead, back, _apply(fitted, ahead), config)) <= 0.5:
            continue
        for ends in (first[inliers], second[inliers]):
            region = np.zeros(evidence.shape, np.uint8)
            cv2.fillConvexPoly(region, cv2.convexHull(np.rint(ends).astype(np.int32)), 1)
            evidence += cv2.dilate(region, _disc(config.radius)) * (len(inliers) / config.keypoint_unit)
        found.append(np.stack([first[inliers], second[inliers]], axis=1) / dense_scale)
    return np.concatenate(found).astype(np.float32) if found else np.zeros((0, 2, 2), np.float32)


def _pair_density(ends: np.ndarray, shape: tuple[int, int], radius: int) -> np.ndarray:
    """``shape`` float64: how many of the points ``ends`` ``(n, 2)`` (x, y) lie within
    ``radius`` pixels of each pixel (the points counted on the grid, then summed over a disc)."""
    counts = np.zeros(shape, np.float32)
    np.add.at(counts, (_rows(ends, shape[0]), _columns(ends, shape[1])), 1.0)
    return cv2.filter2D(counts, -1, _disc(radius).astype(np.float32), borderType=cv2.BORDER_CONSTANT).astype(np.float64)


def _apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` ``(n, 2)`` (x, y) through the affine map ``(3, 2)`` (``[x, y, 1] @ affine``)."""
    return points @ affine[:2] + affine[2]


def _single(
    features: np.ndarray,
    at: np.ndarray,
    ahead: np.ndarray,
    back: np.ndarray,
    beyond: np.ndarray,
    config: CopyMoveConfig,
) -> np.ndarray:
    """``(n,)`` bool: whether the points ``at`` ``(n, 2)`` (x, y) match their ``ahead`` only
    once: the best match within ``repeat_reach`` pixels of the point one step the other way
    (``back``) and of the point two steps ahead (``beyond``), those on the image, is ``repeat``
    times farther in ``features`` ``(h, w, F)`` than ``ahead``. A repeated pattern (bricks, a
    printed fabric, a row of windows) matches again; a copy does not. True where neither is on
    the image (nothing to compare)."""
    h, w, _ = features.shape
    here = features[_rows(at, h), _columns(at, w)]
    reach = np.arange(-config.repeat_reach, config.repeat_reach + 1)
    again = np.full(len(at), np.inf)
    for other in (back, beyond):
        on = (other[:, 0] >= 0) & (other[:, 0] <= w - 1) & (other[:, 1] >= 0) & (other[:, 1] <= h - 1)
        for sy in reach:
            for sx in reach:
                near = other + [sx, sy]
                found = _distance(here, features[_rows(near, h), _columns(near, w)])
                again = np.where(on, np.minimum(again, found), again)
    return again > config.repeat * _distance(here, features[_rows(ahead, h), _columns(ahead, w)])


def _rows(points: np.ndarray, h: int) -> np.ndarray:
    """The nearest image row of each point ``(n, 2)`` (x, y), clipped to the image."""
    return np.clip(np.rint(points[:, 1]), 0, h - 1).astype(np.int64)


def _columns(points: np.ndarray, w: int) -> np.ndarray:
    """The nearest image column of each point ``(n, 2)`` (x, y), clipped to the image."""
    return np.clip(np.rint(points[:, 0]), 0, w - 1).astype(np.int64)


def _g2nn_pairs(gray: np.ndarray, config: CopyMoveConfig) -> tuple[np.ndarray, np.ndarray]:
    """The two ends ``(n, 2)`` each of the keypoint pairs of ``gray`` that pass the g2NN test,
    each pair once, in pixels of ``gray``."""
    none = (np.zeros((0, 2)), np.zeros((0, 2)))
    sift = cv2.SIFT_create(nfeatures=config.max_keypoints, contrastThreshold=config.contrast)
    points, desc = sift.detectAndCompute(gray, None)
    if desc is None or len(points) < 3:
        return none
    xy = cv2.KeyPoint_convert(points).astype(np.float64)
    order = np.lexsort(np.column_stack([desc, xy]).T)  # one order, whatever order the threads found them in
    xy, desc = xy[order], desc[order]
    root = np.sqrt(desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)  # RootSIFT
    dist, index = _nearest(root, min(config.neighbours + 1, len(xy) - 1))
    # g2NN: up to the first ratio above; identical neighbours (0 / 0) are not distinct
    rows, cols = np.nonzero(np.cumprod(dist[:, :-1] < config.ratio * dist[:, 1:], axis=1))
    pairs = np.unique(np.sort(np.stack([rows, index[rows, cols]], axis=1), axis=1), axis=0).reshape(-1, 2)
    return xy[pairs[:, 0]], xy[pairs[:, 1]]


def _nearest(desc: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances and indices ``(n, k)`` of each descriptor's ``k`` nearest others,
    nearest first; in chunks of rows, so memory stays ``chunk x n``."""
    d = torch.from_numpy(desc)
    squared = (d * d).sum(dim=1)
    dists, indices = [], []
    for start in range(0, len(d), chunk):
        rows = torch.arange(start, min(start + chunk, len(d)))
        partial = torch.addmm(squared[None], d[rows], d.T, alpha=-2.0)  # |b|^2 - 2 a.b: ranks as |a - b|^2
        partial[rows - start, rows] = float("inf")  # not itself
        value, index = partial.topk(k, dim=1, largest=False)
        dists.append((value + squared[rows, None]).clamp_min(0).sqrt())
        indices.append(index)
    return torch.cat(dists).double().numpy(), torch.cat(indices).numpy()


def _affine_models(
    first: np.ndarray, second: np.ndarray, config: CopyMoveConfig
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The affine models found in turn (at most ``models``): the indices of each one's inlier
    pairs, their ends it maps from ``(k, 2)`` and the map ``(3, 2)``.

    Each pair enters both ways round (either end may be the source); a hypothesis is the affine
    map of three pairs, a random pair and two of its spatial neighbours (a copied region's
    pairs lie together); the best hypothesis whose linear part keeps orientation and scales
    area by 1/4 to 4 is refitted to its inliers by least squares, and kept with at least
    ``min_inliers`` pairs; its pairs leave before the next model is sought.
    """
    n = len(first)
    source, target = np.concatenate([first, second]), np.concatenate([second, first])
    alive = np.ones(2 * n, bool)
    rng = np.random.default_rng(config.seed)
    models: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    while len(models) < config.models and alive.sum() >= 2 * config.min_inliers:
        live = np.nonzero(alive)[0]
        src, dst = source[live], target[live]
        near = cKDTree(src).query(src, k=min(9, len(live)))[1][:, 1:]
        seeds = rng.integers(0, len(live), config.hypotheses)
        picks = rng.integers(0, near.shape[1], (config.hypotheses, 2))
        triples = np.stack([seeds, near[seeds, picks[:, 0]], near[seeds, picks[:, 1]]], axis=1)
        design = np.concatenate([src[triples], np.ones((config.hypotheses, 3, 1))], axis=2)
        solvable = np.abs(np.linalg.det(design)) > 1e-6
        maps = np.zeros((config.hypotheses, 3, 2))
        maps[solvable] = np.linalg.solve(design[solvable], dst[triples[solvable]])
        area = np.linalg.det(maps[:, :2, :])
        maps = maps[solvable & (area > 0.25) & (area < 4.0)]
        if not len(maps):
            break
        homogeneous = np.concatenate([src, np.ones((len(live), 1))], axis=1)
        chunks = np.array_split(maps, -(-len(maps) // 32))  # bounded memory: 32 maps x pairs at a time
        votes = np.concatenate([_fits(homogeneous, dst, part, config.tolerance).sum(axis=1) for part in chunks])
        best = int(np.argmax(votes))
        if votes[best] < config.min_inliers:
            break
        fits = _fits(homogeneous, dst, maps[best : best + 1], config.tolerance)[0]
        fitted = np.linalg.lstsq(homogeneous[fits], dst[fits], rcond=None)[0]
        fits = _fits(homogeneous, dst, fitted[None], config.tolerance)[0]
        inliers, first_seen = np.unique(live[fits] % n, return_index=True)
        if len(inliers) < config.min_inliers:
            break
        models.append((inliers, src[fits][first_seen], fitted))
        alive[inliers] = alive[inliers + n] = False
    return models


def _fits(homogeneous: np.ndarray, target: np.ndarray, maps: np.ndarray, tolerance: float) -> np.ndarray:
    """``(k, n)`` bool: which of the ``n`` points ``(n, 3)`` each affine map ``(k, 3, 2)`` takes to
    within ``tolerance`` of its ``target`` ``(n, 2)``."""
    return np.linalg.norm(homogeneous @ maps - target, axis=2) < tolerance


# Dense stage ------------------------------------------------------------------------------


def _dense_evidence(gray: np.ndarray, features: np.ndarray, evidence: np.ndarray, config: CopyMoveConfig) -> np.ndarray:
    """Add each dense region's ``area / area_unit`` to ``evidence`` over the region (dilated by
    the disc the features saw); returns the regions ``(h, w)`` bool. ``features``: the Zernike
    magnitudes ``(h, w, F)`` of ``gray``."""
    g = gray.astype(np.float32)
    side = 2 * config.radius + 1
    spread = np.sqrt(np.maximum(cv2.blur(g * g, (side, side)) - cv2.blur(g, (side, side)) ** 2, 0))
    textured = spread > config.flat
    r = config.radius
    textured[:r], textured[-r:], textured[:, :r], textured[:, -r:] = False, False, False, False  # disc off the image
    if textured.sum() < config.min_area:
        return np.zeros(gray.shape, bool)
    rng = np.random.default_rng(config.seed)
    dy, dx = _patchmatch(features, textured, config, rng)
    dy = cv2.medianBlur(dy.astype(np.float32), 5)
    dx = cv2.medianBlur(dx.astype(np.float32), 5)
    h, w = gray.shape
    yy, xx = np.mgrid[:h, :w]
    ty = np.clip(np.rint(yy + dy).astype(np.int64), 0, h - 1)
    tx = np.clip(np.rint(xx + dx).astype(np.int64), 0, w - 1)
    kept = (
        (_linear_fit_error(dy, dx, config.fit_radius) < config.fit_error)
        & textured
        & (np.hypot(dy, dx) >= config.min_shift)
        & (np.hypot(dy + dy[ty, tx], dx + dx[ty, tx]) < config.symmetry)  # the match maps back
    )
    y, x = np.nonzero(kept)
    at, step = np.stack([x, y], axis=1).astype(np.float64), np.stack([dx[y, x], dy[y, x]], axis=1).astype(np.float64)
    kept[y, x] = _single(features, at, at + step, at - step, at + 2 * step, config)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(kept.astype(np.uint8), connectivity=8)
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    area[0] = 0.0
    area[area < config.min_area] = 0.0
    regions = area[labels] > 0
    # each pixel of a region, widened by the disc, carries its region's area
    widened = cv2.dilate((area[labels] * regions).astype(np.float32), _disc(config.radius))
    evidence += widened / config.area_unit
    return cv2.dilate(regions.astype(np.uint8), _disc(config.radius)).astype(bool)


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of each row of ``a`` ``(n, F)`` to the same row of ``b``."""
    diff = a - b
    return np.einsum("ij,ij->i", diff, diff)


@lru_cache(maxsize=8)
def _zernike_kernels(radius: int, order: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Real and imaginary kernels ``(2r + 1, 2r + 1)`` of the Zernike polynomials ``V_nm``,
    ``0 <= m <= n <= order``, ``n - m`` even, on the disc of ``radius`` pixels."""
    r = np.arange(-radius, radius + 1, dtype=np.float64)
    x, y = np.meshgrid(r, r)
    rho, theta = np.hypot(x, y) / (radius + 0.5), np.arctan2(y, x)
    disc = rho <= 1.0
    kernels = []
    for n in range(order + 1):
        for m in range(n % 2, n + 1, 2):
            radial = sum(
                (-1) ** s * math.factorial(n - s)
                / (math.factorial(s) * math.factorial((n + m) // 2 - s) * math.factorial((n - m) // 2 - s))
                * rho ** (n - 2 * s)
                for s in range((n - m) // 2 + 1)
            )
            v = radial * np.exp(-1j * m * theta) * disc * (n + 1) / disc.sum()
            kernels.append((v.real.astype(np.float32), v.imag.astype(np.float32)))
    return tuple(kernels)


def _zernike_magnitudes(gray: np.ndarray, radius: int, order: int) -> np.ndarray:
    """``(h, w, F)`` float32: the magnitude of each Zernike moment of the disc around every
    pixel, unchanged when the disc's content turns (Cozzolino et al. 2015, Sec. III-A)."""
    out = []
    for real, imag in _zernike_kernels(radius, order):
        re = cv2.filter2D(gray, cv2.CV_32F, real, borderType=cv2.BORDER_REFLECT)
        im = cv2.filter2D(gray, cv2.CV_32F, imag, borderType=cv2.BORDER_REFLECT)
        out.append(np.hypot(re, im))
    return np.stack(out, axis=2)


def _patchmatch(
    features: np.ndarray, textured: np.ndarray, config: CopyMoveConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The nearest-neighbour field ``(dy, dx)`` ``(h, w)`` int of ``features`` ``(h, w, F)``:
    for each pixel, the offset of the textured pixel at least ``min_shift`` away whose
    features are nearest, as PatchMatch finds it (Barnes et al. 2009).

    Started from the exact nearest neighbours of a sparse grid of pixels (``grid_stride``,
    ``grid_points``; a copied region holds several grid pixels, so the field starts right
    somewhere in it); each iteration offers every pixel its neighbours' matches at 8, 4, 2 and 1 pixels (a copy moves
    as one piece, so a good match spreads) and then random offsets near its own, all pixels at
    once; a candidate replaces the match when its features are nearer.
    """
    h, w, depth = features.shape
    flat = features.reshape(h * w, depth)
    yy, xx = (a.astype(np.int32) for a in np.divmod(np.arange(h * w), w))
    allowed = textured.ravel()
    min_shift2 = config.min_shift**2

    def cost(cy: np.ndarray, cx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cy, cx = np.clip(cy, 0, h - 1, dtype=np.int32), np.clip(cx, 0, w - 1, dtype=np.int32)
        index = cy * w + cx
        oy, ox = cy - yy, cx - xx
        c = _distance(flat, flat[index]) + config.nearer * (np.abs(oy) + np.abs(ox))
        c[(oy**2 + ox**2 < min_shift2) | ~allowed[index]] = np.inf
        return c, cy, cx

    stride = max(config.grid_stride, math.ceil(math.sqrt(h * w / config.grid_points)))
    gy, gx = _grid_match(features, stride, config.min_shift, config.nearer)
    best, ty, tx = cost(yy + gy.ravel(), xx + gx.ravel())

    def offer(cy: np.ndarray, cx: np.ndarray) -> None:
        c, cy, cx = cost(cy, cx)
        better = c < best
        ty[better], tx[better], best[better] = cy[better], cx[better], c[better]

    for _ in range(config.iterations):
        for step in (8, 4, 2, 1):
            for sy, sx in ((0, step), (step, 0), (0, -step), (-step, 0)):
                neighbour = np.clip(yy + sy, 0, h - 1) * w + np.clip(xx + sx, 0, w - 1)
                offer(ty[neighbour] - sy, tx[neighbour] - sx)
        for reach in (8, 4, 2, 1):
            jump = rng.integers(-reach, reach + 1, (2, h * w), dtype=np.int32)
            offer(ty + jump[0], tx + jump[1])
    return (ty - yy).reshape(h, w), (tx - xx).reshape(h, w)


def _grid_match(
    features: np.ndarray, stride: int, min_shift: float, nearer: float, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets ``(dy, dx)`` ``(h, w)`` of the exact nearest neighbour (at least ``min_shift``
    away; ``nearer`` per pixel of offset added to the squared distance) of the grid pixel
    nearest each pixel, among the pixels of a grid of ``stride``."""
    h, w, _ = features.shape
    ys, xs = np.arange(stride // 2, h, stride), np.arange(stride // 2, w, stride)
    gy, gx = (a.ravel() for a in np.meshgrid(ys, xs, indexing="ij"))
    f = torch.from_numpy(np.ascontiguousarray(features[gy, gx]))
    squared = (f * f).sum(dim=1)
    position = torch.from_numpy(np.stack([gy, gx], axis=1)).float()
    # the grid pixels closer than min_shift: a fixed stencil of grid steps around each
    reach = int(math.ceil(min_shift / stride))
    sy, sx = (a.ravel() for a in np.mgrid[-reach : reach + 1, -reach : reach + 1])
    stencil = (sy**2 + sx**2) * stride**2 < min_shift**2
    sy, sx = sy[stencil], sx[stencil]
    row, col = np.divmod(np.arange(len(gy)), len(xs))
    close = torch.from_numpy(
        np.clip(row[:, None] + sy, 0, len(ys) - 1) * len(xs) + np.clip(col[:, None] + sx, 0, len(xs) - 1)
    )
    nearest = []
    for start in range(0, len(f), chunk):
        rows = torch.arange(start, min(start + chunk, len(f)))
        partial = torch.addmm(squared[None], f[rows], f.T, alpha=-2.0)
        partial += torch.cdist(position[rows], position, p=1).mul_(nearer)
        partial.scatter_(1, close[rows], float("inf"))
        nearest.append(partial.argmin(dim=1))
    j = torch.cat(nearest).numpy()
    shape = (len(ys), len(xs))
    dy, dx = (gy[j] - gy).reshape(shape), (gx[j] - gx).reshape(shape)
    # each pixel takes the offset of its grid pixel
    at_y, at_x = np.minimum(np.arange(h) // stride, shape[0] - 1), np.minimum(np.arange(w) // stride, shape[1] - 1)
    return dy[np.ix_(at_y, at_x)], dx[np.ix_(at_y, at_x)]


def _linear_fit_error(dy: np.ndarray, dx: np.ndarray, radius: int) -> np.ndarray:
    """Mean squared residual ``(h, w)`` of the least-squares fit of an affine function of
    position to the field ``(dy, dx)`` over the ``(2r + 1)^2`` window around each pixel
    (Cozzolino et al. 2015, Sec. III-C): box filters, no loop. On a symmetric window the fit
    splits into the mean and one slope per axis, so the residual is the variance less what the
    two slopes explain."""
    side = 2 * radius + 1
    ramp = np.tile(np.arange(-radius, radius + 1, dtype=np.float32), (side, 1))
    n, spread = side * side, float((ramp**2).sum())
    error = np.zeros(dy.shape, np.float32)
    for field in (dy, dx):
        mean = cv2.blur(field, (side, side), borderType=cv2.BORDER_REFLECT)
        square = cv2.blur(field * field, (side, side), borderType=cv2.BORDER_REFLECT)
        along_x = cv2.filter2D(field, -1, ramp, borderType=cv2.BORDER_REFLECT)
        along_y = cv2.filter2D(field, -1, np.ascontiguousarray(ramp.T), borderType=cv2.BORDER_REFLECT)
        error += square - mean**2 - (along_x**2 + along_y**2) / (n * spread)
    return np.maximum(error, 0.0)


@lru_cache(maxsize=8)
def _disc(radius: int) -> np.ndarray:
    """A disc-shaped structuring element of ``radius`` pixels."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
