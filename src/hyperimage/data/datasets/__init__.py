"""Data sets: a user's folder with ``labels.csv`` and the published layouts of LIVE R2,
TID2013, KADID-10k, LIVE In the Wild (LIVE-C), KonIQ-10k, CASIA v1 and CASIA v2, all read into
:class:`~.records.ImageRecord` lists."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from hyperimage.data.datasets import casia1, casia2, folder, kadid, koniq, live, livec, tid2013
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.registry import Registry

#: Loader modules (``looks_like``, ``load``, ``HIGHER_IS_BETTER``) tried in registration
#: order by :func:`detect`; a folder with ``labels.csv`` always wins. A new layout is one
#: module here and its line below.
LOADERS: Registry[ModuleType] = Registry("data set layout")
for _name, _module in (
    ("folder", folder), ("live", live), ("tid2013", tid2013), ("kadid10k", kadid), ("livec", livec),
    ("koniq10k", koniq), ("casia1", casia1), ("casia2", casia2),
):
    LOADERS.register(_name)(_module)


def detect(root: str | Path) -> str:
    """Name of the layout of ``root`` (one of :data:`LOADERS`)."""
    for name, module in LOADERS.items():
        if module.looks_like(Path(root)):
            return name
    raise ValueError(
        f"{root}: not a data set hyperimage knows (a folder with labels.csv, or LIVE, TID2013, KADID-10k, LIVE-C, KonIQ-10k, CASIA v1, CASIA v2)"
    )


def load(root: str | Path, allow_outside: bool = False) -> list[ImageRecord]:
    """Read any supported data set folder into records.

    ``allow_outside``: a ``labels.csv`` may name images outside its folder (see
    :func:`.folder.load`); the published layouts only list their own files.
    """
    name = detect(root)
    if name == "folder":
        return folder.load(Path(root), allow_outside=allow_outside)
    return LOADERS.get(name).load(Path(root))


def score_range(root: str | Path) -> tuple[float, float] | None:
    """The scale the data set's scores are given on (e.g. LIVE-C's MOS 0-100, KonIQ-10k's 1-5),
    as its layout or its ``meta.json`` (``score_range``) declares it; ``None`` where neither does."""
    name = detect(root)
    declared = folder.meta(root).get("score_range") if name == "folder" else getattr(LOADERS.get(name), "SCORE_RANGE", None)
    if declared is None:
        return None
    low, high = map(float, declared)
    if not low < high:
        raise ValueError(f"{root}: score_range must be [low, high] with low < high, got {declared}")
    return low, high


def higher_is_better(root: str | Path) -> bool:
    """Whether the data set's scores grow with quality (LIVE's DMOS does not)."""
    name = detect(root)
    if name == "folder":
        return bool(folder.meta(root).get("higher_is_better", True))
    return bool(LOADERS.get(name).HIGHER_IS_BETTER)
