"""A user's own data set: a folder with ``labels.csv``.

``labels.csv`` has a header and one row per image:

* ``image`` (required): path relative to the folder;
* ``score`` (a quality score) or ``label`` (a class, 1 / 0): the target;
* ``group`` (optional): images sharing a group never land in different splits;
* ``split`` (optional): ``train`` / ``val`` / ``test`` to fix the split;
* ``reference``, ``mask`` (optional): paths relative to the folder; ``distortion``,
  ``level`` (optional). Any other column is kept in ``ImageRecord.extra``.

An optional ``meta.json`` describes the scores (``higher_is_better``, ``score_range``: ``[low,
high]``) and the task (``task``: ``synthetic``, ``iqa`` or ``forgery``, as hyperimage's
generators write it, or ``preset``: a preset's name), which :data:`LAYOUT` reads per folder.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from hyperimage.data.datasets.layout import Layout
from hyperimage.data.datasets.records import ImageRecord

LABELS = "labels.csv"
SPLITS = ("train", "val", "test")


def looks_like(root: str | Path) -> bool:
    """True if ``root`` is a folder with a ``labels.csv``."""
    return (Path(root) / LABELS).is_file()


def meta(root: str | Path) -> dict:
    """The folder's ``meta.json`` (written by hyperimage's generators), or ``{}``."""
    path = Path(root) / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _text(path: Path) -> str:
    """The file decoded as UTF-8 (a BOM is dropped); ValueError naming the line and byte otherwise."""
    raw = path.read_bytes()
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        at = bom + err.start
        line = raw.count(b"\n", 0, at) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[at]:02x} at offset {at}); save it as UTF-8") from None


def _inside(root: Path, value: str, column: str, where: str, allow_outside: bool) -> Path:
    """``root / value``, refused if it resolves (symlinks followed) outside ``root``."""
    path = root / value
    resolved = path.resolve()
    if not allow_outside and not resolved.is_relative_to(root.resolve()):
        raise ValueError(
            f"{where}: {column} {value!r} resolves outside the data folder ({resolved}); pass --allow-outside to read it"
        )
    return path


def load(root: str | Path, allow_outside: bool = False) -> list[ImageRecord]:
    """Read ``root/labels.csv`` into records (file existence is checked when images load).

    Every row is checked, with one line naming the file and line for the first bad one: a
    target that is not a finite number, a ``split`` that is not train / val / test, a
    ``level`` that is not a whole number, an image listed twice (with the same target or
    not: a repeated image would count twice and could fall into two splits), and image,
    reference and mask paths that resolve outside ``root`` (``../``, absolute paths,
    symlinks leading out) unless ``allow_outside``.
    """
    root = Path(root)
    path = root / LABELS
    if not path.is_file():
        raise ValueError(f"{root}: no {LABELS} in this folder")
    reader = csv.DictReader(io.StringIO(_text(path), newline=""))
    fields = [c.strip() for c in (reader.fieldnames or [])]
    if "image" not in fields or not ({"score", "label"} & set(fields)):
        raise ValueError(f"{path}: needs an 'image' column and a 'score' or 'label' column, found {fields}")
    target_col = "score" if "score" in fields else "label"
    known = {"image", "score", "label", "group", "split", "reference", "mask", "distortion", "level"}
    records, seen = [], {}
    try:
        for row in reader:
            where = f"{path}:{reader.line_num}"
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            if not row["image"]:
                raise ValueError(f"{where}: no image path")
            try:
                target = float(row[target_col])
            except ValueError:
                raise ValueError(f"{where}: {target_col} {row[target_col]!r} is not a number") from None
            if not math.isfinite(target):
                raise ValueError(f"{where}: {target_col} {row[target_col]!r} is not a finite number")
            split = row.get("split") or None
            if split is not None and split not in SPLITS:
                raise ValueError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
            level = row.get("level") or None
            if level is not None and not level.lstrip("+-").isdigit():
                raise ValueError(f"{where}: level {level!r} is not a whole number")
            image = _inside(root, row["image"], "image", where, allow_outside)
            key = image.resolve()
            if key in seen:
                first, before = seen[key]
                same = "" if before == target else f" with a different {target_col} ({target:g} here, {before:g} there)"
                raise ValueError(f"{where}: {row['image']!r} is listed again{same} (first at line {first}); list each image once")
            seen[key] = (reader.line_num, target)
            records.append(
                ImageRecord(
                    path=image,
                    target=target,
                    group=row.get("group") or None,
                    split=split,
                    reference=_inside(root, row["reference"], "reference", where, allow_outside) if row.get("reference") else None,
                    distortion=row.get("distortion") or None,
                    level=int(level) if level else None,
                    mask=_inside(root, row["mask"], "mask", where, allow_outside) if row.get("mask") else None,
                    extra={k: v for k, v in row.items() if k not in known},
                )
            )
    except csv.Error as err:  # raised before the reader counts the line it failed on
        raise ValueError(f"{path}:{reader.line_num + 1}: not readable as CSV ({err})") from None
    if not records:
        raise ValueError(f"{path}: no images listed")
    return records


#: The preset of a folder whose ``meta.json`` names its ``task`` (hyperimage's generators).
TASK_PRESETS = {"synthetic": "synthetic", "iqa": "tid", "forgery": "forgery"}


@dataclass(frozen=True)
class FolderLayout(Layout):
    """A ``labels.csv`` folder: its scores and preset as its ``meta.json`` declares them."""

    def at(self, root: Path) -> Layout:
        """This layout with ``root``'s ``meta.json`` applied (ValueError naming the file if it is bad)."""
        info = meta(root)
        declared = info.get("score_range")
        try:
            score_range = None if declared is None else (float(declared[0]), float(declared[1]))
            return replace(
                self,
                higher_is_better=bool(info.get("higher_is_better", True)),
                score_range=score_range,
                preset=info.get("preset") or TASK_PRESETS.get(info.get("task")),
            )
        except (TypeError, ValueError, IndexError, KeyError) as err:
            raise ValueError(f"{Path(root) / 'meta.json'}: score_range must be [low, high] with low < high, got {declared!r} ({err})") from None

    def read(self, root: Path, allow_outside: bool = False) -> list[ImageRecord]:
        """:func:`load` (``allow_outside``: ``labels.csv`` may name images outside ``root``)."""
        return load(root, allow_outside=allow_outside)


LAYOUT = FolderLayout("folder", "a folder with labels.csv", looks_like, load)
