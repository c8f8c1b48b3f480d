"""The paper's synthetic task (section "Synthetic task", Eq. 3, Table 1).

A 128x128 gray image has a constant background ``s0`` in [0, 1] and 1 to 5 overlaid 16x16
patches. Each patch holds two shades, a dark one in [0, 0.5) and a bright one in [0.5, 1];
a random fraction of its pixels is bright, then its pixels are scrambled. The score is::

    score = 5 - sqrt(sum_i alpha_i^2)
    alpha_i = sum_jk |s0 - p_i^jk| / (16 * 16) + (1 - ||c_i - c_hat||_2 / dist_N)      (Eq. 3)

with ``c_i`` the patch centre, ``c_hat`` the image centre and ``dist_N`` the centre
distance of a corner patch, so a corner patch has zero position penalty.

Choices the paper leaves open, fixed here:

* Pixels are stored as 8-bit PNG; every value (s0, both shades) is drawn on the 8-bit
  grid (shade k/255) and the score is computed on those stored values.
* The bright fraction is uniform in [0, 1]; the number of bright pixels is rounded.
* Patches never overlap (positions are redrawn until they do not), so each alpha_i sees
  exactly its own 256 pixels. Positions are integer pixel offsets, uniform over the image.
* Centres are pixel-centre coordinates: a patch at top-left (t, l) has centre
  (t + 7.5, l + 7.5); the image centre is ((H - 1) / 2, (W - 1) / 2).
* Experiment 1 draws the number of patches uniformly from 1..5 per image. Experiment 2
  fixes, per data set, the background, the number of patches and each patch's content;
  only positions vary between its images.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from hyperimage.data.io import save_image

PATCH = 16
SIZE = 128
MAX_PATCHES = 5


@dataclass(frozen=True)
class SyntheticImage:
    """One synthetic image: 8-bit pixels (H, W), patch top-left corners (K, 2), Eq. 3 score."""

    pixels: np.ndarray
    corners: np.ndarray
    score: float


def corner_distance(size: tuple[int, int], patch: int = PATCH) -> float:
    """dist_N: distance from the image centre to the centre of a corner patch."""
    h, w = size
    return float(np.hypot((h - 1) / 2 - (patch - 1) / 2, (w - 1) / 2 - (patch - 1) / 2))


def eq3_alphas(image: np.ndarray, corners: np.ndarray, background: float, patch: int = PATCH) -> np.ndarray:
    """alpha_i of Eq. 3 for each patch of a float image (H, W) in [0, 1]."""
    corners = np.asarray(corners, dtype=np.int64).reshape(-1, 2)
    h, w = image.shape
    ar = np.arange(patch)
    blocks = image[corners[:, 0, None, None] + ar[:, None], corners[:, 1, None, None] + ar[None, :]]
    dissimilarity = np.abs(background - blocks).mean(axis=(1, 2))
    centres = corners + (patch - 1) / 2
    dist = np.hypot(centres[:, 0] - (h - 1) / 2, centres[:, 1] - (w - 1) / 2)
    return dissimilarity + (1.0 - dist / corner_distance((h, w), patch))


def eq3_score(image: np.ndarray, corners: np.ndarray, background: float, patch: int = PATCH) -> float:
    """Eq. 3: ``5 - sqrt(sum_i alpha_i^2)`` for a float image (H, W) in [0, 1]."""
    return float(5.0 - np.sqrt(np.sum(eq3_alphas(image, corners, background, patch) ** 2)))


def random_contents(rng: np.random.Generator, count: int, patch: int = PATCH) -> np.ndarray:
    """``count`` scrambled two-shade patches as 8-bit values, (count, patch, patch)."""
    dark = rng.integers(0, 128, size=count)  # k/255 < 0.5
    bright = rng.integers(128, 256, size=count)  # k/255 >= 0.5
    n_bright = np.rint(rng.random(count) * patch * patch).astype(int)
    order = rng.random((count, patch * patch)).argsort(axis=1)  # a random scramble per patch
    is_bright = order < n_bright[:, None]
    values = np.where(is_bright, bright[:, None], dark[:, None])
    return values.reshape(count, patch, patch).astype(np.uint8)


def random_corners(rng: np.random.Generator, count: int, size: tuple[int, int], patch: int = PATCH) -> np.ndarray:
    """Top-left corners of ``count`` non-overlapping patches, uniform over the image."""
    h, w = size
    while True:
        corners = np.stack([rng.integers(0, h - patch + 1, count), rng.integers(0, w - patch + 1, count)], axis=1)
        gap = np.abs(corners[:, None, :] - corners[None, :, :])
        overlap = (gap < patch).all(axis=2) & ~np.eye(count, dtype=bool)
        if not overlap.any():
            return corners


def compose(background: int, contents: np.ndarray, corners: np.ndarray, size: tuple[int, int] = (SIZE, SIZE)) -> SyntheticImage:
    """Paste 8-bit patch ``contents`` at ``corners`` on a constant 8-bit background; score by Eq. 3."""
    patch = contents.shape[1]
    pixels = np.full(size, background, dtype=np.uint8)
    ar = np.arange(patch)
    pixels[corners[:, 0, None, None] + ar[:, None], corners[:, 1, None, None] + ar[None, :]] = contents
    score = eq3_score(pixels / 255.0, corners, background / 255.0, patch)
    return SyntheticImage(pixels=pixels, corners=corners, score=score)


def generate(
    experiment: int,
    n: int,
    seed: int = 0,
    patches: int | None = None,
    size: tuple[int, int] = (SIZE, SIZE),
) -> list[SyntheticImage]:
    """Draw ``n`` images of experiment 1 or 2.

    Experiment 1: each image draws its background, 1..5 patches (or exactly ``patches``)
    and their contents. Experiment 2: background and ``patches`` contents (default 1) are
    drawn once; only the positions differ between images.
    """
    if experiment not in (1, 2):
        raise ValueError(f"experiment must be 1 or 2, got {experiment}")
    if patches is not None and not 1 <= patches <= MAX_PATCHES:
        raise ValueError(f"patches must be in 1..{MAX_PATCHES}, got {patches}")
    rng = np.random.default_rng(seed)
    if experiment == 2:
        count = patches or 1
        background = int(rng.integers(0, 256))
        contents = random_contents(rng, count)
        return [compose(background, contents, random_corners(rng, count, size), size) for _ in range(n)]
    images = []
    for _ in range(n):
        count = patches or int(rng.integers(1, MAX_PATCHES + 1))
        background = int(rng.integers(0, 256))
        images.append(compose(background, random_contents(rng, count), random_corners(rng, count, size), size))
    return images


def write_folder(out: str | Path, images: Sequence[SyntheticImage], meta: dict | None = None) -> Path:
    """Write images as ``images/NNNNN.png`` plus ``labels.csv`` (image, score) and ``meta.json``."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, img in enumerate(images):
        name = f"images/{i:05d}.png"
        save_image(out / name, img.pixels / 255.0)
        rows.append((name, f"{img.score:.6f}"))
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "score"])
        writer.writerows(rows)
    info = {"task": "synthetic", "n": len(images), "higher_is_better": True, **(meta or {})}
    (out / "meta.json").write_text(json.dumps(info, indent=2))
    return out
