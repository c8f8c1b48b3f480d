"""CASIA v1.0 tampered image detection data (Dong, Wang and Tan 2013): 800 authentic, 921 tampered.

The smaller first release of CASIA, read like :mod:`~hyperimage.data.datasets.casia2` (the same
class convention: ``target`` **1.0 authentic, 0.0 tampered**, and the same donor/host
grouping, so that no source photo is in two splits). All images are 384 x 256 or 256 x 384
JPEGs.

Layout (the folder holding it is accepted too)::

    Au/    Au_<category>_<id>.jpg                       800 authentic photos
    Sp/    Sp_<D|S>_<flags>_<donor>_<host>_<id>.jpg     451 splicing (D), 470 copy-move (S)
    CASIA 1.0 groundtruth/Sp/  <name>_gt.png            community masks (optional, below)
    CASIA 1.0 groundtruth/CM/  <name>_gt.png

Masks are not part of the release; Pham et al. (2019) published masks for 920 of the 921
tampered images, in mixed modes (RGB, RGBA, L; white on black, read as ``> 0``). They
corrected some file names while drawing them (donor and host swapped or fixed, their
``FileNameCorrection.xlsx``), so a tampered image takes the mask of the same name, else the
one mask that shares its kind letter, flags and trailing number
(``Sp_D_NRN_A_ani0001_arc0059_0404`` -> ``Sp_D_NRN_A_arc0059_ani0001_0404_gt.png``). Five
tampered files of the release are misnamed (``..._ani0100.0288.jpg``, categories ``obj``,
``ant``, ``sce``) and skipped with a warning, leaving 916; of those 888 get a mask (814 by
name, 74 by the loose key). :func:`hyperimage.data.datasets.records.mask_count` reports the figures of a copy.

Terms: research use; cite the CASIA paper and, with the masks, the ground-truth paper.

References
----------
J. Dong, W. Wang and T. Tan, "CASIA image tampering detection evaluation database", IEEE
ChinaSIP 2013.
N. T. Pham, J.-W. Lee, G.-R. Kwon and C.-S. Park, "Hybrid image-retrieval method for
image-splicing validation", Symmetry 11(1), 2019 (the masks).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from hyperimage.data.datasets import _layout
from hyperimage.data.datasets.casia2 import MASK_SUFFIX, build_records, parse_names
from hyperimage.data.datasets.layout import Layout
from hyperimage.data.datasets.records import ImageRecord

#: The community mask folder beside ``Au/`` and ``Sp/``, and its two subfolders.
MASKS = "CASIA 1.0 groundtruth"
MASK_DIRS = ("Sp", "CM")

_DIRS = ("Au", "Sp")


def looks_like(root: str | os.PathLike) -> bool:
    """True if ``root`` (or exactly one folder directly inside it) holds ``Au/`` and ``Sp/``."""
    return _layout.has_layout(root, _DIRS, ())


def _loose_key(stem: str) -> tuple[str, str, str]:
    """(kind letter, flags, trailing number) of a tampered name: what the mask author kept when
    correcting donor and host."""
    parts = stem.split("_")
    return parts[1].upper(), "_".join(parts[2:4]).upper(), parts[-1]


def match_masks(tampered: list[Path], masks: list[Path]) -> dict[Path, Path]:
    """The mask of each tampered image: same name, else the only unused mask with its loose key.

    A loose key shared by several images or several masks matches none of them: copy-move
    names repeat trailing numbers, and a wrong mask is worse than none.
    """
    by_stem = {m.name[: -len(MASK_SUFFIX)].lower(): m for m in masks if m.name.lower().endswith(MASK_SUFFIX)}
    found = {t: by_stem[t.stem.lower()] for t in tampered if t.stem.lower() in by_stem}
    used = {m.name for m in found.values()}
    left = [m for m in by_stem.values() if m.name not in used]
    mask_keys = Counter(_loose_key(m.name[: -len(MASK_SUFFIX)]) for m in left)
    image_keys = Counter(_loose_key(t.stem) for t in tampered if t not in found)
    loose = {_loose_key(m.name[: -len(MASK_SUFFIX)]): m for m in left}
    for t in tampered:
        key = _loose_key(t.stem)
        if t not in found and mask_keys.get(key) == 1 and image_keys[key] == 1:
            found[t] = loose[key]
    return found


def load(root: str | os.PathLike, *, masks: str | os.PathLike | None = None) -> list[ImageRecord]:
    """Read CASIA v1.0 as one record per image: the authentic ones (sorted), then the tampered.

    Parameters
    ----------
    root : the data set's folder (holding ``Au/`` and ``Sp/``), or the folder holding it.
    masks : the community mask folder (holding ``Sp/`` and ``CM/``, or the masks themselves);
        when None, ``CASIA 1.0 groundtruth/`` beside ``Au/`` is used if it is there.

    Returns
    -------
    list of ImageRecord
        As :func:`hyperimage.data.datasets.casia2.load`: ``target`` 1.0 / 0.0, ``group`` the
        source-photo component, ``distortion`` ``"splicing"`` / ``"copy-move"``,
        ``reference`` the host authentic photo, ``mask`` where one matches.

    Raises
    ------
    ValueError
        One line: not the layout, or ``masks`` is not a folder.
    """
    root = _layout.resolve_root(root, _DIRS, (), "CASIA v1.0")
    names = _layout.entries(root)
    if masks is not None and not Path(masks).is_dir():
        raise ValueError(f"{masks}: no such mask folder")
    mask_root = Path(masks) if masks is not None else names.get(MASKS.lower())
    mask_files: list[Path] = []
    if mask_root is not None and mask_root.is_dir():
        sub = _layout.entries(mask_root)
        folders = [sub[d.lower()] for d in MASK_DIRS if d.lower() in sub and sub[d.lower()].is_dir()] or [mask_root]
        mask_files = [p for f in folders for p in sorted(f.iterdir()) if p.is_file()]
    authentic, tampered = parse_names(names["au"], names["sp"], "Sp", "CASIA v1.0")
    found = match_masks([t[0] for t in tampered], mask_files)
    return build_records(authentic, tampered, found.get)


LAYOUT = Layout(
    "casia1", "CASIA v1.0", looks_like, load,
    higher_is_better=True, score_range=(0.0, 1.0), preset="forgery",
)
