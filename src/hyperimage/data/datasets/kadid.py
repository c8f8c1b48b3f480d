"""KADID-10k (Lin, Hosu and Saupe 2019): 81 references, 25 distortion types, 5 levels, 10125 images.

Not used by the paper (which predates it), but the largest of the synthetic IQA sets and a
common test of generalisation. Despite the column's name, ``dmos`` holds a **MOS in [1, 5],
higher is better**.

Layout (the folder holding it is accepted too)::

    images/     I01.png ... I81.png (references) and I01_01_01.png (reference, type, level)
    dmos.csv    header ``dist_img,ref_img,dmos,var``

Names are matched without regard to letter case.

References
----------
H. Lin, V. Hosu and D. Saupe, "KADID-10k: A large-scale artificially distorted IQA database",
QoMEX 2019.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable

from hyperimage.data.datasets import _layout
from hyperimage.data.datasets.layout import Layout
from hyperimage.data.datasets.records import ImageRecord

#: Distortion types are numbered 1-25 in the file names (the middle field).
DISTORTION_TYPES = range(1, 26)

_DIRS = ("images",)
_FILES = ("dmos.csv",)
_COLUMNS = ("dist_img", "ref_img", "dmos")
_DISTORTED = re.compile(r"i(\d+)_(\d+)_(\d+)\.png", re.IGNORECASE)


def looks_like(root: str | os.PathLike) -> bool:
    """True if ``root`` (or exactly one folder directly inside it) has the KADID-10k layout."""
    return _layout.has_layout(root, _DIRS, _FILES)


def load(root: str | os.PathLike, *, distortions: Iterable[int] | None = None) -> list[ImageRecord]:
    """Read KADID-10k as one record per distorted image, in the order of ``dmos.csv``.

    Parameters
    ----------
    root : the data set's folder, or the folder holding it.
    distortions : type numbers (1-25) to keep; all when None.

    Returns
    -------
    list of ImageRecord
        ``target`` the ``dmos`` column (a MOS, higher is better), ``group`` the reference's
        name without suffix (``I01``), ``reference`` its file, ``distortion`` the type number
        as a string (``"7"``), ``level`` 1-5 (1 mildest), ``extra["var"]`` the rating
        variance where the column is there.

    Raises
    ------
    ValueError
        One line: not the layout, a missing column, a malformed row, or a listed image that
        is not on disk.
    """
    chosen = _layout.select_types(distortions, DISTORTION_TYPES, "KADID-10k")
    root = _layout.resolve_root(root, _DIRS, _FILES, "KADID-10k")
    names = _layout.entries(root)
    csv_path = names["dmos.csv"]
    images = _layout.entries(names["images"])
    with csv_path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if absent := [c for c in _COLUMNS if c not in header]:
            raise ValueError(f"{csv_path}: no column(s) {', '.join(absent)} in the header {','.join(header)!r}")
        rows = [(reader.line_num, dict(zip(header, (v.strip() for v in row)))) for row in reader if any(row)]

    records = []
    for line, row in rows:
        match = _DISTORTED.fullmatch(row.get("dist_img", ""))
        if match is None or int(match.group(2)) not in DISTORTION_TYPES:
            got = ",".join(row.values())
            raise ValueError(f"{csv_path}:{line}: expected an image like I01_01_01.png (type 1-25), got {got!r}")
        _, kind, level = map(int, match.groups())
        if chosen is not None and kind not in chosen:
            continue
        path, reference = images.get(row["dist_img"].lower()), images.get(row.get("ref_img", "").lower())
        if path is None or reference is None:
            name = row["dist_img"] if path is None else row.get("ref_img", "")
            raise ValueError(f"{csv_path}:{line}: {name or 'ref_img'} is not in images/")
        records.append(
            ImageRecord(
                path=path,
                target=_layout.number(row.get("dmos", ""), f"{csv_path}:{line}: dmos"),
                group=reference.stem,
                reference=reference,
                distortion=str(kind),
                level=level,
                extra={"var": row["var"]} if row.get("var") else {},
            )
        )
    return records


LAYOUT = Layout(
    "kadid10k", "KADID-10k", looks_like, load,
    higher_is_better=True, score_range=(1.0, 5.0), preset="tid",
)
