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

A channel is one module here registering one :class:`Channel` with ``@register``; besides
its features it names the one (``headline``) that a map of it draws and says in words what
that map shows (``legend``), for ``hyperimage explain --channel``, ``score --channels`` and the
web page (:func:`read_channels` gives each channel's cells with the notes it left).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol, Sequence

import cv2
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

    def spread(self, cells: np.ndarray, height: int, width: int) -> np.ndarray:
        """Cell values ``(U, V)`` over the pixels of an image of ``height`` x ``width``: each
        pixel takes its cell's value, ``(H, W)`` float32 (the map drawn over the image)."""
        if cells.shape != self.shape(height, width):
            raise ValueError(f"cells {cells.shape} do not cover a {height} x {width} image on {self.cell}-px cells")
        return np.repeat(np.repeat(np.asarray(cells, np.float32), self.cell, 0), self.cell, 1)[:height, :width]

    def interpolate(self, cells: np.ndarray, height: int, width: int) -> np.ndarray:
        """Cell values ``(U, V)`` over the pixels of an image of ``height`` x ``width``,
        bilinear between the cells' centres (constant beyond the outer ones): ``(H, W)``
        float32, a map whose edges follow the evidence more closely than the cells' squares
        (on CASIA v1, a higher pixel F1: ``benchmarks/evidence_casia.py``)."""
        if cells.shape != self.shape(height, width):
            raise ValueError(f"cells {cells.shape} do not cover a {height} x {width} image on {self.cell}-px cells")
        u, v = cells.shape
        full = cv2.resize(np.asarray(cells, np.float32), (v * self.cell, u * self.cell), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(full[:height, :width])


@dataclass
class Evidence:
    """One image as the channels read it: ``pixels`` ``(H, W, 3)`` uint8 at native size, as
    stored, and where it came from (``path``, or for a file held in memory its bytes,
    ``data``: a JPEG's coefficients are read from either)."""

    pixels: np.ndarray
    path: Path | None = None
    notes: list[str] = field(default_factory=list)
    """What a channel could not read (e.g. "not a JPEG: the JPEG channel gives zeros"), one line each."""
    data: bytes | None = None
    """The encoded file, for an image that came as bytes (an upload): the JPEG channel reads them."""
    name: str | None = None
    """What notes call an image without a path (an uploaded file's name); "image" where None."""

    @classmethod
    def read(cls, path: str | Path, max_pixels: int = MAX_PIXELS) -> "Evidence":
        """The image at ``path``, validated as every image hyperimage reads (one line naming
        the file if not), at its own size and as stored."""
        image = load_image(Path(path), mode="RGB", max_pixels=max_pixels, orient=False)
        return cls(np.rint(image * 255).astype(np.uint8), Path(path))

    @classmethod
    def decode(cls, data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> "Evidence":
        """The image encoded in ``data`` (a file's bytes held in memory), validated as a file
        would be (one line naming ``name`` if not), at its own size and as stored; the bytes
        are kept for the JPEG channel."""
        image = load_image(io.BytesIO(data), mode="RGB", max_pixels=max_pixels, name=name, orient=False)
        return cls(np.rint(image * 255).astype(np.uint8), data=bytes(data), name=name)

    @property
    def label(self) -> str:
        """What notes call this image: its path, else its name, else "image"."""
        return str(self.path) if self.path is not None else self.name or "image"

    @cached_property
    def gray(self) -> np.ndarray:
        """``(H, W)`` float32 luma in [0, 255] (ITU-R 601, as JPEG's Y)."""
        return (self.pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.pixels.shape[0], self.pixels.shape[1]


class Channel(Protocol):
    """One kind of evidence: ``depth`` features per cell, named by ``features``.

    ``headline`` is the feature a map of the channel draws and ``legend`` says in words what
    that map shows (what a high value means, in which units); ``shipped_model`` names the
    shipped model whose weights the channel reads (``hyperimage.load`` name), None for a
    channel that reads none. A forensic model records it, since its features change with
    those weights.
    """

    name: str
    features: tuple[str, ...]
    headline: str
    legend: str
    shipped_model: str | None

    def __call__(self, evidence: Evidence, grid: CellGrid) -> np.ndarray:
        """``(U, V, len(features))`` float32 on ``grid``."""
        ...


CHANNELS: Registry[Channel] = Registry("evidence channel")
register = CHANNELS.register
available = CHANNELS.available

#: The word that names every registered channel (``--channel all``).
ALL = "all"


def channel_names(spec: str | Sequence[str]) -> list[str]:
    """The channels a user named: ``"all"`` (every registered channel, in registration order),
    a comma-separated list (``"noise,jpeg"``) or a sequence of names; ValueError with one line
    for an unknown name or none at all."""
    names = [n.strip() for n in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n]
    if ALL in names:
        names = [name for name, _ in CHANNELS.items()]
    if not names:
        raise ValueError(f"no evidence channel named; give {ALL} or some of {', '.join(available())}")
    for name in names:
        CHANNELS.get(name)
    return list(dict.fromkeys(names))


@dataclass(frozen=True, eq=False)
class ChannelReading:
    """What one channel read in one image: its ``cells`` ``(U, V, depth)`` and the ``notes``
    it left (what it could not read, one line each)."""

    channel: Channel
    cells: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def headline(self) -> np.ndarray:
        """``(U, V)``: the cells of the channel's headline feature, what its map draws."""
        return self.cells[..., self.channel.features.index(self.channel.headline)]

    def figures(self) -> dict:
        """The image-level read-out: each feature's largest and smallest cell (``max``,
        ``min``: feature -> value) and the ``notes``; what ``hyperimage score --channels``
        writes per channel, so that a user sees which evidence flagged an image."""
        flat = self.cells.reshape(-1, self.cells.shape[-1])
        high, low = (flat.max(axis=0), flat.min(axis=0)) if len(flat) else (np.zeros(flat.shape[1]),) * 2
        return {
            "max": {f: round(float(x), 6) for f, x in zip(self.channel.features, high)},
            "min": {f: round(float(x), 6) for f, x in zip(self.channel.features, low)},
            "notes": list(self.notes),
        }


def read_channels(evidence: Evidence, channels: Sequence[str | Channel], grid: CellGrid = CellGrid()) -> list[ChannelReading]:
    """Each channel's reading of ``evidence``, in order: a name reads the registered channel,
    a :class:`Channel` itself (e.g. a forensic model's own ``learned`` channel) reads as it
    is; the notes a channel adds to ``evidence.notes`` are also its reading's."""
    u, v = grid.shape(*evidence.size)
    readings = []
    for name in channels:
        channel = CHANNELS.get(name) if isinstance(name, str) else name
        before = len(evidence.notes)
        cells = channel(evidence, grid)
        if cells.shape[:2] != (u, v):
            raise ValueError(f"evidence channel {channel.name!r} gave cells {cells.shape[:2]}, the grid is {(u, v)}")
        readings.append(ChannelReading(channel, cells.astype(np.float32), tuple(evidence.notes[before:])))
    return readings


def figures(readings: Sequence[ChannelReading]) -> dict[str, dict]:
    """Each reading's image-level figures, by channel name (:meth:`ChannelReading.figures`)."""
    return {r.channel.name: r.figures() for r in readings}


def stack(readings: Sequence[ChannelReading], shape: tuple[int, int]) -> np.ndarray:
    """The forensic hyper-image ``(U, V, D)`` of ``readings`` on a grid of ``shape`` ``(U, V)``:
    their cells concatenated in order, D the sum of their depths."""
    parts = [r.cells for r in readings]
    return np.concatenate(parts, axis=2) if parts else np.zeros((*shape, 0), np.float32)


def analyse(evidence: Evidence, channels: Sequence[str], grid: CellGrid = CellGrid()) -> np.ndarray:
    """The forensic hyper-image of ``evidence``: each named channel's cells, concatenated in
    order, ``(U, V, D)`` with D the sum of their depths."""
    return stack(read_channels(evidence, channels, grid), grid.shape(*evidence.size))


from hyperimage.inference.evidence import copy_move, jpeg_history, learned, noise  # noqa: E402,F401  (register their channels)
