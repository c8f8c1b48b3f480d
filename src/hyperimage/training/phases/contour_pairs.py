"""Forgery stage 1 ("Experiment 2"): the Siamese ranker on contour patch pairs."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np
import torch

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.forgery_patches import pairs_from_records
from hyperimage.inference.model import HyperImageModel
from hyperimage.training import augment
from hyperimage.training.loop import LoopState, fit
from hyperimage.training.phases import PhaseRun, register
from hyperimage.training.ranking_losses import PairDecision, shuffle_pairs

#: Augmentations of a contour pair when the recipe names none.
DEFAULT_AUGMENT = ["dihedral"]


def patches_tensor(images: np.ndarray) -> torch.Tensor:
    """``(K, p, p[, C])`` NumPy patches -> ``(K, C, p, p)`` float32 tensor."""
    t = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    return t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()


@register("contour-pairs")
def train_ranker(run: PhaseRun) -> LoopState:
    """The Siamese ranker on contour patch pairs.

    Every tampered record with a mask and its authentic reference gives the paper's 15
    pairs of ``patch``-px patches centred on the tampering's contour
    (:func:`~hyperimage.data.forgery_patches.pairs_from_records`); :func:`fit_ranker` trains on
    them, the same pairs every epoch.
    """
    model = run.model
    if model.config.preprocess != "none":
        raise ValueError("contour-pair training cuts patches from raw images: use preprocess 'none'")
    rng = np.random.default_rng(run.spec.train.seed)
    size, mode = model.config.patch, model.config.image_mode
    train_pairs = pairs_from_records(run.train_records, rng, size=size, mode=mode)
    val_pairs = pairs_from_records(run.val_records, rng, size=size, mode=mode)
    authentic, tampered = patches_tensor(train_pairs.authentic), patches_tensor(train_pairs.tampered)
    val = patches_tensor(val_pairs.authentic), patches_tensor(val_pairs.tampered)
    return fit_ranker(run, lambda gen: (authentic, tampered), val, "stage 1 (contour pairs)")


def fit_ranker(
    run: PhaseRun,
    epoch_pairs: Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]],
    val: tuple[torch.Tensor, torch.Tensor],
    what: str,
) -> LoopState:
    """Train ``run.model.stage1``, a Siamese ranker, on (authentic, tampered) patch pairs
    ``(N, C, p, p)`` each: ``epoch_pairs(gen)`` gives an epoch's (the same ones, or new ones).

    The mean patch of the first epoch's pairs is stored in the ranker and subtracted from every
    patch; each training pair goes through the phase's augmentations (default: one of the 8
    flips/rotations, both patches alike) and gets a random order
    (:func:`~hyperimage.training.ranking_losses.shuffle_pairs`); the loss is the Siamese hinge
    with delta = 3. The validation error is the share of the ``val`` pairs ranked the wrong way
    (half in each order): the hinge itself is dominated by a few confident mistakes.
    Afterwards the ranker's reference feature (what a single patch is compared with at test
    time) is set to the mean feature of the first epoch's patches.
    """
    model, world = run.model, run.world
    ranker = model.stage1
    cfg = replace(run.spec.train, loss="siamese")
    augmentations = DEFAULT_AUGMENT if run.spec.augment is None else run.spec.augment
    first_epoch = torch.cat(epoch_pairs(torch.Generator().manual_seed(cfg.seed)))
    ranker.set_input_mean(first_epoch)
    val_a, val_t = val
    val_y = torch.where(torch.arange(len(val_a)) % 2 == 0, 1.0, -1.0)
    first = (val_y > 0).view(-1, 1, 1, 1)
    val_x = torch.stack([torch.where(first, val_a, val_t), torch.where(first, val_t, val_a)], dim=1)
    decision = PairDecision(ranker)

    def batches(gen: torch.Generator):
        authentic, tampered = epoch_pairs(gen)
        order = torch.randperm(len(authentic), generator=gen)
        for start in range(0, len(order), cfg.batch_size):
            b = order[start : start + cfg.batch_size]
            pair = augment.apply(augmentations, torch.stack([authentic[b], tampered[b]], dim=1), gen)
            c1, c2, y = shuffle_pairs(pair[:, 0], pair[:, 1], gen)
            yield world.part(torch.stack([c1, c2], dim=1)), world.part(y)

    def validate() -> tuple[float, float]:
        pred = torch.cat([decision(val_x[i : i + 256].to(world.device)).cpu() for i in range(0, len(val_x), 256)])
        return float((pred * val_y <= 0).sum()), float(len(pred))

    state = fit(
        decision, batches, validate, cfg, run.checkpoint, desc=what, progress=run.progress, world=world,
        plan=run.plan(what, "patch pairs", len(first_epoch) // 2, cfg.batch_size),
    )
    with torch.no_grad():
        ranker.set_reference(
            torch.cat([ranker.forward_features(first_epoch[i : i + 512].to(world.device)) for i in range(0, len(first_epoch), 512)])
        )
    return state


@torch.no_grad()
def contour_pair_metrics(
    model: HyperImageModel, records: Sequence[ImageRecord], seed: int = 0, batch: int = 256
) -> dict[str, float]:
    """Stage 1 of a forgery model alone, on the contour pairs of ``records`` (e.g. test images).

    Two figures that separate what stage 1 learned from what the image-level score makes of
    it: ``pair_accuracy``, the share of (tampered, authentic) patch pairs at the same contour
    point that the Siamese decision ranks the right way (the task it was trained on), and
    ``patch_auc``, the ROC AUC of the single-patch scores ``d(C, r)`` that the hyper-image
    read-out uses, authentic against tampered patches, with no partner to compare with.
    ``model`` should be in eval mode (as training returns it), or dropout blurs both.
    """
    from sklearn.metrics import roc_auc_score

    ranker = model.stage1
    pairs = pairs_from_records(records, np.random.default_rng(seed), size=model.config.patch, mode=model.config.image_mode)
    a, t = patches_tensor(pairs.authentic), patches_tensor(pairs.tampered)
    feats = [torch.cat([ranker.forward_features(x[i : i + batch]) for i in range(0, len(x), batch)]) for x in (a, t)]
    decided = ranker.compare(feats[0], feats[1])
    single = torch.cat([ranker.head(f) for f in feats]).numpy()
    truth = np.r_[np.ones(len(a)), np.zeros(len(t))]
    return {"pair_accuracy": float((decided > 0).float().mean()), "patch_auc": float(roc_auc_score(truth, single))}
