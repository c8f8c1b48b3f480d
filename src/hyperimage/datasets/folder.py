"""A user's own data set: a folder with ``labels.csv``.

``labels.csv`` has a header and one row per image:

* ``image`` (required): path relative to the folder;
* ``score`` (a quality score) or ``label`` (a class, 1 / 0): the target;
* ``group`` (optional): images sharing a group never land in different splits;
* ``split`` (optional): ``train`` / ``val`` / ``test`` to fix the split;
* ``reference``, ``mask`` (optional): paths relative to the folder; ``distortion``,
  ``level`` (optional). Any other column is kept in ``ImageRecord.extra``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .records import ImageRecord

LABELS = "labels.csv"
SPLITS = ("train", "val", "test")


def looks_like(root: str | Path) -> bool:
    """True if ``root`` is a folder with a ``labels.csv``."""
    return (Path(root) / LABELS).is_file()


def meta(root: str | Path) -> dict:
    """The folder's ``meta.json`` (written by hyperimage's generators), or ``{}``."""
    path = Path(root) / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def load(root: str | Path) -> list[ImageRecord]:
    """Read ``root/labels.csv`` into records (file existence is checked when images load)."""
    root = Path(root)
    path = root / LABELS
    if not path.is_file():
        raise ValueError(f"{root}: no {LABELS} in this folder")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [c.strip() for c in (reader.fieldnames or [])]
        if "image" not in fields or not ({"score", "label"} & set(fields)):
            raise ValueError(f"{path}: needs an 'image' column and a 'score' or 'label' column, found {fields}")
        target_col = "score" if "score" in fields else "label"
        records = []
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            try:
                target = float(row[target_col])
            except ValueError:
                raise ValueError(f"{path}:{line}: {target_col} {row[target_col]!r} is not a number") from None
            split = row.get("split") or None
            if split is not None and split not in SPLITS:
                raise ValueError(f"{path}:{line}: split {split!r} is not one of {SPLITS}")
            level = row.get("level") or None
            known = {"image", "score", "label", "group", "split", "reference", "mask", "distortion", "level"}
            records.append(
                ImageRecord(
                    path=root / row["image"],
                    target=target,
                    group=row.get("group") or None,
                    split=split,
                    reference=root / row["reference"] if row.get("reference") else None,
                    distortion=row.get("distortion") or None,
                    level=int(level) if level else None,
                    mask=root / row["mask"] if row.get("mask") else None,
                    extra={k: v for k, v in row.items() if k not in known},
                )
            )
    if not records:
        raise ValueError(f"{path}: no images listed")
    return records
