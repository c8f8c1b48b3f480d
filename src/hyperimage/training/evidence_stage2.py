"""Training stage 2 over forensic hyper-images (:mod:`hyperimage.inference.networks.evidence`).

The evidence channels need no training; stage 2 learns how their cells combine into an image
label. Each training image gives its hyper-image ``(D, U, V)`` (any size), its label (1
authentic, 0 tampered, as CASIA's) and, where its mask is known, the share of each cell that
was tampered. The loss is the class-weighted cross-entropy of the image's logit plus, at
``cell_weight``, that of each cell's tampered logit against "more than half of the cell was
tampered" (zero for every cell of an authentic image): the masks teach stage 2 where to look,
which is also its heat map. Inputs are standardised per feature with statistics of the
training cells (:func:`~hyperimage.inference.evidence.model.standardise`, which scoring
applies too). Images of one grid size form a batch; the epoch with the lowest validation loss
is kept. A trained stage 2 scores with :func:`hyperimage.inference.evidence.model.predict`, and
:func:`train_forensic` makes a whole :class:`~hyperimage.inference.evidence.model.ForensicModel`
from a data set folder.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from hyperimage.inference.evidence.model import Norm, standardise
from hyperimage.inference.networks.evidence import EvidenceStage2
from hyperimage.inference.scoring import same_size


@dataclass
class EvidenceItem:
    """One image for stage 2: ``hyper`` ``(D, U, V)``, ``label`` (1 authentic), ``cells``
    ``(U, V)`` tampered share per cell or None where no mask is known."""

    hyper: np.ndarray
    label: float
    cells: np.ndarray | None = None


def feature_norm(items: list[EvidenceItem]) -> Norm:
    """Mean and standard deviation (1 where constant) of every feature over the cells of ``items``."""
    cells = np.concatenate([i.hyper.reshape(i.hyper.shape[0], -1) for i in items], axis=1)
    std = cells.std(axis=1)
    return cells.mean(axis=1).astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def _batches(items: list[EvidenceItem], size: int, rng: np.random.Generator | None) -> list[list[int]]:
    """Indices of ``items`` in batches of at most ``size`` of one grid shape (shuffled with ``rng``)."""
    batches = []
    for members in same_size([i.hyper for i in items]):
        order = rng.permutation(members).tolist() if rng is not None else members
        batches += [order[i : i + size] for i in range(0, len(order), size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def _tensors(items: list[EvidenceItem], idx: list[int], norm: Norm):
    x = standardise([items[k].hyper for k in idx], norm)
    y = torch.tensor([items[k].label for k in idx], dtype=torch.float32)
    shape = items[idx[0]].hyper.shape[1:]
    known = torch.tensor([items[k].cells is not None or items[k].label > 0.5 for k in idx])
    cells = torch.from_numpy(np.stack([
        (items[k].cells > 0.5).astype(np.float32) if items[k].cells is not None else np.zeros(shape, np.float32) for k in idx
    ]))
    return x, y, cells, known


def _loss(net: EvidenceStage2, x, y, cells, known, weights: torch.Tensor, cell_weight: float) -> torch.Tensor:
    cell_logits = net.cells(x)
    image = F.binary_cross_entropy_with_logits(-net.pool(cell_logits), y, weight=weights[y.long()])
    if cell_weight and known.any():
        per_cell = F.binary_cross_entropy_with_logits(cell_logits[known], cells[known])
        image = image + cell_weight * per_cell
    return image


def train_evidence_stage2(
    train: list[EvidenceItem], val: list[EvidenceItem], epochs: int = 40, lr: float = 1e-3, batch_size: int = 16,
    cell_weight: float = 1.0, width: int = 32, seed: int = 0, on_epoch: Callable[[int, float, float], None] | None = None,
) -> tuple[EvidenceStage2, Norm]:
    """Stage 2 trained on ``train`` (Adam, ``epochs``), the epoch of the lowest loss on ``val``
    kept; returns it in eval mode with the feature standardisation it expects. ``on_epoch``
    hears each epoch's number (from 1), mean training loss and mean validation loss."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    norm = feature_norm(train)
    net = EvidenceStage2(train[0].hyper.shape[0], width)
    labels = np.array([i.label for i in train])
    counts = np.array([(labels <= 0.5).sum(), (labels > 0.5).sum()]).clip(min=1)
    weights = torch.tensor(len(labels) / (2.0 * counts), dtype=torch.float32)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    best, best_loss = copy.deepcopy(net.state_dict()), float("inf")
    val_batches = _batches(val, batch_size, None)
    for epoch in range(1, epochs + 1):
        net.train()
        seen = 0.0
        for idx in _batches(train, batch_size, rng):
            optimiser.zero_grad()
            loss = _loss(net, *_tensors(train, idx, norm), weights, cell_weight)
            loss.backward()
            optimiser.step()
            seen += float(loss.detach()) * len(idx)
        net.eval()
        with torch.no_grad():
            total = sum(float(_loss(net, *_tensors(val, idx, norm), weights, cell_weight)) * len(idx) for idx in val_batches)
        if on_epoch is not None:
            on_epoch(epoch, seen / len(train), total / max(1, len(val)))
        if total < best_loss:
            best, best_loss = copy.deepcopy(net.state_dict()), total
    net.load_state_dict(best)
    return net.eval(), norm
