"""LIVE Image Quality Assessment Database, Release 2 (Sheikh et al. 2005).

The paper's experiment 1 (Chandakkar & Li 2017, Table 2) trains on the 779 distorted images of
LIVE: 29 references, five distortion types. Scores are DMOS in [0, 100], **lower is better**
(0 is a pristine image).

Layout (root seen as ``databaserelease2`` or ``LIVEIQA_release2``; the folder holding it is
accepted too)::

    jp2k/ jpeg/ wn/ gblur/ fastfading/   img<N>.bmp, numbered from 1 within each folder,
                                         and info.txt: lines ``refname distname parameter``
    refimgs/                             the 29 references (bikes.bmp, ...)
    dmos.mat                             dmos, orgs: one entry per image, in the folder order
                                         jp2k (227), jpeg (233), wn, gblur, fastfading (174 each)
    dmos_realigned.mat                   dmos_new, orgs, dmos_std (optional)
    refnames_all.mat                     refnames_all: the reference of each entry (optional
                                         where every info.txt is there)

``orgs == 1`` marks an undistorted copy of a reference (DMOS about 0); those 203 entries are
dropped by default, which leaves the 779 distorted images every study uses.

The ``.mat`` files are read with :func:`scipy.io.loadmat`, which cannot read MATLAB v7.3
(HDF5) files: such a file is refused with a clear error (re-save it with ``-v7``).

References
----------
H. R. Sheikh, Z. Wang, L. Cormack and A. C. Bovik, "LIVE Image Quality Assessment Database
Release 2", http://live.ece.utexas.edu/research/quality, 2005.
H. R. Sheikh, M. F. Sabir and A. C. Bovik, "A statistical evaluation of recent full reference
image quality assessment algorithms", IEEE TIP 15(11), 2006 (the realigned DMOS).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.io

from hyperimage.data.datasets import _layout
from hyperimage.data.datasets.layout import Layout
from hyperimage.data.datasets.records import ImageRecord


#: Distortion folders in the order of the entries of ``dmos.mat``.
DISTORTIONS = ("jp2k", "jpeg", "wn", "gblur", "fastfading")

_DIRS = (*DISTORTIONS, "refimgs")
_FILES = ("dmos.mat",)
_IMAGE = re.compile(r"img(\d+)\.bmp", re.IGNORECASE)


def looks_like(root: str | os.PathLike) -> bool:
    """True if ``root`` (or exactly one folder directly inside it) has the LIVE Release 2 layout."""
    return _layout.has_layout(root, _DIRS, _FILES)


def read_mat(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read the named variables of a MATLAB file with :func:`scipy.io.loadmat`.

    Raises
    ------
    ValueError
        One line naming the file: unreadable, a MATLAB v7.3 (HDF5) file, which scipy cannot
        read (re-save it in MATLAB with ``save(..., '-v7')``), or a variable is missing.
    """
    try:
        data = scipy.io.loadmat(path)
    except NotImplementedError:
        raise ValueError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save with save(..., '-v7')") from None
    except (scipy.io.matlab.MatReadError, ValueError, OSError, TypeError) as err:
        raise ValueError(f"{path}: not a readable MATLAB file ({' '.join(str(err).split())})") from None
    absent = [k for k in keys if k not in data]
    if absent:
        raise ValueError(f"{path}: lacks the variable(s) {', '.join(absent)}")
    return {k: data[k] for k in keys}


def _cell_strings(cells: np.ndarray) -> list[str]:
    """A MATLAB cell array of strings (as scipy reads it) as a flat list of str."""
    return [str(np.asarray(c).ravel()[0]).strip() if np.asarray(c).size else "" for c in cells.ravel()]


def _folder_images(folder: Path) -> list[Path]:
    """``img1.bmp`` ... ``img<n>.bmp`` of one distortion folder, in number order.

    Raises ValueError if the numbers are not exactly 1..n, since the position of an image in
    ``dmos.mat`` is its number plus the sizes of the folders before it.
    """
    numbered = {int(m.group(1)): p for p in folder.iterdir() if (m := _IMAGE.fullmatch(p.name))}
    expected = range(1, len(numbered) + 1)
    if odd := set(numbered) ^ set(expected):
        raise ValueError(f"{folder}: images are not numbered img1.bmp..img{len(numbered)}.bmp (see img{min(odd)}.bmp)")
    return [numbered[i] for i in expected]


def _read_info(folder: Path) -> dict[str, tuple[str, str]]:
    """``info.txt`` of a distortion folder as {image name lower-cased: (reference name, parameter)}.

    Blank and short lines are skipped; an absent file gives an empty dict.
    """
    info = _layout.find(folder, "info.txt")
    if info is None or not info.is_file():
        return {}
    rows = (line.split() for line in info.read_text(encoding="latin-1").splitlines())
    return {r[1].lower(): (r[0], r[2] if len(r) > 2 else "") for r in rows if len(r) >= 2}


def load(root: str | os.PathLike, *, realigned: bool = False, keep_originals: bool = False) -> list[ImageRecord]:
    """Read LIVE Release 2 as one record per image, in the order of ``dmos.mat``.

    Parameters
    ----------
    root : the data set's folder, or the folder holding it.
    realigned : use ``dmos_new`` of ``dmos_realigned.mat`` (the DMOS realigned across the
        sessions of the study, Sheikh et al. 2006) instead of ``dmos`` of ``dmos.mat``; its
        per-image ``dmos_std`` goes into ``extra["dmos_std"]``.
    keep_originals : keep the ``orgs == 1`` entries (undistorted copies of a reference,
        marked ``extra["undistorted"] = "true"``); dropped by default.

    Returns
    -------
    list of ImageRecord
        ``target`` the DMOS (lower is better), ``group`` the reference file's name without
        suffix (``bikes``), ``reference`` that file in ``refimgs/``, ``distortion`` the folder
        name (``jp2k``, ...), ``level`` None (LIVE has no discrete levels: each image has its own
        parameter, kept as text in ``extra["parameter"]`` where ``info.txt`` gives it),
        ``extra["index"]`` the 1-based position in ``dmos.mat``.

    Raises
    ------
    ValueError
        One line: not the layout, an unreadable or v7.3 ``.mat`` file, a score count that
        differs from the number of images, or an image whose reference cannot be found.
    """
    root = _layout.resolve_root(root, _DIRS, _FILES, "LIVE Release 2")
    names = _layout.entries(root)
    mat_path = names.get("dmos_realigned.mat" if realigned else "dmos.mat")
    if mat_path is None:
        raise ValueError(f"{root}: realigned=True needs dmos_realigned.mat, which is not there")
    mat = read_mat(mat_path, ("dmos_new", "orgs", "dmos_std") if realigned else ("dmos", "orgs"))
    scores = mat["dmos_new" if realigned else "dmos"].ravel().astype(float)
    orgs = mat["orgs"].ravel()
    std = mat["dmos_std"].ravel().astype(float) if realigned else None

    images: list[tuple[str, Path, tuple[str, str]]] = []  # (distortion, file, info.txt row)
    for distortion in DISTORTIONS:
        info = _read_info(names[distortion])
        images += [(distortion, p, info.get(p.name.lower(), ("", ""))) for p in _folder_images(names[distortion])]
    if any(len(v.ravel()) != len(images) for v in mat.values()):
        sizes = Counter(d for d, _, _ in images)
        raise ValueError(
            f"{mat_path}: {', '.join(f'{len(v.ravel())} {k}' for k, v in mat.items())} entries, but the folders hold "
            f"{len(images)} images ({', '.join(f'{d} {sizes[d]}' for d in DISTORTIONS)})"
        )

    if "refnames_all.mat" in names:
        refnames = _cell_strings(read_mat(names["refnames_all.mat"], ("refnames_all",))["refnames_all"])
        if len(refnames) != len(images):
            raise ValueError(f"{names['refnames_all.mat']}: {len(refnames)} names for {len(images)} images")
    else:
        refnames = [ref for _, _, (ref, _) in images]
    refs = _layout.entries(names["refimgs"])

    records = []
    for i, ((distortion, path, (_, parameter)), refname) in enumerate(zip(images, refnames)):
        undistorted = bool(orgs[i])
        if undistorted and not keep_originals:
            continue
        reference = refs.get(refname.lower())
        if reference is None:
            what = f"reference {refname!r} is not in refimgs/" if refname else "no refnames_all.mat or info.txt line"
            raise ValueError(f"{path}: {what}")
        extra = {"index": str(i + 1)}
        if parameter:
            extra["parameter"] = parameter
        if std is not None:
            extra["dmos_std"] = str(float(std[i]))
        if undistorted:
            extra["undistorted"] = "true"
        records.append(
            ImageRecord(
                path=path,
                target=float(scores[i]),
                group=reference.stem,
                reference=reference,
                distortion=distortion,
                extra=extra,
            )
        )
    return records


#: Scores: the published DMOS range (realigned ones, ``realigned=True``, may stray a little outside it).
LAYOUT = Layout(
    "live", "LIVE Image Quality Assessment Database, Release 2", looks_like, load,
    higher_is_better=False, score_range=(0.0, 100.0), preset="live",
)
