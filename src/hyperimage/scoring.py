"""Scoring images with a trained model: deterministic, batched, and tolerant of bad files.

Every image is read and validated on its own; a file that cannot be used gets an error
line naming it and the rest are still scored. Images of one size are scored together in
batches; there are no random crops, so the same image always gets the same score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import torch

from .datasets.records import ImageRecord
from .io import ImageError
from .model import HyperImageModel
from .pipeline import read_image
from .protocol import classification_metrics, correlations


@dataclass(frozen=True)
class Prediction:
    """The score of one file, or why it has none."""

    path: Path
    score: float | None
    error: str | None = None


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def score_files(model: HyperImageModel, paths: Iterable[str | Path], batch_size: int = 16) -> Iterator[Prediction]:
    """Score image files in order, yielding one :class:`Prediction` per file as batches finish."""
    model.eval()
    for chunk in _chunks(list(paths), batch_size):
        loaded: dict[tuple[int, ...], list[tuple[int, torch.Tensor]]] = {}
        results: list[Prediction | None] = [None] * len(chunk)
        for i, path in enumerate(chunk):
            try:
                img = read_image(ImageRecord(path=Path(path), target=0.0), model.config, model.grid)
                loaded.setdefault(tuple(img.shape), []).append((i, img))
            except ImageError as err:
                results[i] = Prediction(Path(path), None, str(err))
        with torch.no_grad():
            for items in loaded.values():
                scores = model.clip(model(torch.stack([img for _, img in items])))
                for (i, _), s in zip(items, scores.tolist()):
                    results[i] = Prediction(Path(chunk[i]), float(s))
        yield from results  # type: ignore[misc]


def evaluate_records(model: HyperImageModel, records: Sequence[ImageRecord], batch_size: int = 16) -> dict:
    """Metrics of a model on records; unreadable images are listed, not scored.

    SROCC / PLCC / KROCC for a regression model; accuracy, balanced accuracy, ROC AUC and F1
    (:func:`~hyperimage.protocol.classification_metrics`) for a classifier.
    """
    preds = list(score_files(model, [r.path for r in records], batch_size))
    pairs = [(p.score, r.target) for p, r in zip(preds, records) if p.score is not None]
    measure = classification_metrics if model.config.task == "classification" else correlations
    metrics = measure([p for p, _ in pairs], [t for _, t in pairs]) if len(pairs) > 1 else {}
    return {
        **metrics,
        "n": len(pairs),
        "errors": [p.error for p in preds if p.error is not None],
        "higher_is_better": model.config.score.higher_is_better,
    }
