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
from a data set's records (``hyperimage train-evidence``, :func:`hyperimage.api.train_evidence`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn import metrics

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.io import ImageError, load_image
from hyperimage.inference.evidence import CellGrid, Evidence
from hyperimage.inference.evidence.model import ForensicModel, Norm, predict, standardise
from hyperimage.inference.networks.evidence import EvidenceStage2
from hyperimage.inference.scoring import same_size
from hyperimage.training.augment.hide import hide_cells


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
    """The mean over stage 2's members of each one's loss (each learns on its own, as a deep
    ensemble's members do)."""
    image_logits, cell_logits = net.member_outputs(x)
    members = image_logits.shape[1]
    loss = F.binary_cross_entropy_with_logits(
        -image_logits, y[:, None].expand(-1, members), weight=weights[y.long()][:, None].expand(-1, members)
    )
    if cell_weight and known.any():
        target = cells[known][:, None].expand(-1, members, -1, -1)
        loss = loss + cell_weight * F.binary_cross_entropy_with_logits(cell_logits[known], target)
    return loss


def train_evidence_stage2(
    train: list[EvidenceItem], val: list[EvidenceItem], epochs: int = 40, lr: float = 1e-3, batch_size: int = 16,
    cell_weight: float = 1.0, width: int = 32, seed: int = 0, on_epoch: Callable[[int, float, float], None] | None = None,
    members: int = 1, hide: float = 0.0,
) -> tuple[EvidenceStage2, Norm]:
    """Stage 2 of ``members`` networks (:class:`EvidenceStage2`) trained on ``train`` (Adam,
    ``epochs``), the epoch of the lowest loss on ``val`` kept; returns it in eval mode with the
    feature standardisation it expects. ``hide``: Hide-and-Seek (Singh & Lee 2017,
    :func:`~hyperimage.training.augment.hide.hide_cells`): each cell of a training hyper-image
    hidden with this probability, set to the training mean (0 once standardised), its label
    kept, so that stage 2 weighs all the evidence rather than the one most telling cell.
    ``on_epoch`` hears each epoch's number (from 1), mean training loss and mean validation loss."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    norm = feature_norm(train)
    net = EvidenceStage2(train[0].hyper.shape[0], width, members=members)
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
            x, y, cells, known = _tensors(train, idx, norm)
            if hide:
                x = hide_cells(x, gen, probability=hide, cell=1, value=0.0)
            loss = _loss(net, x, y, cells, known, weights, cell_weight)
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


#: The channels ``hyperimage train-evidence`` reads by default: all four of issue 31.
DEFAULT_CHANNELS = ("noise", "jpeg", "copy-move", "learned")

#: ``hyperimage train-evidence``'s stage 2: five members, each training cell hidden with
#: probability 0.4; on CASIA v1 re-saved at 75 the two together beat either alone
#: (``docs/results/forgery.md``, table ``evidence-stage2-variants``).
DEFAULT_MEMBERS, DEFAULT_HIDE = 5, 0.4

#: Images between two progress lines while the channels read a data set.
PROGRESS_EVERY = 50


def mask_cells(record: ImageRecord, shape: tuple[int, int], grid: CellGrid) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The tampered mask of ``record`` at the image's ``shape`` ``(H, W)`` (nearest-neighbour
    resized where it was drawn at another size) and its tampered share per cell, or
    ``(None, None)`` without a mask."""
    if record.mask is None:
        return None, None
    mask = load_image(record.mask, mode="L") > 0.5
    if mask.shape != shape:
        mask = np.asarray(Image.fromarray(mask).resize(shape[::-1], Image.NEAREST))
    return mask, grid.pool(mask.astype(np.float32))


def balanced_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The score from which an image is called authentic (label 1) with the best balanced
    accuracy on ``scores`` / ``labels``: the ROC point of largest ``tpr - fpr`` among the
    scores themselves (the infinite cut that calls every image tampered left out); 0.5 where
    the labels hold one class only."""
    authentic = np.asarray(labels) > 0.5
    if authentic.all() or not authentic.any():
        return 0.5
    fpr, tpr, cuts = metrics.roc_curve(authentic, scores)
    finite = np.isfinite(cuts)
    return float(cuts[finite][np.argmax((tpr - fpr)[finite])])


@dataclass
class ForensicFit:
    """What :func:`train_forensic` made: the ``model`` and the ``report`` of the run (counts,
    skipped images, each epoch's losses, the threshold and the validation figures at it)."""

    model: ForensicModel
    report: dict


def train_forensic(
    records: list[ImageRecord],
    channels: Sequence[str] = DEFAULT_CHANNELS,
    epochs: int = 40,
    seed: int = 0,
    cell_weight: float = 1.0,
    width: int = 32,
    lr: float = 1e-3,
    grid: CellGrid = CellGrid(),
    members: int = DEFAULT_MEMBERS,
    hide: float = DEFAULT_HIDE,
    log: Callable[[str], None] = lambda line: None,
    every: int = PROGRESS_EVERY,
    learned_model: Path | None = None,
) -> ForensicFit:
    """A :class:`~hyperimage.inference.evidence.model.ForensicModel` over ``channels``, trained
    on the ``train`` records and checked on the ``val`` ones (each record's ``split``; targets
    1 authentic, 0 tampered; masks, where known, give the cells' labels).

    The channels read every image at its own size, as stored (:meth:`Evidence.read`), with a
    line to ``log`` every ``every`` images; an image that cannot be read is one line there and
    left out. Stage 2 is trained by :func:`train_evidence_stage2` (``epochs``, ``lr``,
    ``cell_weight``, ``width``, ``members``, ``hide``, ``seed``; a line per epoch), and the threshold is the score of
    best balanced accuracy on the validation images (:func:`balanced_threshold`).
    ``learned_model``: the forgery model folder whose stage 1 the ``learned`` channel reads
    (default: the shipped model's), kept in the model's folder when it is saved.
    """
    if not channels:
        raise ValueError("no evidence channel to train on")
    # refuses unknown channels and a stage 1 it cannot read before any image is read
    model = ForensicModel(channels, cell=grid.cell, width=width, members=members, learned_model=learned_model)
    chosen = [r for r in records if r.split in ("train", "val")]
    items: dict[str, list[EvidenceItem]] = {"train": [], "val": []}
    skipped = []
    for n, r in enumerate(chosen, start=1):
        try:
            evidence = Evidence.read(r.path)
        except ImageError as err:
            skipped.append(str(err))
            log(f"left out: {err}")
            continue
        items[r.split].append(EvidenceItem(model.hyper_image(evidence), r.target, mask_cells(r, evidence.size, grid)[1]))
        if n % every == 0 or n == len(chosen):
            log(f"evidence of {n}/{len(chosen)} images")
    for split, got in items.items():
        labels = {i.label > 0.5 for i in got}
        if split == "train" and labels != {False, True}:
            raise ValueError(f"the {split} images hold {'no' if not got else 'one class of'} images; "
                             "a forensic model needs authentic (1) and tampered (0) ones")
        if not got:
            raise ValueError(f"no {split} images: a forensic model keeps the epoch of lowest validation loss")
    history = []

    def epoch_done(epoch: int, train_loss: float, val_loss: float) -> None:
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        log(f"epoch {epoch}/{epochs}: train loss {train_loss:.4f}, validation loss {val_loss:.4f}")

    net, norm = train_evidence_stage2(
        items["train"], items["val"], epochs=epochs, lr=lr, cell_weight=cell_weight, width=width, seed=seed, on_epoch=epoch_done,
        members=members, hide=hide,
    )
    val_scores = predict(net, norm, [i.hyper for i in items["val"]])[0]
    val_labels = np.array([i.label for i in items["val"]])
    threshold = float(np.clip(balanced_threshold(val_scores, val_labels), 0.0, 1.0))
    model.stage2.load_state_dict(net.state_dict())
    model.mean.copy_(torch.from_numpy(norm[0]))
    model.std.copy_(torch.from_numpy(norm[1]))
    model.threshold = threshold
    authentic = val_labels > 0.5
    called = val_scores >= threshold
    report = {
        "channels": list(channels), "cell": grid.cell, "epochs": epochs, "seed": seed, "cell_weight": cell_weight, "width": width,
        "members": members, "hide": hide, "learned_model": None if learned_model is None else str(learned_model),
        "n_train": len(items["train"]), "n_val": len(items["val"]), "skipped": skipped, "history": history,
        "threshold": threshold,
        "val_balanced_accuracy": float((called[authentic].mean() + (~called[~authentic]).mean()) / 2)
        if authentic.any() and (~authentic).any() else None,
    }
    return ForensicFit(model.eval(), report)
