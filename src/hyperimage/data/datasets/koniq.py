"""KonIQ-10k (Hosu, Lin, Sziranyi & Saupe 2020): 10,073 in-the-wild photos with crowdsourced MOS.

Scores are MOS on a 1-5 scale (``MOS``; the release also gives ``MOS_zscore``, 0-100),
**higher is better**. Images are 1024 x 768 JPEGs (the release's ``1024x768/`` folder; a
``512x384/`` copy is also published and accepted when it is the only one). There are no
pristine references. Each image is its own group.

Layout (the folder holding it is accepted too)::

    koniq10k_scores_and_distributions.csv   image_name, c1..c5, c_total, MOS, SD, MOS_zscore
    1024x768/                               the images named in image_name

Where the CSV has a ``set`` column (``koniq10k_distributions_sets.csv`` of the release:
``training`` / ``validation`` / ``test``, 7,058 / 1,000 / 2,015 images), it becomes each
record's fixed split, the data set's official split; :func:`load` with ``official=False``
leaves the split open for the community's random 80/20 protocol.

References
----------
V. Hosu, H. Lin, T. Sziranyi and D. Saupe, "KonIQ-10k: An ecologically valid database for
deep learning of blind image quality assessment", IEEE TIP 29, 2020.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from hyperimage.data.datasets import _layout
from hyperimage.data.datasets.layout import Layout
from hyperimage.data.datasets.records import ImageRecord

SCORES = "koniq10k_scores_and_distributions.csv"
#: Other names the release gives the score file (the one with the official ``set`` column).
SCORE_FILES = (SCORES, "koniq10k_distributions_sets.csv")
IMAGE_DIRS = ("1024x768", "512x384")
#: The ``set`` column's values and the split each names.
SETS = {"training": "train", "validation": "val", "test": "test"}


def _score_file(folder: Path) -> Path | None:
    names = _layout.entries(folder)
    return next((names[f.lower()] for f in SCORE_FILES if f.lower() in names), None)


def _image_dir(folder: Path) -> Path | None:
    names = _layout.entries(folder)
    return next((names[d.lower()] for d in IMAGE_DIRS if d.lower() in names and names[d.lower()].is_dir()), None)


def _candidates(root: Path) -> list[Path]:
    folders = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    return [f for f in folders if _score_file(f) is not None and _image_dir(f) is not None]


def looks_like(root: str | os.PathLike) -> bool:
    """True if ``root`` (or exactly one folder directly inside it) has a score CSV and an image folder."""
    root = Path(root)
    return root.is_dir() and len(_candidates(root)) == 1


def load(root: str | os.PathLike, *, official: bool = True, score: str = "MOS") -> list[ImageRecord]:
    """Read KonIQ-10k as one record per image, in the order of the CSV.

    Parameters
    ----------
    root : the data set's folder, or the folder holding it.
    official : fix each image's split from the CSV's ``set`` column where it has one.
    score : the column to learn, ``MOS`` (1-5) or ``MOS_zscore`` (0-100).

    Raises
    ------
    ValueError
        One line naming the file and line: not the layout, a missing column, a score that is
        not a finite number, an unknown ``set`` value, a duplicate image, or an image that is
        not in the image folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder")
    found = _candidates(root)
    if len(found) != 1:
        what = "holds several KonIQ-10k copies" if found else f"not a KonIQ-10k folder (needs {SCORES} and 1024x768/)"
        raise ValueError(f"{root}: {what}")
    folder = found[0]
    path, images = _score_file(folder), _image_dir(folder)
    assert path is not None and images is not None
    files = _layout.entries(images)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start})") from None
    columns = set(rows[0]) if rows else set()
    if not {"image_name", score} <= columns:
        raise ValueError(f"{path}: needs the columns image_name and {score}, found {sorted(columns)}")
    records, seen = [], set()
    for line, row in enumerate(rows, start=2):
        name = (row["image_name"] or "").strip()
        value = _layout.number((row[score] or "").strip(), f"{path}:{line}")
        if name.lower() in seen:
            raise ValueError(f"{path}:{line}: {name} is listed twice")
        seen.add(name.lower())
        image = files.get(name.lower())
        if image is None:
            raise ValueError(f"{path}:{line}: {name} is not in {images}")
        split = None
        if official and "set" in columns:
            kind = (row["set"] or "").strip().lower()
            if kind not in SETS:
                raise ValueError(f"{path}:{line}: set {row['set']!r} is not one of {', '.join(SETS)}")
            split = SETS[kind]
        extra = {k: row[k] for k in ("SD", "MOS_zscore") if k in row and k != score}
        records.append(ImageRecord(path=image, target=value, group=image.name, split=split, extra=extra))
    if not records:
        raise ValueError(f"{path}: no images listed")
    return records


LAYOUT = Layout(
    "koniq10k", "KonIQ-10k", looks_like, load,
    higher_is_better=True, score_range=(1.0, 5.0), preset="koniq", in_the_wild=True,
)
