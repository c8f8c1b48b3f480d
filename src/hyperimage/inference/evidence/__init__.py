"""Forensic evidence channels at native resolution, laid out on one grid of cells.

The forgery model's stage 1 learns from a thousand labelled images; forensics also has
evidence that needs no labels (``../shared/data/forensic-evidence.md``): the file's JPEG
history, the camera noise, a region that reappears elsewhere in the image. Each lives at the
pixel and 8x8-block scale, which resampling erases, so every channel reads the image at its
own size and as stored (no EXIF turn: the coefficients sit on the stored block grid).

Each channel turns an :class:`Evidence` into per-cell features ``(U, V, depth)`` on one
:class:`CellGrid` (fixed-size cells whose side is a multiple of 8, starting at the image's
origin, so a cell covers whole JPEG blocks; ``U x V`` grows with the image). Concatenated,
they are the forensic hyper-image ``(U, V, D)``: the paper's hyper-image with D made of
evidence, over which stage 2 learns how the evidence combines.

A channel is one module here registering one :class:`Channel` with ``@register``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from hyperimage.data.io import MAX_PIXELS, load_image
from hyperimage.registry import Registry

#: Side of a grid cell in pixels: 8 JPEG blocks, so cells never split a block.
CELL = 64


@dataclass(frozen=True)
class CellGrid:
    """Cells of ``cell`` x ``cell`` pixels from the image's origin; the last row and column of
    cells may be partial (they cover what is left). ``(H, W)`` -> ``(U, V) = (ceil(H / cell), ceil(W / cell))``."""

    cell: int = CELL

    def __post_init__(self) -> None:
        if self.cell <= 0 or self.cell % 8:
            raise ValueError(f"a cell's side must be a positive multiple of 8 (the JPEG block), got {self.cell}")

    def shape(self, height: int, width: int) -> tuple[int, int]:
        """``(U, V)`` for an image of ``height`` x ``width``."""
        return math.ceil(height / self.cell), math.ceil(width / self.cell)

    def pool(self, values: np.ndarray, scale: int = 1) -> np.ndarray:
        """The mean of ``values`` ``(h, w)`` or ``(h, w, C)`` over each cell, for a map of the
        image at ``1 / scale`` of its size (``scale`` pixels of the image per value, e.g. 8 for
        one value per JPEG block): ``(U, V)`` or ``(U, V, C)``. Partial cells average what they
        hold. One reshape, no loop over cells."""
        per = self.cell // scale
        if per * scale != self.cell:
            raise ValueError(f"a cell of {self.cell} px is not a whole number of {scale}-px values")
        h, w = values.shape[:2]
        u, v = math.ceil(h / per), math.ceil(w / per)
        pad = [(0, u * per - h), (0, v * per - w)] + [(0, 0)] * (values.ndim - 2)
        padded = np.pad(np.asarray(values, dtype=np.float32), pad) if any(p[1] for p in pad) else np.asarray(values, np.float32)
        total = padded.reshape(u, per, v, per, *values.shape[2:]).sum(axis=(1, 3), dtype=np.float64)
        count = np.pad(np.ones((h, w)), pad[:2]).reshape(u, per, v, per).sum(axis=(1, 3))
        return (total / count.reshape(u, v, *([1] * (values.ndim - 2)))).astype(np.float32)


@dataclass
class Evidence:
    """One image as the channels read it: ``pixels`` ``(H, W, 3)`` uint8 at native size, as
    stored, and where it came from (``path``: a JPEG's coefficients are read from the file)."""

    pixels: np.ndarray
    path: Path | None = None
    notes: list[str] = field(default_factory=list)
    """What a channel could not read (e.g. "not a JPEG: the JPEG channel gives zeros"), one line each."""

    @classmethod
    def read(cls, path: str | Path, max_pixels: int = MAX_PIXELS) -> "Evidence":
        """The image at ``path``, validated as every image hyperimage reads (one line naming
        the file if not), at its own size and as stored."""
        image = load_image(Path(path), mode="RGB", max_pixels=max_pixels, orient=False)
        return cls(np.rint(image * 255).astype(np.uint8), Path(path))

    @cached_property
    def gray(self) -> np.ndarray:
        """``(H, W)`` float32 luma in [0, 255] (ITU-R 601, as JPEG's Y)."""
        return (self.pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.pixels.shape[0], self.pixels.shape[1]


class Channel(Protocol):
    """One kind of evidence: ``depth`` features per cell, named by ``features``."""

    name: str
    features: tuple[str, ...]

    def __call__(self, evidence: Evidence, grid: CellGrid) -> np.ndarray:
        """``(U, V, len(features))`` float32 on ``grid``."""
        ...


CHANNELS: Registry[Channel] = Registry("evidence channel")
register = CHANNELS.register
available = CHANNELS.available


def analyse(evidence: Evidence, channels: Sequence[str], grid: CellGrid = CellGrid()) -> np.ndarray:
    """The forensic hyper-image of ``evidence``: each named channel's cells, concatenated in
    order, ``(U, V, D)`` with D the sum of their depths."""
    u, v = grid.shape(*evidence.size)
    parts = []
    for name in channels:
        cells = CHANNELS.get(name)(evidence, grid)
        if cells.shape[:2] != (u, v):
            raise ValueError(f"evidence channel {name!r} gave cells {cells.shape[:2]}, the grid is {(u, v)}")
        parts.append(cells.astype(np.float32))
    return np.concatenate(parts, axis=2) if parts else np.zeros((u, v, 0), np.float32)


from hyperimage.inference.evidence import copy_move, jpeg_history, learned, noise  # noqa: E402,F401  (register their channels)
