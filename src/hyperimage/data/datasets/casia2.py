"""CASIA v2 tampered image detection data (Dong, Wang and Tan 2013): 7491 authentic, 5123 tampered.

The paper's forgery experiments (Chandakkar & Li 2017, Table 3) classify CASIA v2 images as
authentic or tampered. Class convention here: ``target`` is **1.0 for authentic and 0.0 for
tampered** (the image's authenticity, so higher is "better", as in the paper's ranking where an
authentic patch ranks above a tampered one).

Layout (the folder holding it is accepted too)::

    Au/    Au_<category>_<id>.jpg      category one of ani arc art cha ind nat pla sec txt
    Tp/    Tp_<D|S>_<flags>_<donor>_<host>_<id>.<jpg|tif>
           D: splicing (region from another image), S: copy-move (region of the same image);
           donor and host like ani10171 name the authentic images Au_ani_10171.*; the five
           flag letters (e.g. CNN_M_N) are not reliably documented and are kept as text
    Gt/    <tampered name without suffix>_gt.png (optional: community masks)

Any image suffix is accepted, and names are matched without regard to letter case; image files
named otherwise are skipped with one warning that counts them.

Ground-truth masks are not in the official release. Where no mask folder is given, the
paper's recipe derives one (:func:`derive_mask`, :func:`write_derived_masks`): the difference
of the tampered image against its host authentic image, thresholded and cleaned up
morphologically; it fails where the sizes differ.

Grouping: a photo must never be in two splits, and a tampered image shows its donor and its
host. Source photos are the nodes of a graph, each tampered image an edge between its donor
and host; every connected component is one group, named by its smallest source id (e.g.
``ani00055``), so an authentic photo, every forgery made from it, and every photo those
forgeries drew on share a group. Chains of splicings can make some groups large: look at the
group sizes (``collections.Counter(r.group for r in records)``) before splitting.

References
----------
J. Dong, W. Wang and T. Tan, "CASIA image tampering detection evaluation database", IEEE
ChinaSIP 2013.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.filters import gaussian
from skimage.measure import label
from skimage.morphology import closing, disk, opening

from hyperimage.data.datasets import _layout
from hyperimage.data.datasets.layout import Layout
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.io import IMAGE_SUFFIXES, ImageError, load_image, save_image

AUTHENTIC = 1.0
TAMPERED = 0.0
CATEGORIES = ("ani", "arc", "art", "cha", "ind", "nat", "pla", "sec", "txt")
#: The letter after ``Tp_`` and the kind of forgery it names (``distortion`` of a record).
KINDS = {"D": "splicing", "S": "copy-move"}
#: Suffix of a community mask file after the tampered image's stem.
MASK_SUFFIX = "_gt.png"

_DIRS = ("Au", "Tp")
_CAT = "|".join(CATEGORIES)
_AU = re.compile(rf"au_({_CAT})_(\d+)", re.IGNORECASE)


def looks_like(root: str | os.PathLike) -> bool:
    """True if ``root`` (or exactly one folder directly inside it) holds ``Au/`` and ``Tp/``."""
    return _layout.has_layout(root, _DIRS, ())


def _source(category: str, number: str) -> str:
    """Canonical id of a source photo: ``Au_ani_10171`` and donor ``ani10171`` both give ``ani10171``."""
    return f"{category.lower()}{int(number):05d}"


def _images(folder: Path) -> list[Path]:
    """Image files of ``folder`` (by suffix, any letter case), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def source_groups(links: list[tuple[str, str]]) -> dict[str, str]:
    """Group source ids joined by links: {id: smallest id of its connected component}.

    Parameters
    ----------
    links : (donor, host) pairs; an authentic photo alone is the pair (id, id).
    """
    ids = sorted({s for pair in links for s in pair})
    if not ids:
        return {}
    index = {s: i for i, s in enumerate(ids)}
    rows, cols = (np.array([index[p[k]] for p in links], dtype=np.int64) for k in (0, 1))
    graph = coo_matrix((np.ones(len(links)), (rows, cols)), shape=(len(ids), len(ids)))
    _, component = connected_components(graph, directed=False)
    first = {}
    for s, c in zip(ids, component):  # ids are sorted: the first seen is the smallest
        first.setdefault(c, s)
    return {s: first[c] for s, c in zip(ids, component)}


def load(root: str | os.PathLike, *, masks: str | os.PathLike | None = None) -> list[ImageRecord]:
    """Read CASIA v2 as one record per image: the authentic ones (sorted), then the tampered.

    Parameters
    ----------
    root : the data set's folder (holding ``Au/`` and ``Tp/``), or the folder holding it.
    masks : a folder of masks named ``<tampered stem>_gt.png`` (any letter case), e.g. one
        written by :func:`write_derived_masks`; when None, a ``Gt/`` folder beside ``Au/``
        and ``Tp/`` is used if there is one.

    Returns
    -------
    list of ImageRecord
        ``target`` 1.0 authentic / 0.0 tampered, ``group`` the source-photo component (see
        the module docstring), ``distortion`` ``"splicing"`` or ``"copy-move"`` (None for
        authentic images), ``reference`` the host authentic image where it is in ``Au/``,
        ``mask`` the tampered image's mask where the mask folder has one, ``extra``:
        ``source`` and ``category`` (authentic), ``flags``, ``donor`` and ``host`` (tampered).

    Raises
    ------
    ValueError
        One line: not the layout, or ``masks`` is not a folder.

    Warns
    -----
    UserWarning
        Once, with their count, for image files whose names do not follow the naming; they
        are skipped.
    """
    root = _layout.resolve_root(root, _DIRS, (), "CASIA v2")
    names = _layout.entries(root)
    if masks is not None and not Path(masks).is_dir():
        raise ValueError(f"{masks}: no such mask folder")
    mask_dir = Path(masks) if masks is not None else names.get("gt")
    mask_files = _layout.entries(mask_dir) if mask_dir is not None and mask_dir.is_dir() else {}

    authentic, tampered = parse_names(names["au"], names["tp"], "Tp", "CASIA v2")
    return build_records(authentic, tampered, lambda path: mask_files.get(f"{path.stem}{MASK_SUFFIX}".lower()))


def parse_names(
    au: Path, tp: Path, prefix: str, release: str
) -> tuple[list[tuple[Path, str, str]], list[tuple[Path, str, str, str, str]]]:
    """Parse the file names of a CASIA release's authentic folder ``au`` and tampered folder ``tp``.

    Tampered names are ``<prefix>_<D|S>_<flags>_<donor>_<host>_<id>`` (``Tp`` in v2, ``Sp``
    in v1). Returns (file, source id, category) of each authentic image and (file, kind
    letter, flags, donor id, host id) of each tampered one; files named otherwise are skipped
    with one warning that counts them.
    """
    pattern = re.compile(rf"{prefix}_([ds])_([a-z_]+?)_({_CAT})(\d+)_({_CAT})(\d+)_(\d+)", re.IGNORECASE)
    skipped: list[str] = []
    authentic: list[tuple[Path, str, str]] = []
    for path in _images(au):
        if m := _AU.fullmatch(path.stem):
            authentic.append((path, _source(*m.groups()), m.group(1).lower()))
        else:
            skipped.append(path.name)
    tampered: list[tuple[Path, str, str, str, str]] = []
    for path in _images(tp):
        if m := pattern.fullmatch(path.stem):
            kind, flags, d_cat, d_num, h_cat, h_num, _ = m.groups()
            tampered.append((path, kind.upper(), flags, _source(d_cat, d_num), _source(h_cat, h_num)))
        else:
            skipped.append(path.name)
    if skipped:
        warnings.warn(
            f"{au.parent}: skipped {len(skipped)} image file(s) not named as {release} names them, e.g. {skipped[0]}",
            stacklevel=3,
        )
    return authentic, tampered


def build_records(
    authentic: list[tuple[Path, str, str]],
    tampered: list[tuple[Path, str, str, str, str]],
    mask_of: Callable[[Path], Path | None],
) -> list[ImageRecord]:
    """Records of a CASIA release (v1 or v2) from its parsed file names: the authentic ones,
    then the tampered, grouped by source-photo component (:func:`source_groups`).

    Parameters
    ----------
    authentic : (file, source id, category) of each authentic image.
    tampered : (file, kind letter ``D``/``S``, flags, donor id, host id) of each tampered image.
    mask_of : the mask file of a tampered image, or None.
    """
    groups = source_groups([(s, s) for _, s, _ in authentic] + [(d, h) for _, _, _, d, h in tampered])
    by_source = {s: path for path, s, _ in authentic}
    records = [
        ImageRecord(path=path, target=AUTHENTIC, group=groups[s], extra={"source": s, "category": cat})
        for path, s, cat in authentic
    ]
    for path, kind, flags, donor, host in tampered:
        records.append(
            ImageRecord(
                path=path,
                target=TAMPERED,
                group=groups[host],
                reference=by_source.get(host),
                distortion=KINDS[kind],
                mask=mask_of(path),
                extra={"flags": flags, "donor": donor, "host": host},
            )
        )
    return records


def _as_image(image: np.ndarray | str | os.PathLike) -> np.ndarray:
    """An image array as given, or read (RGB, [0, 1]) from a path."""
    return load_image(image) if isinstance(image, (str, os.PathLike)) else np.asarray(image, dtype=np.float32)


def derive_mask(
    tampered: np.ndarray | str | os.PathLike,
    authentic: np.ndarray | str | os.PathLike,
    *,
    threshold: float = 0.05,
    sigma: float = 1.0,
    radius: int = 2,
    min_fraction: float = 0.001,
) -> np.ndarray | None:
    """The tampered region of an image, from its difference with the host authentic image.

    The paper's data generation for forgery (Chandakkar & Li 2017, "Data generation" of the
    forgery section, Fig. 2): image subtraction followed by basic morphological operations.
    Here: the absolute difference averaged over channels, smoothed with a Gaussian of
    ``sigma`` pixels (which quiets JPEG re-compression noise), thresholded, opened then closed
    with a disk of ``radius`` pixels, cleared of components smaller than ``min_fraction`` of
    the image, and with enclosed holes filled.

    Parameters
    ----------
    tampered, authentic : images as (H, W) or (H, W, 3) float arrays in [0, 1], or files.
    threshold : smallest smoothed mean absolute difference, in [0, 1], that counts as
        altered; the default lies above most of the noise of re-saving a JPEG at another
        quality (qualities 50-95 tried on synthetic textures), not tuned on CASIA itself.
    sigma : Gaussian smoothing of the difference, in pixels (0 for none).
    radius : radius of the disk of the opening and closing, in pixels (0 for none).
    min_fraction : components smaller than this fraction of the image's area are dropped.

    Returns
    -------
    numpy.ndarray or None
        (H, W) bool, True where altered; None where no mask can be derived: the two images
        differ in height or width, or nothing survives the clean-up.
    """
    t, a = np.atleast_3d(_as_image(tampered)), np.atleast_3d(_as_image(authentic))
    if t.shape[:2] != a.shape[:2]:
        return None
    diff = np.abs(t - a).mean(axis=2)
    if sigma > 0:
        diff = gaussian(diff, sigma=sigma)
    mask = diff > threshold
    if radius > 0:
        footprint = disk(radius)
        mask = closing(opening(mask, footprint), footprint)
    labels = label(mask)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_fraction * mask.size
    keep[0] = False
    mask = ndimage.binary_fill_holes(keep[labels])
    return mask if mask.any() else None


def write_derived_masks(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    threshold: float = 0.05,
    sigma: float = 1.0,
    radius: int = 2,
    min_fraction: float = 0.001,
) -> int:
    """Derive the mask of every tampered image of CASIA v2 and write it as ``<stem>_gt.png``.

    The masks are named as the community mask folders name them, so ``load(root,
    masks=out_dir)`` attaches them. The options are those of :func:`derive_mask`.

    Returns
    -------
    int
        How many masks were derived and written. The others have no host image in ``Au/``,
        a host of another size, an unreadable file (counted in a warning), or a difference
        that the clean-up removes entirely.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, unreadable = 0, 0
    for record in load(root):
        if record.target != TAMPERED or record.reference is None:
            continue
        try:
            mask = derive_mask(
                record.path,
                record.reference,
                threshold=threshold,
                sigma=sigma,
                radius=radius,
                min_fraction=min_fraction,
            )
        except ImageError:
            unreadable += 1
            continue
        if mask is not None:
            save_image(out_dir / f"{record.path.stem}{MASK_SUFFIX}", mask.astype(np.float32))
            written += 1
    if unreadable:
        warnings.warn(f"{root}: no mask for {unreadable} unreadable tampered or host image(s)", stacklevel=2)
    return written


LAYOUT = Layout(
    "casia2", "CASIA v2", looks_like, load,
    higher_is_better=True, score_range=(0.0, 1.0), preset="forgery",
)
