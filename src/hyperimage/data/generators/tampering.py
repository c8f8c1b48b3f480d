"""A synthetic image-forgery benchmark made from pristine photos.

CASIA-2, the paper's forgery data set (Chandakkar & Li 2017, "Image forgery classification"),
cannot be downloaded here; :func:`make_tampering_dataset` builds a stand-in of the same kind
from pristine photographs (e.g. those of :func:`hyperimage.photo_packages.gather_photos`):

- every image is a crop of one photo (random position, optionally mirrored) at a fixed size,
  by default the 256x384 input of the paper's end-to-end forgery CNN (Experiment 1), or the
  whole photo at its own size (``size=None``: full-size photos, for forensics at native
  resolution);
- a tampered image has one region replaced, as CASIA-2's were made by hand: *splicing* (a
  region of another photo), *copy-move* (a region of the same image moved), both with optional
  scaling and rotation, or *removal* (a region filled by scikit-image's biharmonic
  inpainting, or optionally Telea 2004 through OpenCV's ``cv2.inpaint``);
- regions are object-like (smooth random blobs or random star-shaped polygons) covering 2-15%
  of the image, with a hard, feathered or blurred seam, the ways forgers hide an edge;
- every image, authentic or tampered, goes through one final re-save (JPEG at a random quality,
  or PNG), so that compression alone never gives the label away.

Double compression (``TamperConfig.double_jpeg``, :class:`DoubleJpeg`), the case JPEG forensics
reads (Bianchi & Piva, IEEE TIFS 2012): every crop is first a camera JPEG at quality Q1 (its 8x8
grid on the crop's origin), then edited, then saved at quality Q2, with Q1 < Q2 for some images
and Q1 > Q2 for others; authentic images go through the same chain with the same qualities. In a
tampered image the region's grid is

- *aligned*: the region has no camera history of its own (a never-compressed donor, a copy of
  the never-compressed crop, an inpainting), so it is singly compressed in an aligned doubly
  compressed host;
- *shifted*: the region is cut from a camera JPEG at Q1 (the donor's, or the host's own for
  copy-move) and moved by whole pixels, its grid landing ``(dy, dx) != (0, 0)`` off the host's
  (non-aligned double compression). Removal is always aligned.

``labels.csv`` then has four more columns: ``camera_quality`` (Q1), ``final_quality`` (Q2),
``grid`` (``aligned`` / ``shifted``, empty for authentic images) and ``grid_shift`` (``dy:dx``).

The data set is written as a folder: ``images/<n>.jpg|png``, ``masks/<n>.png`` (255 where
pixels were changed, tampered images only), ``sources/<n>.jpg|png`` (the host crop of each
tampered image before tampering, re-saved exactly as the tampered image was), ``labels.csv``
with columns ``image,label,group,mask,kind,reference`` (label 1 = authentic, 0 = tampered, the
paper's convention; ``reference`` the source file of a tampered image, empty for authentic
ones), and ``meta.json`` with the settings and each image's provenance. The sources are the
"authentic counterpart" from which the paper's forgery stage 1 cuts its patch pairs
(:mod:`hyperimage.data.forgery_patches`); since a source goes through the same JPEG quality (or
PNG) as its tampered image, the two differ only where the tampering reached (and in the JPEG
blocks it touched), and compression cannot tell a stage-1 pair apart.

Groups and leakage: a splice mixes two photos, so a group cannot be one photo. The photos are
partitioned at random into *families* of ``TamperConfig.family_size`` (default 2) photos;
splicing donors are drawn only from the host's own family, and every image's ``group`` is its
family (the photo ids joined by ``+``). Every image whose pixels come from a given photo thus
shares that photo's group, and a split by group (as ``ImageRecord.group`` asks) never puts one
photo's content on both sides.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.draw import polygon2mask
from skimage.filters import gaussian
from skimage.transform import warp

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.distortions import to_uint8
from hyperimage.data.io import ImageError, load_image

#: CASIA-2's share of tampered images: 5123 tampered, 7491 authentic.
CASIA2_TAMPERED_FRACTION = 5123 / (7491 + 5123)

#: Tampering kinds, in the order of :attr:`TamperConfig.kind_weights`.
KINDS = ("splicing", "copy_move", "removal")

#: Inpainting methods of a removal (:attr:`TamperConfig.inpaint`).
INPAINT_METHODS = ("biharmonic", "telea", "navier-stokes")

#: Blending of a spliced or copied region (:attr:`TamperConfig.blend`).
BLENDS = ("alpha", "poisson")

#: Seam treatments, in the order of :attr:`TamperConfig.seam_weights`.
SEAMS = ("hard", "feather", "blur")

#: Attempts at a tampering whose change stays below ``min_change`` before the largest is kept.
_TRIES = 8

#: Candidate source positions drawn at once when placing a copied or spliced region.
_CANDIDATES = 32

#: Columns ``labels.csv`` gains in the double-compression mode.
DOUBLE_JPEG_COLUMNS = ("camera_quality", "final_quality", "grid", "grid_shift")


@dataclass(frozen=True)
class DoubleJpeg:
    """The double-compression mode (see the module docstring).

    Attributes
    ----------
    quality : range of both JPEG qualities, Q1 (camera) and Q2 (final save), ends included.
    min_gap : least ``|Q1 - Q2|``, so that every image is clearly Q1 < Q2 or Q1 > Q2.
    second_higher : share of images with Q1 < Q2 (saved the second time at a higher quality).
    shifted : share of spliced and copy-moved regions whose own camera grid lands shifted
        against the host's; the others (and removals) carry no grid of their own.
    """

    quality: tuple[int, int] = (60, 95)
    min_gap: int = 5
    second_higher: float = 0.5
    shifted: float = 0.5

    def __post_init__(self) -> None:
        low, high = self.quality
        if self.min_gap < 1 or not 1 <= low <= high - self.min_gap or high > 100:
            raise ValueError(f"double_jpeg needs min_gap >= 1 and 1 <= quality[0] <= quality[1] - min_gap, quality[1] <= 100; got {self.quality}, {self.min_gap}")
        if not (0.0 <= self.second_higher <= 1.0 and 0.0 <= self.shifted <= 1.0):
            raise ValueError(f"double_jpeg shares must be in [0, 1], got {self.second_higher}, {self.shifted}")

    def qualities(self, rng: np.random.Generator) -> tuple[int, int]:
        """``(Q1, Q2)``: the lower drawn from ``[low, high - min_gap]``, the higher from
        ``[lower + min_gap, high]``, in the order ``second_higher`` draws."""
        low, high = self.quality
        lower = int(rng.integers(low, high - self.min_gap + 1))
        upper = int(rng.integers(lower + self.min_gap, high + 1))
        return (lower, upper) if rng.random() < self.second_higher else (upper, lower)


@dataclass(frozen=True)
class TamperConfig:
    """How forgeries are made; the defaults mimic CASIA-2 where it says anything.

    Attributes
    ----------
    kind_weights : relative frequency of splicing, copy-move and removal. CASIA-2 has about
        1849 splicings to 3274 copy-moves (36:64) and no removals; a fifth are removals here.
    area_range : tampered area as a fraction of the image.
    polygon_probability : share of polygon regions; the others are smooth blobs.
    max_aspect : regions are stretched by an aspect ratio in [1 / max_aspect, max_aspect].
    transform_probability : share of spliced or copied regions that are scaled and rotated;
        the others are moved by whole pixels, an exact copy.
    scale_range : scale factor of a transformed region (drawn log-uniformly).
    max_rotation : largest rotation of a transformed region, in degrees.
    seam_weights : relative frequency of the hard, feathered and blurred seams.
    seam_sigma : range of the Gaussian sigma (pixels) of feathered and blurred seams.
    min_change : least mean absolute change (on [0, 1]) inside the mask; a tampering that
        changes less (a flat region copied onto a flat region) is drawn again.
    inpaint : ``"biharmonic"`` (scikit-image, the default: no extra dependency, reproducible),
        ``"telea"`` or ``"navier-stokes"`` (OpenCV's ``cv2.inpaint``, Telea 2004 or Bertalmio et
        al. 2001: faster).
    blend : how a spliced or copied region meets the host: ``"alpha"`` (the default: the seam
        treatments above) or ``"poisson"`` (OpenCV's ``cv2.seamlessClone``, Perez et al. 2003:
        the region's gradients kept, its colours carried over to the host's at the seam, so no
        edge shows; the pixels outside the region stay the host's). Removal is always alpha.
    flip_probability : share of crops (and donors) mirrored left-right.
    jpeg_quality : range of the final JPEG quality, both ends included.
    png_probability : share of images saved as PNG instead of JPEG.
    family_size : photos per family, the unit of grouping (see the module docstring).
    double_jpeg : the double-compression mode (:class:`DoubleJpeg`); None (the default) keeps
        the one final re-save above, and ``jpeg_quality`` and ``png_probability`` are then unused.
    """

    kind_weights: tuple[float, float, float] = (0.29, 0.51, 0.20)
    area_range: tuple[float, float] = (0.02, 0.15)
    polygon_probability: float = 0.5
    max_aspect: float = 2.0
    transform_probability: float = 0.5
    scale_range: tuple[float, float] = (0.75, 1.33)
    max_rotation: float = 30.0
    seam_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    seam_sigma: tuple[float, float] = (0.7, 2.0)
    min_change: float = 0.02
    inpaint: str = "biharmonic"
    blend: str = "alpha"
    flip_probability: float = 0.5
    jpeg_quality: tuple[int, int] = (70, 95)
    png_probability: float = 0.2
    family_size: int = 2
    double_jpeg: DoubleJpeg | None = None


@dataclass(frozen=True)
class Tampered:
    """One forgery before the final re-save.

    Attributes
    ----------
    image : (H, W, 3) float32 in [0, 1].
    mask : (H, W) bool, True where the tampering reached; every pixel outside it is exactly
        the host's.
    info : how it was made (kind, shape, seam, scale, rotation, area, change, inpainting).
    """

    image: np.ndarray
    mask: np.ndarray
    info: dict[str, str]


def _weights(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()


def _polygon_area(v: np.ndarray) -> float:
    """Shoelace area of a closed polygon with vertices (K, 2)."""
    return 0.5 * abs(float(np.dot(v[:, 0], np.roll(v[:, 1], -1)) - np.dot(v[:, 1], np.roll(v[:, 0], -1))))


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _random_region(
    rng: np.random.Generator, area: float, bounds: tuple[int, int], config: TamperConfig
) -> tuple[np.ndarray, str]:
    """Vertices (K, 2) in (row, col) about the origin of an object-like region of ``area`` pixels.

    A blob has a smooth random radius (a few random Fourier harmonics of the angle); a polygon
    has 3-9 vertices at random angles and radii. Both are stretched, turned, scaled to the area,
    and shrunk if needed to fit within ``bounds`` less a pixel on each side.
    """
    if rng.random() < config.polygon_probability:
        shape = "polygon"
        count = int(rng.integers(3, 10))
        angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, count))
        radii = rng.uniform(0.4, 1.0, count)
    else:
        shape = "blob"
        harmonics = np.arange(1, 5)
        angles = np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False)
        amplitudes = rng.uniform(0.0, 0.3, harmonics.size) / harmonics
        phases = rng.uniform(0.0, 2.0 * np.pi, harmonics.size)
        radii = np.exp(np.cos(np.outer(angles, harmonics) + phases) @ amplitudes)
    vertices = np.stack([radii * np.sin(angles), radii * np.cos(angles)], axis=1)
    aspect = config.max_aspect ** rng.uniform(-1.0, 1.0)
    stretch = _rotation(rng.uniform(0.0, np.pi)) @ np.diag([np.sqrt(aspect), 1.0 / np.sqrt(aspect)])
    vertices = vertices @ stretch.T
    vertices *= np.sqrt(area / _polygon_area(vertices))
    span = vertices.max(axis=0) - vertices.min(axis=0)
    return vertices * min(1.0, float(np.min((np.asarray(bounds) - 2.0) / span))), shape


def _bounds(vertices: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest integer centres (row, col) that keep ``vertices`` inside ``shape``."""
    low = np.ceil(-vertices.min(axis=0)).astype(np.int64)
    high = np.floor(np.asarray(shape) - 1.0 - vertices.max(axis=0)).astype(np.int64)
    return low, np.maximum(high, low)


def _positions(rng: np.random.Generator, vertices: np.ndarray, shape: tuple[int, int], count: int) -> np.ndarray:
    """``count`` random integer centres (row, col) that keep ``vertices`` inside ``shape``."""
    low, high = _bounds(vertices, shape)
    return rng.integers(low, high + 1, size=(count, 2)).astype(np.float64)


def _on_grid(chosen: np.ndarray, centre: np.ndarray, grid_shift: tuple[int, int], low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``chosen`` moved by less than a JPEG block, within ``[low, high]``, so that the move
    ``centre - chosen`` is ``grid_shift`` modulo 8 where the bounds allow it."""
    snapped = chosen + np.mod(centre - np.asarray(grid_shift) - chosen, 8)
    snapped = np.where(snapped > high, snapped - 8, snapped)
    return np.clip(snapped, low, high)


def _moved_region(
    rng: np.random.Generator,
    host: np.ndarray,
    source: np.ndarray,
    vertices: np.ndarray,
    centre: np.ndarray,
    config: TamperConfig,
    same_image: bool,
    grid_shift: tuple[int, int] | None = None,
) -> tuple[np.ndarray, dict[str, str]]:
    """``source`` warped so that one of its regions lands on ``vertices + centre`` of ``host``.

    The region is scaled by ``s`` and turned by ``theta`` (or moved by whole pixels); an output
    pixel ``p`` reads the source at ``c_s + R(-theta) (p - centre) / s``. The scale is raised
    where the source region would not fit. For copy-move (``same_image``) the source is placed
    away from the target where it can be, so the copy does not overlap its original. With
    ``grid_shift`` the region moves by whole pixels, ``grid_shift`` modulo 8 (see
    :func:`tamper_image`), and ``info`` records the shift it got.
    """
    scale, theta = 1.0, 0.0
    if grid_shift is None and rng.random() < config.transform_probability:
        scale = float(np.exp(rng.uniform(*np.log(config.scale_range))))
        theta = float(np.deg2rad(rng.uniform(-config.max_rotation, config.max_rotation)))
    to_source = _rotation(-theta)
    source_vertices = vertices @ to_source.T / scale
    span = source_vertices.max(axis=0) - source_vertices.min(axis=0)
    crowding = float(np.max(span / (np.asarray(source.shape[:2]) - 2.0)))
    if crowding > 1.0:
        scale *= crowding
        source_vertices /= crowding
    candidates = _positions(rng, source_vertices, source.shape[:2], _CANDIDATES)
    if same_image:
        reach = np.linalg.norm(vertices, axis=1).max() + np.linalg.norm(source_vertices, axis=1).max()
        distance = np.linalg.norm(candidates - centre, axis=1)
        apart = np.flatnonzero(distance >= reach)
        chosen = candidates[apart[0] if apart.size else int(np.argmax(distance))]
    else:
        chosen = candidates[0]
    geometry = {"scale": f"{scale:.4f}", "rotation": f"{np.rad2deg(theta):.2f}"}
    if grid_shift is not None:
        chosen = _on_grid(chosen, centre, grid_shift, *_bounds(source_vertices, source.shape[:2]))
        dy, dx = np.mod(centre - chosen, 8).astype(int)
        geometry["grid_shift"] = f"{dy}:{dx}"
    matrix = to_source / scale

    def inverse_map(xy: np.ndarray) -> np.ndarray:
        # warp hands over (col, row) pairs.
        return (chosen + (xy[:, ::-1] - centre) @ matrix.T)[:, ::-1]

    moved = warp(source, inverse_map, output_shape=host.shape[:2], order=1, mode="edge")
    return moved.astype(np.float32), geometry


def _inpaint(image: np.ndarray, mask: np.ndarray, method: str) -> tuple[np.ndarray, str]:
    """Fill ``mask`` of ``image`` from its surroundings; returns the image and the method used.

    Only a margin around the hole's bounding box is handed over: both methods read the hole's
    neighbourhood alone, and the biharmonic solve grows with the area it is given.
    """
    if method not in INPAINT_METHODS:
        raise ValueError(f"inpaint must be one of {INPAINT_METHODS}, got {method!r}")
    if not mask.any():
        return image.copy(), method
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    margin = 8
    box = (
        slice(max(rows[0] - margin, 0), rows[-1] + margin + 1),
        slice(max(cols[0] - margin, 0), cols[-1] + margin + 1),
    )
    filled = image.copy()
    if method in ("telea", "navier-stokes"):
        import cv2

        patch = to_uint8(image[box])
        hole = mask[box].astype(np.uint8) * 255
        flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
        filled[box] = cv2.inpaint(patch, hole, 3, flag).astype(np.float32) / 255.0
    else:
        from skimage.restoration import inpaint_biharmonic

        filled[box] = inpaint_biharmonic(image[box], mask[box], channel_axis=-1)
    return filled, method


def _poisson(host: np.ndarray, fill: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``fill`` blended into ``host`` over ``mask`` by Poisson image editing (``cv2.seamlessClone``);
    outside ``mask`` exactly ``host``. Both (H, W, 3) float in [0, 1]."""
    import cv2

    pad = 2  # seamlessClone needs the region's box off the image's edge
    as_bytes = [np.pad(to_uint8(a), [(pad, pad), (pad, pad), (0, 0)], mode="reflect") for a in (fill, host)]
    region = np.pad(mask.astype(np.uint8) * 255, pad)
    x, y, w, h = cv2.boundingRect(region)
    cloned = cv2.seamlessClone(*as_bytes, region, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)[pad:-pad, pad:-pad]
    return np.where(mask[..., None], cloned.astype(np.float32) / 255.0, host).astype(np.float32)


def _attempt(
    host: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    donor: np.ndarray | None,
    config: TamperConfig,
    grid_shift: tuple[int, int] | None,
) -> Tampered:
    """One random tampering of ``host`` (see :func:`tamper_image`)."""
    shape = host.shape[:2]
    area = rng.uniform(*config.area_range) * shape[0] * shape[1]
    vertices, region_shape = _random_region(rng, area, shape, config)
    centre = _positions(rng, vertices, shape, 1)[0]
    hard = polygon2mask(shape, vertices + centre)
    info = {"kind": kind, "shape": region_shape}
    if kind == "removal":
        fill, info["inpaint"] = _inpaint(host, hard, config.inpaint)
    else:
        source = host if kind == "copy_move" else donor
        fill, geometry = _moved_region(rng, host, source, vertices, centre, config, kind == "copy_move", grid_shift)
        info.update(geometry)
        if config.blend == "poisson":
            info.update(seam="poisson", area=f"{hard.mean():.4f}")
            return Tampered(_poisson(host, fill, hard), hard, info)

    seam = SEAMS[rng.choice(len(SEAMS), p=_weights(config.seam_weights))]
    sigma = rng.uniform(*config.seam_sigma)
    alpha = hard.astype(np.float32)
    if seam == "feather":
        # An inward ramp: 0 on the region's edge, 1 about 2 sigma inside.
        alpha = np.clip(2.0 * gaussian(alpha, sigma) - 1.0, 0.0, 1.0).astype(np.float32)
    image = host * (1.0 - alpha[..., None]) + fill * alpha[..., None]
    mask = alpha > 0
    if seam == "blur":
        width = max(1, int(np.ceil(sigma)))
        band = ndimage.binary_dilation(hard, iterations=width) & ~ndimage.binary_erosion(hard, iterations=width)
        image[band] = gaussian(image, sigma, channel_axis=-1)[band]
        mask |= band
    info["seam"] = seam if seam == "hard" else f"{seam}:{sigma:.2f}"
    info["area"] = f"{mask.mean():.4f}"
    return Tampered(np.clip(image, 0.0, 1.0).astype(np.float32), mask, info)


def tamper_image(
    host: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    donor: np.ndarray | None = None,
    config: TamperConfig = TamperConfig(),
    grid_shift: tuple[int, int] | None = None,
) -> Tampered:
    """Forge one region of ``host`` by splicing, copy-move or removal.

    A random object-like region (:attr:`TamperConfig.area_range` of the image) is replaced by
    a region of ``donor`` (splicing) or of ``host`` itself (copy-move), optionally scaled and
    rotated, or filled by inpainting (removal), then blended with a hard, feathered or blurred
    seam. Pixels outside the returned mask are left exactly as they were. A tampering that
    changes the region by less than :attr:`TamperConfig.min_change` on average is drawn again
    (up to 8 times; the largest change is kept).

    Parameters
    ----------
    host : (H, W, 3) float image in [0, 1].
    kind : one of :data:`KINDS`.
    rng : source of every random choice.
    donor : (H', W', 3) photo to take a spliced region from; required for splicing only.
    config : how forgeries are made.
    grid_shift : ``(dy, dx)`` in 0-7: a spliced or copied region moves by whole pixels (no
        scaling or rotation) with a move of ``grid_shift`` modulo 8, so that the 8x8 JPEG grid
        of a source compressed on its own origin lands that far off the host's (where the
        region's bounds allow; ``info["grid_shift"]`` says what it got). Removal ignores it.

    Returns
    -------
    Tampered
        The forged image, its mask and how it was made.

    Raises
    ------
    ValueError
        An unknown kind, a missing donor, or images that are not (H, W, 3).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "splicing" and donor is None:
        raise ValueError("splicing needs a donor image")
    if config.blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {config.blend!r}")
    for name, image in (("host", host), ("donor", donor)):
        if image is not None and (image.ndim != 3 or image.shape[2] != 3):
            raise ValueError(f"{name} must be an (H, W, 3) image, got shape {image.shape}")
    host = np.asarray(host, dtype=np.float32)
    attempts = []
    for _ in range(_TRIES):
        result = _attempt(host, kind, rng, donor, config, grid_shift)
        change = float(np.abs(result.image - host)[result.mask].mean()) if result.mask.any() else 0.0
        result.info["change"] = f"{change:.4f}"
        attempts.append(result)
        if change >= config.min_change:
            break
    return max(attempts, key=lambda t: float(t.info["change"]))


def _crop(
    photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator, flip_probability: float
) -> tuple[np.ndarray, bool]:
    """A random ``size`` crop of ``photo``, mirrored left-right with ``flip_probability``."""
    top = int(rng.integers(0, photo.shape[0] - size[0] + 1))
    left = int(rng.integers(0, photo.shape[1] - size[1] + 1))
    crop = photo[top : top + size[0], left : left + size[1]]
    flipped = bool(rng.random() < flip_probability)
    return (crop[:, ::-1] if flipped else crop), flipped


def _save(image: np.ndarray, stem: Path, rng: np.random.Generator, config: TamperConfig) -> tuple[Path, str]:
    """The final re-save shared by every image: JPEG at a random quality, or PNG.

    Returns the written path and the format (``png`` or ``jpeg:<quality>``).
    """
    if rng.random() < config.png_probability:
        fmt = "png"
    else:
        fmt = f"jpeg:{int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))}"
    return _encode(image, stem, fmt), fmt


def _jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (H, W, 3) in [0, 1] as a camera would leave it: a JPEG at ``quality`` (4:2:0, its
    8x8 grid on the image's origin), decoded again."""
    buffer = io.BytesIO()
    pixels = Image.fromarray(to_uint8(image))
    pixels.save(buffer, format="JPEG", quality=quality, subsampling="4:2:0", optimize=False)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255.0


def _double_jpeg_tampering(
    crop: np.ndarray,
    camera: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    donor: np.ndarray | None,
    quality: int,
    config: TamperConfig,
) -> tuple[Tampered, str]:
    """A forgery of the camera JPEG ``camera`` (decoded) of the pristine ``crop``: its region
    aligned (tampered from the pristine crop and donor, so it has no camera history) or shifted
    (cut from the camera JPEG at ``quality`` of the donor, or of the host for copy-move, moved
    off the host's grid). Returns the forgery, outside its mask exactly ``camera``, and the grid."""
    assert config.double_jpeg is not None
    if kind != "removal" and rng.random() < config.double_jpeg.shifted:
        shift = divmod(int(rng.integers(1, 64)), 8)
        source = None if donor is None else _jpeg_round_trip(donor, quality)
        return tamper_image(camera, kind, rng, source, config, grid_shift=shift), "shifted"
    tampered = tamper_image(crop, kind, rng, donor, config)
    image = np.where(tampered.mask[..., None], tampered.image, camera).astype(np.float32)
    return Tampered(image, tampered.mask, {**tampered.info, "grid_shift": "0:0"}), "aligned"


def _encode(image: np.ndarray, stem: Path, fmt: str) -> Path:
    """Write ``image`` as ``stem.png`` or ``stem.jpg`` in format ``png`` / ``jpeg:<quality>``."""
    pixels = Image.fromarray(to_uint8(image))
    if fmt == "png":
        path = stem.with_suffix(".png")
        pixels.save(path, format="PNG")
    else:
        path = stem.with_suffix(".jpg")
        pixels.save(path, format="JPEG", quality=int(fmt.split(":")[1]), subsampling="4:2:0", optimize=False)
    return path


def is_gray(image: np.ndarray) -> bool:
    """True for an (H, W, 3) image whose three channels are equal everywhere."""
    return bool((image == image[..., :1]).all())


def _load_photos(
    photos: Sequence[np.ndarray | Path], names: Sequence[str] | None
) -> tuple[list[np.ndarray], list[str]]:
    """Photos as (H, W, 3) float32 arrays with their ids; refuses a mix of gray and colour."""
    arrays = []
    for photo in photos:
        image = load_image(photo, mode="RGB") if isinstance(photo, (str, os.PathLike)) else np.asarray(photo)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"photos must be (H, W) or (H, W, 3) images, got shape {image.shape}")
        arrays.append(np.asarray(image, dtype=np.float32))
    if names is None:
        names = [Path(p).stem if isinstance(p, (str, os.PathLike)) else f"photo{i:03d}" for i, p in enumerate(photos)]
    names = list(names)
    if len(names) != len(arrays) or len(set(names)) != len(names):
        raise ValueError("need one unique name per photo")
    gray = [n for n, a in zip(names, arrays, strict=True) if is_gray(a)]
    if gray and len(gray) < len(arrays):
        raise ValueError(f"gray photos {gray} among colour ones would make colour splices obvious; pass one kind")
    return arrays, names


def _families(rng: np.random.Generator, count: int, size: int) -> list[np.ndarray]:
    """A random partition of ``count`` photos into families of ``size`` (the last may be larger)."""
    order = rng.permutation(count)
    parts = max(count // size, 1)
    return [order[i * size : (i + 1) * size] if i < parts - 1 else order[i * size :] for i in range(parts)]


def colour_photos(folder: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """The colour PNG/JPEG photos of ``folder`` and one line for each file left out.

    Gray photos are left out (a gray splice in a colour photo would give the answer away),
    judged by their pixels, so an RGB file whose three channels are equal counts as gray; so
    are files that cannot be read, each with a line naming it.
    """
    kept, skipped = [], []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            continue
        try:
            pixels = load_image(path, mode="RGB")
        except ImageError as err:
            skipped.append(f"{err}; left out")
            continue
        if is_gray(pixels):
            skipped.append(f"{path}: left out, a gray photo")
        else:
            kept.append(path)
    return kept, skipped


def make_tampering_dataset(
    photos: Sequence[np.ndarray | Path],
    out: str | os.PathLike,
    n_images: int,
    seed: int,
    tampered_fraction: float = CASIA2_TAMPERED_FRACTION,
    size: tuple[int, int] | None = (256, 384),
    *,
    names: Sequence[str] | None = None,
    config: TamperConfig = TamperConfig(),
    write_sources: bool = True,
) -> list[ImageRecord]:
    """Write a forgery benchmark of authentic and tampered crops of ``photos`` to ``out``.

    ``round(n_images * tampered_fraction)`` images are tampered (:func:`tamper_image`, kinds
    drawn by :attr:`TamperConfig.kind_weights`), the rest authentic; each class cycles through
    the photos evenly, so that no photo is mostly of one class. Splicing donors come from the
    host's family, and every image's group is its family (see the module docstring), so a
    split by group never shares a photo. Authentic and tampered images are cropped, mirrored and
    re-saved by the same code. Everything follows from ``seed``: the same call writes the same
    bytes (Telea inpainting needs the same OpenCV build).

    Parameters
    ----------
    photos : pristine photos, (H, W, 3) / (H, W) arrays in [0, 1] or image files, each at
        least ``size``; all colour or all gray.
    out : folder to write; must be empty or missing.
    n_images : number of images.
    seed : seed of every random choice.
    tampered_fraction : share of tampered images (default CASIA-2's 5123 / 12614).
    size : (height, width) of every image; default the paper's 256x384 forgery CNN input.
        None: every image is its whole photo at the photo's own size (mirrored as any crop);
        the images then differ in size, as the photos do.
    names : photo ids used in groups (default file stems, or ``photo000``... for arrays).
    config : how forgeries are made and saved.
    write_sources : also write each tampered image's host crop before tampering to
        ``sources/`` and list it in a ``reference`` column (see the module docstring; in the
        double-compression mode the host is the decoded camera JPEG). The sources draw
        nothing from the random streams: the other files are the same either way.

    Returns
    -------
    list of ImageRecord
        One per image in file order: ``target`` 1.0 authentic / 0.0 tampered, ``group`` the
        family, ``mask`` the mask file (tampered only), ``reference`` the source file
        (tampered only, with ``write_sources``), ``distortion`` the kind (tampered only),
        ``extra`` the provenance (host, donor, flips, shape, seam, scale, rotation, area,
        change, inpainting, format; in the double-compression mode also the
        :data:`DOUBLE_JPEG_COLUMNS`).

    Raises
    ------
    ValueError
        Bad counts or fractions, too few photos for splicing, photos smaller than ``size``,
        mixed gray and colour photos, or a non-empty ``out``.
    """
    if n_images < 1 or not 0.0 <= tampered_fraction <= 1.0:
        raise ValueError(f"need n_images >= 1 and tampered_fraction in [0, 1], got {n_images}, {tampered_fraction}")
    if len(config.kind_weights) != len(KINDS) or min(config.kind_weights) < 0 or sum(config.kind_weights) <= 0:
        raise ValueError(f"kind_weights must be {len(KINDS)} non-negative weights, got {config.kind_weights}")
    arrays, names = _load_photos(photos, names)
    if not arrays:
        raise ValueError("no photos given")
    small = [n for n, a in zip(names, arrays, strict=True) if size is not None and (a.shape[0] < size[0] or a.shape[1] < size[1])]
    if small:
        raise ValueError(f"photos {small} are smaller than the {size[0]}x{size[1]} (height x width) output")
    if config.kind_weights[0] > 0 and (config.family_size < 2 or len(arrays) < 2):
        raise ValueError("splicing needs at least 2 photos and family_size >= 2")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty")
    (out / "images").mkdir(parents=True)
    (out / "masks").mkdir()
    if write_sources:
        (out / "sources").mkdir()

    root = np.random.SeedSequence(seed)
    rng = np.random.default_rng(root)
    families = _families(rng, len(arrays), config.family_size)
    family_of = {int(i): f for f in families for i in f}
    group_of = {int(i): "+".join(sorted(names[j] for j in family_of[int(i)])) for i in range(len(arrays))}
    n_tampered = round(n_images * tampered_fraction)
    labels = np.r_[np.ones(n_images - n_tampered, int), np.zeros(n_tampered, int)]
    hosts = np.r_[
        rng.permutation(np.arange(n_images - n_tampered) % len(arrays)),
        rng.permutation(np.arange(n_tampered) % len(arrays)),
    ]
    kinds = np.r_[
        np.full(n_images - n_tampered, -1), rng.choice(len(KINDS), size=n_tampered, p=_weights(config.kind_weights))
    ]
    order = rng.permutation(n_images)

    records, rows, details = [], [], []
    for index, (label, host_id, kind_id, image_seed) in enumerate(
        zip(labels[order], hosts[order], kinds[order], root.spawn(n_images), strict=True)
    ):
        image_rng = np.random.default_rng(image_seed)
        host_id = int(host_id)
        image, flipped = _crop(arrays[host_id], size or arrays[host_id].shape[:2], image_rng, config.flip_probability)
        extra = {"host": names[host_id], "flipped": str(flipped)}
        mask_path = source_path = None
        kind = "authentic"
        chain = config.double_jpeg.qualities(image_rng) if config.double_jpeg else None
        crop = image
        if chain:
            image = _jpeg_round_trip(crop, chain[0])
            extra.update(camera_quality=str(chain[0]), final_quality=str(chain[1]), grid="", grid_shift="")
        host = image
        if label == 0:
            kind = KINDS[kind_id]
            donor = None
            if kind == "splicing":
                donor_id = int(image_rng.choice(family_of[host_id][family_of[host_id] != host_id]))
                donor, donor_flipped = _crop(
                    arrays[donor_id], arrays[donor_id].shape[:2], image_rng, config.flip_probability
                )
                extra.update(donor=names[donor_id], donor_flipped=str(donor_flipped))
            if chain:
                tampered, extra["grid"] = _double_jpeg_tampering(crop, image, kind, image_rng, donor, chain[0], config)
            else:
                tampered = tamper_image(image, kind, image_rng, donor, config)
            image = tampered.image
            mask_path = out / "masks" / f"{index:05d}.png"
            Image.fromarray(tampered.mask.astype(np.uint8) * 255).save(mask_path, format="PNG")
            extra.update(tampered.info)
        if chain:
            extra["format"] = f"jpeg:{chain[1]}"
            path = _encode(image, out / "images" / f"{index:05d}", extra["format"])
        else:
            path, extra["format"] = _save(image, out / "images" / f"{index:05d}", image_rng, config)
        if label == 0 and write_sources:
            source_path = _encode(host, out / "sources" / f"{index:05d}", extra["format"])
        extra["kind"] = kind
        group = group_of[host_id]
        records.append(
            ImageRecord(
                path=path,
                target=float(label),
                group=group,
                reference=source_path,
                mask=mask_path,
                distortion=None if label == 1 else kind,
                extra=extra,
            )
        )
        rows.append(
            [path.relative_to(out).as_posix(), int(label), group,
             mask_path.relative_to(out).as_posix() if mask_path else "", kind]
            + ([source_path.relative_to(out).as_posix() if source_path else ""] if write_sources else [])
            + ([extra[c] for c in DOUBLE_JPEG_COLUMNS] if chain else [])
        )  # fmt: skip
        details.append({"image": rows[-1][0], **extra})

    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(
            ["image", "label", "group", "mask", "kind"]
            + (["reference"] if write_sources else [])
            + (list(DOUBLE_JPEG_COLUMNS) if config.double_jpeg else [])
        )
        writer.writerows(rows)
    meta = {
        "task": "forgery",
        "seed": seed,
        "n_images": n_images,
        "tampered_fraction": tampered_fraction,
        "size": None if size is None else list(size),
        "config": asdict(config),
        "groups": sorted(set(group_of.values())),
        "images": details,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return records
