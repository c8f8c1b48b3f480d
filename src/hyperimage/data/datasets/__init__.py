"""Data sets: a user's folder with ``labels.csv`` and the published layouts of LIVE R2,
TID2013, KADID-10k, LIVE In the Wild (LIVE-C), KonIQ-10k, CASIA v1 and CASIA v2, all read into
:class:`~.records.ImageRecord` lists.

Each layout is one module ending in a :class:`~.layout.Layout` descriptor, registered below
with one line; a new layout is a new module and its line (tests may register one of their
own: ``LAYOUTS.register(name)(layout)``).
"""

from __future__ import annotations

from pathlib import Path

from hyperimage.data.datasets import casia1, casia2, folder, kadid, koniq, live, livec, tid2013
from hyperimage.data.datasets.layout import Layout
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.registry import Registry

#: Layouts tried in registration order by :func:`layout`; a folder with ``labels.csv`` always wins.
LAYOUTS: Registry[Layout] = Registry("data set layout")
LAYOUTS.register(folder.LAYOUT.name)(folder.LAYOUT)
LAYOUTS.register(live.LAYOUT.name)(live.LAYOUT)
LAYOUTS.register(tid2013.LAYOUT.name)(tid2013.LAYOUT)
LAYOUTS.register(kadid.LAYOUT.name)(kadid.LAYOUT)
LAYOUTS.register(livec.LAYOUT.name)(livec.LAYOUT)
LAYOUTS.register(koniq.LAYOUT.name)(koniq.LAYOUT)
LAYOUTS.register(casia1.LAYOUT.name)(casia1.LAYOUT)
LAYOUTS.register(casia2.LAYOUT.name)(casia2.LAYOUT)


def layout(root: str | Path) -> Layout:
    """The layout of the folder ``root`` (one of :data:`LAYOUTS`), as it applies there
    (:meth:`Layout.at`: a ``labels.csv`` folder's ``meta.json`` read)."""
    root = Path(root)
    for _, candidate in LAYOUTS.items():
        if candidate.looks_like(root):
            return candidate.at(root)
    known = ", ".join(f"{item.title} ({name})" for name, item in LAYOUTS.items())
    raise ValueError(f"{root}: not a data set hyperimage knows; it reads {known}")


def detect(root: str | Path) -> str:
    """Name of the layout of ``root`` (one of :data:`LAYOUTS`)."""
    return layout(root).name


def load(root: str | Path, allow_outside: bool = False) -> list[ImageRecord]:
    """Read any supported data set folder into records.

    ``allow_outside``: a ``labels.csv`` may name images outside its folder (see
    :func:`.folder.load`); the published layouts only list their own files.
    """
    return layout(root).read(Path(root), allow_outside=allow_outside)


def score_range(root: str | Path) -> tuple[float, float] | None:
    """The scale the data set's scores are given on (e.g. LIVE-C's MOS 0-100, KonIQ-10k's 1-5),
    as its layout or its ``meta.json`` (``score_range``) declares it; ``None`` where neither does."""
    return layout(root).score_range


def higher_is_better(root: str | Path) -> bool:
    """Whether the data set's scores grow with quality (LIVE's DMOS does not)."""
    return layout(root).higher_is_better
