"""A no-reference IQA benchmark made from real photographs, with uniform and localized distortions.

The human-rated sets of the paper (LIVE, TID2013; Chandakkar & Li 2017, Table 2) cannot be
downloaded here. :func:`make_iqa_dataset` builds a stand-in on any machine from pristine
photographs (:func:`hyperimage.data.photos.builtin_photos`, or a folder written by
:func:`hyperimage.photo_packages.gather_photos`) and the TID2013-numbered distortion library
:mod:`hyperimage.data.distortions`:

- every photo is a record itself (distortion ``"none"``, level 0, the top score), as the
  paper keeps every reference patch in its selective patch training;
- each photo x type x level gives a *uniform* version (the whole image distorted) and
  *localized* versions: the same distorted pixels kept only inside a region mask of
  :mod:`hyperimage.data.distortions.masks` (blobs, rectangles, centre, periphery) covering a random
  10-40 % of the image. Types that are local by nature (TID2013 #12-#15, among them the two
  "most non-uniform" types #14 and #15 of the paper's experiment 3) are applied as they are,
  region ``"native"``;
- the label is a **proxy, not a human MOS**:
  :func:`~hyperimage.data.generators.proxy_labels.proxy_quality`, a full-reference SSIM map
  against the pristine photo, pooled with a centre-bias weight so that *where* the damage is
  matters, mapped to TID2013's 0-9 scale (9 = pristine, higher is better).

Layout of the written folder (read by :func:`hyperimage.data.datasets.folder.load`)::

    references/<photo>.png                      the pristine photos (8-bit RGB)
    images/<photo>_<TT>_<L>_<version>.png       version: uniform, native or local<k>
    masks/<photo>_<TT>_local<k>.png             region of a localized series (255 inside)
    labels.csv                                  image,score,group,reference,distortion,level,
                                                region,area,mask,ssim
    meta.json                                   "task": "iqa", the label's definition, every
                                                parameter, the photos' provenance

``distortion`` is the TID2013 type number (``"14"``) or ``"none"``; ``group`` the photo's name,
so a split by group is reference-disjoint (the paper's protocol); ``region`` one of
:data:`REGIONS`; ``area`` the fraction of the image inside the region (1 for uniform versions,
the mask's mean for localized ones, the fraction of changed pixels for native types, 0 for
references); ``ssim`` the plain mean SSIM, for comparison with the centre-weighted label.
Images are PNG, so the intended distortion is the only one present, and every label is computed
on the 8-bit pixels that were written.

Determinism: every random choice of a photo comes from
``SeedSequence(seed, spawn_key=(photo key, type, level, version))``, the photo key derived from
its name. This is what ``SeedSequence.spawn`` does, with children addressed by name instead of
position, so adding, removing, changing or reordering photos leaves the other photos' images
byte-identical.
"""

from __future__ import annotations

import csv
import hashlib
import json
import numbers
import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import skimage
from PIL import Image

from hyperimage.data.datasets import folder
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.distortions import (
    LIVE_SHARED_TYPES, NON_UNIFORM_TYPES, NUM_LEVELS, RANKIQA_TYPES, TID2013_TYPES, available, distort, get, to_uint8,
)
from hyperimage.data.distortions.implementations import HELD_OUT, family_types
from hyperimage.data.distortions.masks import MASK_KINDS, blend, make_mask
from hyperimage.data.generators.proxy_labels import (
    CENTRE_SIGMA, D_MIN, TOP_SCORE, _check_proxy, _to_score, pooling_weights, ssim_map,
)
from hyperimage.data.io import load_image, save_image
from hyperimage.data.photos import _fit, load_manifest

#: The four uniform types TID2013 shares with LIVE (#1 noise, #8 blur, #10 JPEG, #11 JPEG2000).
UNIFORM_TYPES = LIVE_SHARED_TYPES

#: The two most non-uniform types the paper adds in experiment 3 (#14, #15).
NON_UNIFORM = NON_UNIFORM_TYPES

#: The default types: those of the paper's experiment 3, second part.
DEFAULT_TYPES = UNIFORM_TYPES + NON_UNIFORM

#: Named type sets accepted by :func:`make_iqa_dataset`'s ``types``.
TYPE_SETS: Mapping[str, tuple[int, ...]] = {
    "live": UNIFORM_TYPES,
    "experiment3": DEFAULT_TYPES,
    "rankiqa": RANKIQA_TYPES,
    **{f"implementations-{fold}": (*family_types(fold), 11) for fold in HELD_OUT},
}
"""``implementations-a`` / ``-b``: JPEG, blur and noise by every implementation that
leave-one-implementation-out fold ``a`` / ``b`` trains on
(:data:`~hyperimage.data.distortions.implementations.HELD_OUT`), and JPEG2000 (#11) as in ``live``."""

#: ``distortion`` of the reference records.
NO_DISTORTION = "none"

#: Values of the ``region`` column: the references, whole-image versions, the masked versions
#: (one per mask kind) and the types applied as they are.
REGIONS = ("none", "uniform", *MASK_KINDS, "native")

#: What the ``score`` column is; also written to ``meta.json``.
LABEL = "proxy: centre-weighted SSIM mapped to 0-9, not a human MOS"

#: Named subsets for :func:`select`: (types kept, regions kept); None keeps all.
SUBSETS: Mapping[str, tuple[tuple[int, ...] | None, tuple[str, ...] | None]] = {
    "uniform": (UNIFORM_TYPES, ("uniform",)),
    "uniform+nonuniform": (DEFAULT_TYPES, ("uniform", "native")),
    "localized": (DEFAULT_TYPES, None),
    "all": (None, None),
}

#: The columns of ``labels.csv``.
COLUMNS = ("image", "score", "group", "reference", "distortion", "level", "region", "area", "mask", "ssim")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _quantise(image: np.ndarray) -> np.ndarray:
    """The 8-bit values :func:`hyperimage.data.io.save_image` writes, as float32 in [0, 1]."""
    return (np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255) / 255.0).astype(np.float32)


#: How much :func:`soft_copy` shrinks a photo before bringing it back to its size.
SOFT_FACTOR = 3


def soft_copy(photo: np.ndarray) -> np.ndarray:
    """``photo`` (H, W, 3) in [0, 1] as a soft, low-resolution photo of the same size: scaled
    down :data:`SOFT_FACTOR` times (area averaging) and back up (bicubic), in 8 bits."""
    h, w = photo.shape[:2]
    pixels = Image.fromarray(to_uint8(photo))
    small = pixels.resize((max(1, w // SOFT_FACTOR), max(1, h // SOFT_FACTOR)), Image.BOX)
    return _quantise(np.asarray(small.resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0)


def _read_photos(
    photos: Sequence[tuple[str, np.ndarray]] | str | os.PathLike, size: tuple[int, int] | None
) -> tuple[list[tuple[str, np.ndarray]], list[dict]]:
    """(name, 8-bit RGB float32 image) pairs and each photo's provenance for ``meta.json``.

    A folder is read through its ``manifest.json`` (order, names and provenance, SHA-256
    checked) where it has one, else as its top-level ``*.png`` files named by stem. Gray photos
    are repeated into three channels, so every image of the data set is RGB.
    """
    provenance: list[dict] = []
    if isinstance(photos, (str, os.PathLike)):
        root = Path(photos)
        if (root / "manifest.json").is_file():
            entries = load_manifest(root)
            named = [(e.name, e.path) for e in entries]
            provenance = [{"name": e.name, "package": e.package, "version": e.version, "member": e.member,
                           "licence": e.licence} for e in entries]  # fmt: skip
        else:
            named = [(p.stem, p) for p in sorted(root.glob("*")) if p.is_file() and p.suffix.lower() == ".png"]
        if not named:
            raise ValueError(f"{root}: no PNG photos in this folder")
        pairs = [(name, load_image(path, mode="RGB")) for name, path in named]
    else:
        pairs = [(str(name), np.asarray(image)) for name, image in photos]
    if not pairs:
        raise ValueError("no photos given")
    names = [name for name, _ in pairs]
    bad = [n for n in names if not _NAME.fullmatch(n)]
    if bad or len(set(names)) != len(names):
        raise ValueError(f"photo names must be unique and made of letters, digits, '_', '.', '-': {bad or names}")
    out = []
    for name, image in pairs:
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"photo {name!r} must be (H, W) or (H, W, 3), got shape {image.shape}")
        if size is not None:
            pixels = Image.fromarray(to_uint8(image))
            image = np.asarray(_fit(pixels, size), dtype=np.float32) / 255.0
        out.append((name, _quantise(image)))
    return out, provenance


def _resolve_types(types: Sequence[int | str] | str) -> tuple[int, ...]:
    if isinstance(types, str):
        if types == "all":
            return tuple(d.number for d in available() if d.number <= TID2013_TYPES)
        if types not in TYPE_SETS:
            raise ValueError(f"unknown type set {types!r}; known: all, {', '.join(TYPE_SETS)}")
        return TYPE_SETS[types]
    numbers_ = tuple(get(t).number for t in types)
    if not numbers_ or len(set(numbers_)) != len(numbers_):
        raise ValueError(f"types must be a non-empty list of distinct distortion types, got {types!r}")
    return numbers_


def _photo_key(name: str) -> int:
    """A 64-bit integer fixed by the photo's name: its address among the seed's children."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def _rng(seed: int, photo_key: int, kind: int, level: int, version: int) -> np.random.Generator:
    """The generator of one (photo, type, level, version): a keyed child of ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(photo_key, kind, level, version)))


class _Version(NamedTuple):
    """One version of a (photo, type): whole image, native, or inside one region mask."""

    tag: str
    region: str
    mask: np.ndarray | None = None
    mask_file: str = ""

    def area(self, image: np.ndarray, photo: np.ndarray) -> float:
        """Fraction of the image in the region; for native types, of the pixels changed."""
        if self.region == "uniform":
            return 1.0
        if self.mask is not None:
            return float(self.mask.mean())
        return float(np.any(image != photo, axis=-1).mean())


def _versions(
    out: Path,
    name: str,
    photo: np.ndarray,
    kind: int,
    uniform: bool,
    localized: int,
    regions: Sequence[str],
    area_range: tuple[float, float],
    seed: int,
    series: int,
) -> list[_Version]:
    """The versions made of ``photo`` for type ``kind``, writing the masks of localized ones.

    ``series`` counts the localized series the photo had before this type; the region kind
    cycles on from there, starting at a place fixed by the photo's name.
    """
    if not get(kind).uniform:
        return [_Version("native", "native")]
    key = _photo_key(name)
    versions = [_Version("uniform", "uniform")] if uniform else []
    for k in range(1, localized + 1):
        region = regions[(key + series + k - 1) % len(regions)]
        rng = _rng(seed, key, kind, 0, k)
        mask = make_mask(region, photo.shape, float(rng.uniform(*area_range)), rng)
        mask_file = f"masks/{name}_{kind:02d}_local{k}.png"
        save_image(out / mask_file, mask)
        versions.append(_Version(f"local{k}", region, mask, mask_file))
    return versions


def make_iqa_dataset(
    photos: Sequence[tuple[str, np.ndarray]] | str | os.PathLike,
    out: str | os.PathLike,
    *,
    types: Sequence[int | str] | str = DEFAULT_TYPES,
    levels: Sequence[int] = (1, 2, 3, 4, 5),
    uniform: bool = True,
    localized: int = 1,
    regions: Sequence[str] = MASK_KINDS,
    area_range: tuple[float, float] = (0.1, 0.4),
    seed: int = 0,
    size: tuple[int, int] | None = None,
    saliency: float = 0.0,
    soft: bool = False,
) -> list[ImageRecord]:
    """Write an IQA benchmark of distorted photos with proxy quality labels to ``out``.

    For each photo, its pristine copy (score
    :data:`~hyperimage.data.generators.proxy_labels.TOP_SCORE`, distortion ``"none"``, level 0)
    and, for each type and level, one image distorted with :func:`hyperimage.data.distortions.distort`
    (the same generator for all versions of a type and level):

    - uniform types (``Distortion.uniform``): the whole image (``uniform``), and ``localized``
      copies of the reference with that distorted image pasted inside a region mask. Each
      localized *series* (photo, type, k) draws one mask, kept for all levels, so levels differ
      only in strength; its kind cycles through ``regions`` (starting at a place fixed by the
      photo's name, so every photo gets every kind in turn) and its area is uniform in
      ``area_range``;
    - local types (#12-#15): the distortion as it is, region ``"native"``.

    Every image is labelled by :func:`~hyperimage.data.generators.proxy_labels.proxy_quality`
    against its photo, **a proxy, not a human MOS** (``meta.json`` says so under ``"label"``). ``group`` is the photo's name, so splits by
    group are reference-disjoint, as the paper's 60/20/20 protocol requires. The defaults give
    51 images a photo (1 reference, 4 uniform types x 5 levels x 2 versions, #14 and #15 x 5
    levels): 255 images from the 5 colour photos of :func:`~hyperimage.data.photos.builtin_photos`.

    Parameters
    ----------
    photos : (name, image) pairs, images (H, W[, 3]) float in [0, 1] (gray ones become RGB);
        or a folder of PNG photos, read through its ``manifest.json`` when it has one (as
        :func:`~hyperimage.photo_packages.gather_photos` writes). Names must be file-name safe.
    out : folder to write; must be empty or missing.
    types : TID2013 numbers or names, or a named set: ``"live"`` (#1, #8, #10, #11),
        ``"experiment3"`` (those and #14, #15, the default), ``"rankiqa"`` (RankIQA's 17),
        ``"all"`` (TID2013's 24; the other implementations of :mod:`~hyperimage.data.distortions.implementations` by name).
    levels : levels to make, 1 (mildest) to 5.
    uniform : make the whole-image version of uniform types.
    localized : localized versions per (photo, uniform type, level).
    regions : mask kinds the localized series cycle through (:data:`MASK_KINDS`).
    area_range : range of a localized region's area, as a fraction of the image.
    seed : seed of every random choice (see the module docstring for how it is split).
    size : (height, width) each photo is scaled to cover and centre-cropped to, as
        :func:`~hyperimage.photo_packages.gather_photos` does; None keeps the photos' own sizes
        (``builtin_photos(size=hyperimage.data.photos.DEFAULT_SIZE)`` gives TID2013's 384x512).
    saliency : the saliency weight of :func:`~hyperimage.data.generators.proxy_labels.proxy_quality`.

    Returns
    -------
    list of ImageRecord
        As :func:`hyperimage.data.datasets.folder.load` reads ``out`` back: ``target`` the proxy
        score, ``group`` the photo, ``reference`` its pristine copy, ``distortion`` the type
        number as a string, ``level``, ``mask`` (localized versions), ``extra`` with ``region``,
        ``area`` and ``ssim``.

    soft : also start from a soft, low-resolution copy of each photo (:func:`soft_copy`), its
        own reference named ``NAME-soft``, distorted alike: a poor photo made noisier or
        blockier is worse still (the shipped quality model once scored a soft photo higher as
        noise was added). Its proxy label treats it as pristine, so use it for rankings.

    Raises
    ------
    ValueError
        Unknown types, levels or region kinds, a bad area range, no version to make, bad or
        duplicate photo names, or a non-empty ``out``.
    """
    kinds = _resolve_types(types)
    levels = tuple(levels)
    if not levels or len(set(levels)) != len(levels) or any(
        isinstance(lv, bool) or not isinstance(lv, numbers.Integral) or not 1 <= lv <= NUM_LEVELS for lv in levels
    ):
        raise ValueError(f"levels must be distinct integers from 1 to {NUM_LEVELS}, got {levels!r}")
    unknown = [r for r in regions if r not in MASK_KINDS]
    if unknown or (localized > 0 and not regions):
        raise ValueError(f"regions must be mask kinds among {MASK_KINDS}, got {tuple(regions)!r}")
    if not 0.0 < area_range[0] <= area_range[1] <= 1.0:
        raise ValueError(f"area_range must satisfy 0 < low <= high <= 1, got {area_range!r}")
    if localized < 0 or (not uniform and localized == 0):
        raise ValueError(f"need uniform=True or localized >= 1, got uniform={uniform}, localized={localized}")
    _check_proxy(saliency, D_MIN)
    pairs, provenance = _read_photos(photos, size)
    if soft:
        pairs += [(f"{name}-soft", soft_copy(photo)) for name, photo in pairs]
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty")
    for sub in ("references", "images", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    rows = []
    for name, photo in pairs:
        key = _photo_key(name)
        reference = f"references/{name}.png"
        save_image(out / reference, photo)
        rows.append([reference, f"{TOP_SCORE:.4f}", name, reference, NO_DISTORTION, 0, "none", "0.0000", "", "1.0000"])
        weight = pooling_weights(photo, saliency)
        series = 0  # localized series made so far for this photo: where the region cycle stands
        for kind in kinds:
            versions = _versions(out, name, photo, kind, uniform, localized, regions, area_range, seed, series)
            series += sum(v.mask is not None for v in versions)
            for level in levels:
                distorted = _quantise(distort(photo, kind, level, _rng(seed, key, kind, level, 0)))
                for version in versions:
                    image = distorted if version.mask is None else blend(photo, distorted, version.mask)
                    path = f"images/{name}_{kind:02d}_{level}_{version.tag}.png"
                    save_image(out / path, image)
                    similarity = ssim_map(image, photo)
                    rows.append([path, f"{_to_score(similarity, weight, D_MIN):.4f}", name, reference, str(kind), level,
                                 version.region, f"{version.area(image, photo):.4f}", version.mask_file,
                                 f"{similarity.mean():.4f}"])  # fmt: skip

    with open(out / folder.LABELS, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    meta = {
        "task": "iqa",
        "label": LABEL,
        "higher_is_better": True,
        "score_range": [0.0, TOP_SCORE],
        "proxy": {
            "formula": "w = (1 - saliency) G/mean(G) + saliency S/mean(S); s = sum(w M)/sum(w); "
            "score = 9 clip(log(1 - s)/log(d_min), 0, 1)",
            "M": "SSIM map (Wang et al. 2004; skimage structural_similarity, Gaussian window sigma 1.5, "
            "population covariance, data range 1) averaged over R, G, B",
            "G": f"centre bias: anisotropic Gaussian, sigma {CENTRE_SIGMA} of each side",
            "S": "spectral-residual saliency of the reference (Hou & Zhang 2007)",
            "saliency": saliency,
            "d_min": D_MIN,
            "scikit-image": skimage.__version__,
        },
        "seed": seed,
        "types": list(kinds),
        "levels": list(levels),
        "uniform": uniform,
        "localized": localized,
        "regions": list(regions),
        "area_range": list(area_range),
        "size": list(size) if size is not None else None,
        "soft": soft,
        "n_images": len(rows),
        "photos": provenance or [{"name": name} for name, _ in pairs],
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return folder.load(out)


def select(records: Sequence[ImageRecord], subset: str = "all") -> list[ImageRecord]:
    """The records of one of the paper's experiment-3 subsets, references always included.

    - ``"uniform"``: the four LIVE-shared types (#1, #8, #10, #11) over the whole image, as in
      the first part of experiment 3 (and LIVE);
    - ``"uniform+nonuniform"``: those and the two non-uniform types #14 and #15 as they are,
      the second part of experiment 3;
    - ``"localized"``: those six types with the localized versions of the first four too;
    - ``"all"``: every record.

    Parameters
    ----------
    records : records of a data set from :func:`make_iqa_dataset` (``extra["region"]`` set).
    subset : one of :data:`SUBSETS`.
    """
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; known: {', '.join(SUBSETS)}")
    kinds, regions = SUBSETS[subset]
    kept = {str(k) for k in kinds} if kinds is not None else None
    return [
        r
        for r in records
        if r.distortion == NO_DISTORTION
        or ((kept is None or r.distortion in kept) and (regions is None or r.extra.get("region") in regions))
    ]


def level_sets(records: Sequence[ImageRecord]) -> dict[tuple[str, str, str], list[int]]:
    """Indices of ``records`` by set of one reference, one distortion type and one region
    (``extra["region"]``; one set per type where records have none, as TID2013's): the images
    that differ only in level, each set with its reference's own record (``distortion ==
    "none"``, level 0) at the end where there is one. Records without a level are left out."""
    sets: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    pristine: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        source = str(record.reference) if record.reference is not None else record.group_key
        if record.distortion == NO_DISTORTION:
            pristine[source].append(i)
        elif record.level is not None:
            sets[(source, str(record.distortion), record.extra.get("region", ""))].append(i)
    return {key: members + pristine.get(key[0], []) for key, members in sets.items()}


__all__ = [
    "COLUMNS",
    "DEFAULT_TYPES",
    "LABEL",
    "NON_UNIFORM",
    "NO_DISTORTION",
    "REGIONS",
    "SUBSETS",
    "TYPE_SETS",
    "UNIFORM_TYPES",
    "level_sets",
    "make_iqa_dataset",
    "select",
]
