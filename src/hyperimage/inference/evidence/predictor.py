"""A forensic model for Python users: ``hyperimage.load(FOLDER)`` of a forensic model folder.

:class:`ForensicPredictor` scores and explains images as :class:`~hyperimage.inference.predictor.Predictor`
does a two-stage model's, with the same ``score``, ``explain`` and ``info``::

    import hyperimage
    forensic = hyperimage.load("models/forensic")     # a folder written by `hyperimage train-evidence`
    forensic.score("photo.jpg")                        # probability authentic, 0-1, higher is better
    e = forensic.explain("photo.jpg", channels="all")  # e.cells (U, V) probability tampered,
    e.given_tampered                                   # the same given that the image is tampered
    e.channels["copy-move"]                            # each channel's headline map (U, V)
    e.save("evidence.png")                             # one panel per channel and the model's two maps

The channels read every image at its own size and as stored (no EXIF turn: a JPEG's 8x8
blocks sit on the stored grid), so the maps lie on the stored pixels. A path is read as the
file it is, and so are bytes or a stream (the JPEG channel reads their coefficients); a
Pillow image, an array or a tensor holds pixels only, so the JPEG channel gives its zeros and
the notes say why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from hyperimage.inference import tasks
from hyperimage.inference.evidence import CellGrid, ChannelReading, Evidence, channel_names, figures, read_channels
from hyperimage.inference.evidence.model import SCORE, ForensicModel, given_tampered
from hyperimage.inference.explain import HeatScale, Panel, render_overlay, render_panels, save_grid, save_png
from hyperimage.inference.predictor import MODEL_CARD, Input, ModelInfo, labelled_inputs, input_name, image_of

#: The title of a forensic model's own map beside its channels'.
COMBINED = "combined: the forensic model's reading of all its channels"

#: How a forensic model's map reads: every cell's probability of being tampered.
TAMPERED = HeatScale(
    label="each cell's probability of being tampered (forensic model)", low=0.0, high=1.0,
    worse=tasks.CLASSIFICATION.worse, better=tasks.CLASSIFICATION.better, worse_is_low=False, cmap="inferno",
)

#: The title of the forensic model's map given that the image is tampered.
GIVEN = "where, if tampered: the forensic model's map given that the image is tampered"

#: How that map reads (:func:`~hyperimage.inference.evidence.model.given_tampered`).
GIVEN_TAMPERED = replace(TAMPERED, label="each cell's probability of being tampered, given that the image is (forensic model)")


def evidence_of(x: Input, label: str = "image") -> Evidence:
    """One input as the channels read it, at its own size and as stored (no EXIF turn): a path
    as its file (:meth:`Evidence.read`), bytes or a stream as the file they hold
    (:meth:`Evidence.decode`; a stream's file name, where it has one, names it), anything else as its pixels (:func:`~hyperimage.inference.predictor.image_of`).

    Raises :class:`~hyperimage.data.io.ImageError` (one line naming ``label`` or the file), or
    TypeError for a type it cannot read.
    """
    if isinstance(x, (str, os.PathLike)):
        return Evidence.read(x)
    if hasattr(x, "read") and hasattr(x, "seek"):
        label = input_name(x) or label
        x.seek(0)
        x = x.read()
    if isinstance(x, (bytes, bytearray)):
        return Evidence.decode(bytes(x), name=label)
    pixels = image_of(x, label, "RGB", orient=False)
    return Evidence(np.rint(pixels * 255).astype(np.uint8), name=label)


def channel_scale(reading: ChannelReading) -> HeatScale:
    """The colour scale of a channel's headline map: 0 to at least 1 (``inferno``) where the
    map is never negative (a strength, a share), else symmetric about 0 (``coolwarm``, a
    contrast or z-score against the image's own cells); the colour bar names the feature."""
    values = reading.headline
    high = max(1.0, float(np.abs(values).max())) if values.size else 1.0
    name = f"{reading.channel.name}: {reading.channel.headline} per cell"
    if values.size == 0 or values.min() >= 0.0:
        return HeatScale(name, 0.0, high, "high", "0: none (left clear)", False, "inferno")
    return HeatScale(name, -high, high, "high", "low", False, "coolwarm")


def channel_heat(reading: ChannelReading, grid: CellGrid, height: int, width: int) -> np.ndarray:
    """A channel's headline map over the image's pixels ``(H, W)``; on a scale that starts at 0
    (:func:`channel_scale`) the cells without evidence (0) are NaN, left clear in the drawing."""
    heat = grid.spread(reading.headline, height, width)
    return np.where(heat > 0, heat, np.nan) if channel_scale(reading).low == 0.0 else heat


@dataclass(frozen=True, eq=False)
class ChannelEvidence:
    """What evidence channels read in one image: each channel's ``readings`` (its cells and
    notes), on ``grid`` over ``image`` ``(H, W, 3)`` in [0, 1], the pixels as stored, which
    every map lies on; ``notes``: what the channels could not read, one line each."""

    readings: tuple[ChannelReading, ...]
    image: np.ndarray
    grid: CellGrid
    notes: tuple[str, ...] = ()

    @property
    def channels(self) -> dict[str, np.ndarray]:
        """Each channel's headline map ``(U, V)``, by name (:attr:`ChannelReading.headline`)."""
        return {r.channel.name: r.headline for r in self.readings}

    @property
    def panels(self) -> list[Panel]:
        """One panel per reading: its headline map over :attr:`image`, titled with the channel's legend."""
        h, w = self.image.shape[:2]
        return [Panel(r.channel.legend, self.image, channel_heat(r, self.grid, h, w), channel_scale(r)) for r in self.readings]

    def figures(self) -> dict[str, dict]:
        """Each channel's image-level figures, by name (:meth:`ChannelReading.figures`)."""
        return figures(self.readings)

    @classmethod
    def of(cls, evidence: Evidence, readings: Sequence[ChannelReading], grid: CellGrid) -> "ChannelEvidence":
        """``readings`` of ``evidence`` on ``grid``, with its pixels and the notes the channels left."""
        return cls(tuple(readings), evidence.pixels.astype(np.float32) / 255.0, grid, tuple(evidence.notes))


def read_evidence(x: Input, channels: str | Sequence[str], grid: CellGrid = CellGrid(), label: str = "image") -> ChannelEvidence:
    """The named ``channels``' readings of one input (:func:`evidence_of`, :func:`~hyperimage.inference.evidence.channel_names`)."""
    evidence = evidence_of(x, label)
    return ChannelEvidence.of(evidence, read_channels(evidence, channel_names(channels), grid), grid)


@dataclass(frozen=True, eq=False)
class ForensicExplanation:
    """A forensic model's score of one image, its map and the channels' readings.

    ``cells`` ``(U, V)``: every cell's probability of being tampered, on the grid of
    ``evidence`` (the channels asked for, :meth:`ForensicPredictor.explain`, with the pixels
    as stored and what they could not read).
    """

    score: float
    cells: np.ndarray
    evidence: ChannelEvidence
    description: str
    threshold: float
    name: str | None = None
    scale: HeatScale = field(default=TAMPERED)

    @property
    def channels(self) -> dict[str, np.ndarray]:
        """Each channel's headline map ``(U, V)``, by name."""
        return self.evidence.channels

    @property
    def image(self) -> np.ndarray:
        """``(H, W, 3)`` in [0, 1]: the pixels as stored."""
        return self.evidence.image

    @property
    def notes(self) -> tuple[str, ...]:
        """What the channels could not read (e.g. a PNG has no JPEG coefficients), one line each."""
        return self.evidence.notes

    @property
    def heat(self) -> np.ndarray:
        """``(H, W)``: :attr:`cells` over the image's pixels, bilinear between the cells'
        centres (:meth:`~hyperimage.inference.evidence.CellGrid.interpolate`)."""
        return self.evidence.grid.interpolate(self.cells, *self.image.shape[:2])

    @property
    def given_tampered(self) -> np.ndarray:
        """``(U, V)``: every cell's probability of being tampered given that the image is
        (:func:`~hyperimage.inference.evidence.model.given_tampered`): where the tampering
        is, apart from how sure the model is that there is any."""
        return given_tampered(self.score, self.cells)

    @property
    def authentic(self) -> bool:
        """Whether the model calls the image authentic: its score at least the model's threshold."""
        return self.score >= self.threshold

    @property
    def title(self) -> str:
        """The drawing's title: the image's name (where known), its score and what the score means."""
        head = f"{self.name}: score {self.score:.3f}" if self.name else f"score {self.score:.3f}"
        return f"{head} ({'authentic' if self.authentic else 'tampered'} at {self.threshold:.3g})\n{self.description}"

    @property
    def panels(self) -> list[Panel]:
        """One panel per channel reading, then the model's map (:data:`TAMPERED`) and the
        same given that the image is tampered (:data:`GIVEN_TAMPERED`)."""
        where = self.evidence.grid.interpolate(self.given_tampered, *self.image.shape[:2])
        return [*self.evidence.panels, Panel(COMBINED, self.image, self.heat, self.scale), Panel(GIVEN, self.image, where, GIVEN_TAMPERED)]

    @cached_property
    def overlay(self) -> Image.Image:
        """The model's map alone over the image, with its colour bar, as an RGB Pillow image
        (as :attr:`Explanation.overlay <hyperimage.inference.predictor.Explanation.overlay>`;
        matplotlib, drawn on first use)."""
        return render_overlay(self.image, self.heat, self.scale, self.title)

    @cached_property
    def drawing(self) -> Image.Image:
        """:attr:`panels` drawn side by side under :attr:`title`, as an RGB Pillow image (drawn on first use)."""
        return render_panels(self.panels, self.title)

    def save(self, path: str | os.PathLike, raw: bool = False) -> Path:
        """Write :attr:`drawing` (every channel's map and the model's) as a PNG to ``path``;
        ``raw`` also writes :attr:`cells` beside it as ``.npy`` and ``.csv``
        (:func:`~hyperimage.inference.explain.save_grid`)."""
        save_png(path, self.drawing)
        if raw:
            save_grid(path, self.cells, self.scale)
        return Path(path)


class ForensicPredictor:
    """A loaded :class:`~hyperimage.inference.evidence.model.ForensicModel` that scores and
    explains images given as files, bytes, streams, Pillow images, arrays or tensors.

    Made by ``hyperimage.load(FOLDER)`` for a forensic model folder; used as a
    :class:`~hyperimage.inference.predictor.Predictor` is: calling it is :meth:`score`,
    ``info`` says what the score means (and ``info.threshold`` the operating threshold).
    Thread safety: use it from one thread at a time.
    """

    heat_scale = TAMPERED

    def __init__(self, model: ForensicModel, name: str | None = None, folder: str | os.PathLike | None = None):
        self.model = model.eval()
        self.folder = None if folder is None else Path(folder)
        self.name = name or (str(self.folder) if self.folder is not None else "forensic model")

    def __repr__(self) -> str:
        return f"ForensicPredictor({self.name!r}: {self.model.description}; {self.device})"

    @property
    def device(self) -> torch.device:
        """Where stage 2's weights are (the channels run on the CPU)."""
        return self.model.device

    def to(self, device: str | torch.device | None) -> "ForensicPredictor":
        """Move stage 2 to ``device`` (``cpu``, ``cuda``, ``mps``, ``auto``/None); returns ``self``."""
        from hyperimage.distributed import local_device

        self.model.to(device if isinstance(device, torch.device) else local_device(device))
        return self

    higher_is_better = SCORE.higher_is_better
    lower_better = not SCORE.higher_is_better

    @cached_property
    def info(self) -> ModelInfo:
        """Task, score name, range, direction, method (``forensic evidence``), its channels (as
        ``preset``, joined by ``+``), threshold and model card of this model."""
        card = self.folder / MODEL_CARD if self.folder is not None else None
        return ModelInfo(
            name=self.name, task=tasks.CLASSIFICATION.name, score_name=SCORE.name, range=self.model.score_range,
            higher_is_better=SCORE.higher_is_better, preset="+".join(self.model.channels), method="forensic evidence",
            description=self.model.description,
            card=card.read_text(encoding="utf-8") if card is not None and card.is_file() else None,
            folder=self.folder, threshold=self.model.threshold,
        )

    def score(self, images: Input | Sequence[Input], batch_size: int = 16) -> float | list[float]:
        """Probability authentic of one image (a float) or of several (a list, in order).

        ``images`` as :meth:`Predictor.score <hyperimage.inference.predictor.Predictor.score>`
        takes them; up to ``batch_size`` are read at a time. Raises
        :class:`~hyperimage.data.io.ImageError` (one line naming the bad image; nothing is
        scored then) or TypeError.
        """
        items, single = labelled_inputs(images)
        scores: list[float] = []
        for start in range(0, len(items), max(1, batch_size)):
            hypers = [self.model.hyper_image(evidence_of(x, label)) for label, x in items[start : start + batch_size]]
            scores += self.model.predict(hypers)[0].tolist()
        return scores[0] if single else scores

    __call__ = score

    def explain(
        self, images: Input | Sequence[Input], channels: str | Sequence[str] | None = None, readout: str | None = None,
    ) -> ForensicExplanation | list[ForensicExplanation]:
        """Score, map and channel readings of one image (a :class:`ForensicExplanation`) or of several (a list).

        ``channels``: the channels whose maps to return (``"all"``, ``"noise,jpeg"`` or a list;
        None: the model's own); each is read once, whether the model uses it or not.
        ``readout`` is accepted for the web server's sake and has no effect: a forensic
        model's map is its stage 2's cells.
        """
        shown = channel_names(channels) if channels is not None else list(self.model.channels)
        items, single = labelled_inputs(images)
        out = []
        for label, x in items:
            evidence = evidence_of(x, label)
            hyper, readings = self.model.read(evidence, shown)
            (score,), (cells,) = self.model.predict([hyper])
            out.append(ForensicExplanation(
                float(score), cells, ChannelEvidence.of(evidence, readings, self.model.grid), self.model.description,
                self.model.threshold, input_name(x) or label,
            ))
        return out[0] if single else out
