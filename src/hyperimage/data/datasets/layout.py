"""A data-set layout as a descriptor: how a folder is recognised and read, and what its scores mean.

Each layout module (:mod:`~.folder`, :mod:`~.live`, :mod:`~.livec`, ...) ends with one
``LAYOUT = Layout(...)`` and :mod:`hyperimage.data.datasets` registers it with one line, so
adding a layout is one new file plus that line: nothing else names it. Everything that
differs between data sets is read off the descriptor, never tested by name: the score's
direction and scale (to map one data set's scores onto another's), the model preset that
suits it, and its split protocol (:attr:`Layout.in_the_wild`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hyperimage.data.datasets.records import ImageRecord


@dataclass(frozen=True)
class Layout:
    """One data-set layout.

    ``looks_like(root)`` recognises it; ``load(root)`` reads it into records (the loader's
    defaults: the published protocol). ``higher_is_better`` and ``score_range`` describe its
    scores (LIVE's DMOS runs down, KonIQ-10k's MOS 1-5); ``preset`` names the model preset
    that suits it (:mod:`hyperimage.presets`; ``None``: none in particular); ``in_the_wild``
    marks photos with authentic distortions and no references, which the field evaluates on
    random 80/20 splits by image (:data:`hyperimage.evaluation.protocol.REAL_IQA_SPLIT`) and for
    which the paper's TID/LIVE rows are no reference.
    """

    name: str
    title: str
    looks_like: Callable[[Path], bool]
    load: Callable[[Path], list[ImageRecord]]
    higher_is_better: bool = True
    score_range: tuple[float, float] | None = None
    preset: str | None = None
    in_the_wild: bool = False

    def __post_init__(self) -> None:
        if self.score_range is not None and not self.score_range[0] < self.score_range[1]:
            raise ValueError(f"{self.name}: score_range must be (low, high) with low < high, got {self.score_range}")

    def at(self, root: Path) -> "Layout":
        """This layout as it applies to the folder ``root`` (a layout whose folders describe
        themselves, like :mod:`~.folder`'s ``meta.json``, reads them here)."""
        return self

    def read(self, root: Path, allow_outside: bool = False) -> list[ImageRecord]:
        """The records of ``root``; ``allow_outside`` matters only to layouts that list paths
        (a published layout only holds its own files)."""
        return self.load(root)
