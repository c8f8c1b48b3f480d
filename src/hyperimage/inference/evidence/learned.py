"""The learned evidence: the shipped forgery model's stage 1 read at native resolution.

The shipped forgery model (preset ``forgery-fast``) shrinks every image to 384 px before its
stage 1 (a Siamese ranker over the SRM noise residual, Table 4's "Forgery channel") sees it;
a 12 MP photo loses its noise and block traces that way. Here the same stage 1 reads each
cell of the image at its own size through its 64-px patch centred on the cell (on 64-px
cells, the cell itself; on smaller ones, the patches overlap and the image's border is
reflected), on the 8-px lattice its fast path needs
(:class:`~hyperimage.inference.networks.forgery_valid.GridRanker`), so the convolutions run
once per strip of cells and memory stays bounded for any size.

Per cell: the ranker's decision (its patch score, units of the training margin; negative
looks tampered) and the same as a robust z-score against the image's own cells.

The registered channel reads the shipped model; ``LearnedChannel(folder)`` reads the stage 1 of
another forgery model of the same design (e.g. one trained on a benchmark split's training
images, so that no test image was seen: ``benchmarks/evidence_casia.py --learned-model``; or
one whose stage 1 learned from tampering made on the fly), and a forensic model trained with
``hyperimage train-evidence --learned-model`` keeps that folder's stage 1 in its own.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from hyperimage.inference.evidence import CellGrid, Evidence, register
from hyperimage.inference.evidence.noise import robust_z
from hyperimage.inference.model import HyperImageModel
from hyperimage.inference.networks import GridStage1

#: Rows of cells that go through the convolutions at once (a strip of 8 cells at any width).
STRIP_CELLS = 8

#: Side of the stage 1's patch (pixels): each cell is read by the patch centred on it.
PATCH = 64


@lru_cache(maxsize=4)
def grid_stage1(folder: Path) -> GridStage1:
    """The stage 1 of the model in ``folder``, loaded once, in eval mode on the CPU; ValueError
    (naming the folder) unless it has a 64-px fast path (a ``forgery-fast`` design)."""
    model = HyperImageModel.load(folder)
    if not isinstance(model.stage1, GridStage1) or model.config.patch != PATCH:
        raise ValueError(f"{folder}: its stage 1 has no 64-px fast path to read cells with (a forgery-fast model has)")
    return model.stage1.eval()


def shipped_stage1() -> GridStage1:
    """The shipped forgery model's stage 1 (:func:`grid_stage1` of its folder)."""
    from hyperimage.inference.predictor import shipped_folder

    return grid_stage1(shipped_folder(LearnedChannel.shipped_model))


class LearnedChannel:
    """Registered as evidence channel ``learned`` (see the module docstring); ``model``: the
    folder of the forgery model whose stage 1 reads the cells, None for the shipped one."""

    name = "learned"
    features = ("decision", "decision-z")
    """The ranker's decision per cell, and its robust z-score within the image."""
    headline = "decision-z"
    legend = "learned: the shipped forgery model's patch decision against the image's own cells (robust z; below 0 looks tampered)"
    shipped_model = "forgery"

    def __init__(self, model: str | Path | None = None):
        self.model = None if model is None else Path(model)
        if self.model is not None:
            self.shipped_model = None
            self.legend = "learned: a forgery stage 1's patch decision against the image's own cells (robust z; below 0 looks tampered)"

    def stage1(self) -> GridStage1:
        """The stage 1 this channel reads cells with."""
        return shipped_stage1() if self.model is None else grid_stage1(self.model.resolve())

    def __call__(self, evidence: Evidence, grid: CellGrid) -> np.ndarray:
        stage1 = self.stage1()
        cell, u, v = grid.cell, *grid.shape(*evidence.size)
        h, w = evidence.size
        # each cell read by the PATCH-px patch centred on it: origins at i * cell + offset
        offset = (cell - PATCH) // 2
        top = max(0, -offset)
        below, right = ((n - 1) * cell + offset + PATCH - size for n, size in ((u, h), (v, w)))
        pad = ((top, max(0, below)), (top, max(0, right)), (0, 0))
        image = np.pad(evidence.pixels, pad, mode="reflect" if max(pad[0]) < h and max(pad[1]) < w else "edge")
        x = torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0)[None]
        start = offset + top
        decisions = []
        with torch.no_grad():
            for first in range(0, u, STRIP_CELLS):
                rows = min(STRIP_CELLS, u - first)
                y0 = start + first * cell
                strip = x[:, :, y0 : y0 + (rows - 1) * cell + PATCH]
                features = stage1.grid_features(strip, torch.arange(rows) * cell, start + torch.arange(v) * cell)
                decisions.append(stage1.head(features.reshape(-1, features.shape[-1])).view(rows, v))
        decision = torch.cat(decisions).numpy().astype(np.float32)
        return np.stack([decision, robust_z(decision)], axis=2)


register("learned")(LearnedChannel())
