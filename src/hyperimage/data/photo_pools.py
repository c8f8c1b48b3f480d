"""The two pools of pristine photos: one that training may use, one that no training touches.

Label-free training (RankIQA rankings, tampering made on the fly,
:mod:`hyperimage.data.generators.tamper_stream`) draws on pristine photos without limit, and a
model's held-out checks (the level check of quality models, leave-one-implementation-out
tampering, the full-size forgery benchmark ``benchmarks/forensic_fullsize.py``) need photos that
model never saw. The photos of ``hyperimage photos`` (:mod:`hyperimage.data.photos`) are split
once, by name, here:

* **held out**: every PyPI photo (``hyperimage photos --debian`` takes them unless ``--no-pypi``),
  and the Debian photos of at least 4 MP at their native size (:data:`HELD_OUT_DEBIAN`, the 34
  the full-size forgery benchmark is made of);
* **training**: the other Debian photos (62), and any folder of photos without a manifest
  (e.g. LIVE-C's ``Images``, photos only, their scores unused; CASIA v1's authentic images).

The IQA recipes that rank the Debian photos (``iqa-imagenet-rank-debian`` and the others on
``data/photos-debian``) were fixed before the pools and read all 96 Debian photos; their
models are checked on the PyPI photos only.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from hyperimage.data.generators.tampering import is_gray
from hyperimage.data.io import ImageError, load_image, walk_images
from hyperimage.data.photos import load_manifest

#: The Debian photos of the held-out pool: those of at least 4 MP at their native size.
HELD_OUT_DEBIAN = frozenset({
    "lomiri_aitzgorri", "lomiri_analogpattern", "lomiri_bridge", "lomiri_dragonfly", "lomiri_free",
    "lomiri_friends", "lomiri_greentock", "lomiri_kleiber", "lomiri_life", "lomiri_picosdeeuropa",
    "lomiri_picture_0b", "lomiri_seeding", "lomiri_sunset", "lomiri_wine", "lxqt_after_the_rain",
    "lxqt_appleflower", "lxqt_beam", "lxqt_butterfly", "lxqt_flowers", "mate_aqua", "mate_garden",
    "mate_ladybird", "mate_twowings", "mate_wood", "mate_yellowflower", "plasma_bythewater",
    "plasma_colorfulcups", "plasma_darkesthour", "plasma_eveningglow", "plasma_fallenleaf", "plasma_kite",
    "plasma_onestandsout", "plasma_path", "plasma_summer_1am",
})  # fmt: skip

Pool = Literal["training", "held-out"]

NATIVE_PHOTOS = "data/photos-debian-native"
"""The photos at their own size that forensic training tampers with by default (its training
pool: the 62 Debian photos under 4 MP): ``hyperimage photos data/photos-debian-native --debian --native``."""


def is_held_out(name: str, source: str) -> bool:
    """Whether the catalogue photo ``name`` from ``source`` (``"pypi"`` / ``"debian"``) is held out."""
    return source == "pypi" or name in HELD_OUT_DEBIAN


def pool_photos(folder: str | Path, pool: Pool) -> list[Path]:
    """The photo files of ``folder`` in ``pool``, sorted. A folder of ``hyperimage photos``
    (with ``manifest.json``) is split by :func:`is_held_out`; any other folder of images is all
    training photos (and no held-out ones). ValueError for a missing folder or an unknown pool."""
    if pool not in ("training", "held-out"):
        raise ValueError(f"pool must be 'training' or 'held-out', got {pool!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder of photos")
    if not (folder / "manifest.json").is_file():
        return sorted(walk_images(folder)) if pool == "training" else []
    return sorted(e.path for e in load_manifest(folder, verify=False) if is_held_out(e.name, e.source) == (pool == "held-out"))


def load_pool(folders: Sequence[str | Path], pool: Pool, min_side: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """The colour photos of ``pool`` in ``folders`` (:func:`pool_photos`) as (H, W, 3) uint8,
    with their file stems; unreadable, gray and smaller than ``min_side`` px photos are left
    out, one warning counting them."""
    photos, names, skipped = [], [], []
    for folder in folders:
        for path in pool_photos(folder, pool):
            try:
                pixels = load_image(path, mode="RGB")
            except ImageError as err:
                skipped.append(str(err))
                continue
            if min(pixels.shape[:2]) < min_side or is_gray(pixels):
                skipped.append(f"{path}: gray or smaller than {min_side} px")
                continue
            photos.append(np.rint(pixels * 255.0).astype(np.uint8))
            names.append(path.stem)
    if skipped:
        warnings.warn(f"left out {len(skipped)} photos (first: {skipped[0]})", stacklevel=2)
    return photos, names
