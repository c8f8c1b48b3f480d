"""Helpers shared by the loaders of the published data sets: finding their files, choosing types.

Copies of the public data sets differ in small ways: ``I01.BMP`` beside ``i25.bmp``,
``Au/`` or ``AU/``, the data set's own folder or the folder that holds it. The loaders
(:mod:`~hyperimage.data.datasets.live`, :mod:`~hyperimage.data.datasets.tid2013`,
:mod:`~hyperimage.data.datasets.kadid`, :mod:`~hyperimage.data.datasets.casia2`) describe a layout
as the folders and files its root must hold, and use these helpers to find it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path


def entries(folder: Path) -> dict[str, Path]:
    """The entries of ``folder`` keyed by lower-case name (the first in sorted order wins a clash)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        found.setdefault(path.name.lower(), path)
    return found


def find(folder: Path, name: str) -> Path | None:
    """The entry of ``folder`` called ``name`` in any letter case, or None."""
    return entries(folder).get(name.lower())


def missing(folder: Path, dirs: Sequence[str], files: Sequence[str]) -> list[str]:
    """The required folders (written ``name/``) and files that ``folder`` lacks."""
    names = entries(folder)
    gaps = [f"{d}/" for d in dirs if not (d.lower() in names and names[d.lower()].is_dir())]
    return gaps + [f for f in files if not (f.lower() in names and names[f.lower()].is_file())]


def _candidates(root: Path, dirs: Sequence[str], files: Sequence[str]) -> list[Path]:
    """``root`` if it has the layout, else those of its direct subfolders that have it."""
    if not missing(root, dirs, files):
        return [root]
    return [c for c in sorted(root.iterdir()) if c.is_dir() and not missing(c, dirs, files)]


def has_layout(root: str | os.PathLike, dirs: Sequence[str], files: Sequence[str]) -> bool:
    """True if ``root`` or exactly one of its direct subfolders holds ``dirs`` and ``files``."""
    root = Path(root)
    return root.is_dir() and len(_candidates(root, dirs, files)) == 1


def resolve_root(root: str | os.PathLike, dirs: Sequence[str], files: Sequence[str], name: str) -> Path:
    """The data set's own folder: ``root`` itself, or the one subfolder of ``root`` in the layout.

    Accepting the parent lets a user pass the folder an archive was unpacked into, whatever the
    data set's own folder is called there (``databaserelease2``, ``LIVEIQA_release2``, ...).

    Raises
    ------
    ValueError
        One line: ``root`` is not a folder, is not in the layout (naming what is missing), or
        holds several copies.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder")
    found = _candidates(root, dirs, files)
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError(f"{root}: holds several {name} copies ({', '.join(p.name for p in found)}); pass one of them")
    raise ValueError(f"{root}: not a {name} folder (missing {', '.join(missing(root, dirs, files))})")


def number(text: str, where: str) -> float:
    """``text`` as a finite float; ValueError naming ``where`` (file and line) otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {text!r} is not a finite number")
    return value


def select_types(types: Iterable[int] | None, known: Iterable[int], name: str) -> set[int] | None:
    """The chosen distortion type numbers as a set (None: all); ValueError names unknown ones."""
    if types is None:
        return None
    chosen, valid = {int(t) for t in types}, set(known)
    if unknown := sorted(chosen - valid):
        raise ValueError(f"{name} has no distortion type(s) {unknown}; its types run {min(valid)}-{max(valid)}")
    return chosen
