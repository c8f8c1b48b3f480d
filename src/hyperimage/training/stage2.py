"""Stage 2 on cached hyper-images, and the patch-averaging calibration that replaces it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from hyperimage.distributed import SINGLE, World
from hyperimage.inference import tasks
from hyperimage.inference.model import HyperImageModel
from hyperimage.training import augment
from hyperimage.training.augment import Entry
from hyperimage.training.loop import LOSSES, LoopState, Plan, TrainConfig, fit
from hyperimage.training.stage2_rank import RankSpec, combined_loss, with_ranked_sets
from hyperimage.training.store import HyperImageCache


def train_stage2(
    model: HyperImageModel,
    train: HyperImageCache,
    val: HyperImageCache,
    cfg: TrainConfig,
    augmentations: list[Entry],
    checkpoint: Path | None = None,
    progress: bool = True,
    world: World = SINGLE,
    log: Callable[[str], None] | None = None,
    ranking: tuple[HyperImageCache, list[torch.Tensor], RankSpec] | None = None,
) -> LoopState:
    """Train stage 2 on hyper-images streamed from ``train`` and their image targets.

    The targets as the model's task encodes them (:mod:`hyperimage.inference.tasks`): a regression
    trains the loss of ``cfg`` on standardised targets; a classification binary
    cross-entropy on the logit with class weights, so each class carries half the loss
    whatever the balance (CASIA-2 is 59% authentic). ``augmentations`` apply per batch, to
    the global batch before each rank takes its part; each rank validates its share.

    ``ranking`` (a regression only): hyper-images of ranked sets, each set's ``[index, level]``
    rows (:mod:`hyperimage.training.stage2_rank`) and the spec; each batch then adds
    ``spec.sets_per_batch`` random sets, ranked by the hinge in the score's direction.

    A stage 2 that scores cells itself (``start_from_cells``, e.g.
    :class:`~hyperimage.inference.networks.pooling.WeightedPooling`) starts, for a regression,
    from stage 1's output node in its own units: as patch averaging.
    """
    task = model.task
    norm = task.norm(train.targets)
    model.fitted.stage2_norm = norm
    start = getattr(model.stage2, "start_from_cells", None)
    if callable(start) and task.name == tasks.REGRESSION.name:
        (shift1, scale1), (shift2, scale2) = model.fitted.stage1_norm, norm
        head = [m for m in model.stage1.head.modules() if isinstance(m, nn.Linear)]
        if len(head) == 1:
            start(head[0], scale1 / scale2, (shift1 - shift2) / scale2)
    cfg = replace(cfg, loss=task.loss or cfg.loss)
    ty, vy = task.encode(train.targets, norm), task.encode(val.targets, norm)
    loss_fn = LOSSES.get(cfg.loss)
    if ranking is not None and ty.ndim != 1:
        raise ValueError(f"synthetic rankings need a regression task, not {model.config.task!r}")

    def batches(gen: torch.Generator):
        order = torch.randperm(len(ty), generator=gen)
        for start in range(0, len(order), cfg.batch_size):
            b = order[start : start + cfg.batch_size]
            x, y = train.read(b), ty[b]
            if ranking is not None:
                x, y = with_ranked_sets(x, y, *ranking, model.config.score.higher_is_better, gen)
            yield world.part(augment.apply(augmentations, x, gen)), world.part(y)

    mine = torch.arange(world.rank, len(val), world.size)

    def validate() -> tuple[float, float]:
        pred = torch.cat([model.stage2(val.read(n).to(world.device)).cpu() for n in mine.split(64)])
        weight = vy[mine, 1].sum() if vy.ndim == 2 else torch.tensor(float(len(mine)))
        return float(loss_fn(pred, vy[mine])) * float(weight), float(weight)

    plan = None if log is None else Plan("stage 2", "hyper-images", len(ty), -(-len(ty) // cfg.batch_size), log)
    loss = combined_loss(loss_fn, ranking[2]) if ranking is not None else None
    return fit(model.stage2, batches, validate, cfg, checkpoint, desc="stage 2", progress=progress, world=world, plan=plan, loss=loss)


def calibrate_average(model: HyperImageModel, means: torch.Tensor, targets: torch.Tensor) -> None:
    """Patch averaging: map the mean patch score of each training image to its target, as
    the model's task fits it (a least-squares line, or a class-weighted logistic regression
    whose intercept and slope turn the mean score into a logit)."""
    model.fitted.stage2_norm = model.task.calibrate(means.double().numpy(), targets.double().numpy())
