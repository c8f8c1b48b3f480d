"""RankIQA pre-training (Liu et al. 2017, ``shared/papers/related-methods.md``): stage 1 learns
to rank patches of one photo distorted by one type at several levels, from pairs generated
on the fly, before it is fine-tuned on labels (e.g. by the ``windows`` phase after it).

Ranking needs no human label, so the pairs are unlimited: each group is a random crop of a
pristine photo, distorted by one TID2013 type (:mod:`hyperimage.data.distortions`) at each
of its levels, preprocessed like the model's images, the centre patch cut out. The loss is
RankIQA's efficient all-pairs hinge over the groups of a batch
(:func:`~hyperimage.training.ranking_losses.rank_hinge`): a milder level must score higher.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from hyperimage.data import distortions
from hyperimage.inference.model import HyperImageModel
from hyperimage.training.crops import PhotoCrops, pristine_photos
from hyperimage.training.loop import LoopState, fit
from hyperimage.training.phases import PhaseRun, register


def default_types(channels: int) -> list[int]:
    """The uniform TID2013 types (local ones damage only part of a photo, so a patch may not
    see them), without the colour-only ones for a gray model; the other implementations of
    :mod:`~hyperimage.data.distortions.implementations` only where named."""
    return [
        d.number for d in distortions.available()
        if d.number <= distortions.TID2013_TYPES and d.uniform and (channels == 3 or not d.colour_only)
    ]


class RankingGroups:
    """Generates groups of patches ranked by distortion level, for one model's patches."""

    def __init__(self, model: HyperImageModel, photos: list[np.ndarray], types: list[int], levels: list[int]):
        self.crops, self.types, self.levels = PhotoCrops(model, photos), types, sorted(levels)

    def draw(self, groups: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``groups`` groups: patches ``(G * L, C, p, p)`` and targets ``(G * L, 2)`` ``[-level, group]``."""
        crops, targets = [], []
        for g in range(groups):
            crop = self.crops.crop(rng)
            kind = self.types[rng.integers(len(self.types))]
            for level in self.levels:
                crops.append(np.clip(distortions.distort(crop, kind, level, rng), 0.0, 1.0))
                targets.append((-float(level), float(g)))
        return self.crops.patches(crops), torch.tensor(targets)


def pair_errors(scores: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """Ordered pairs within a group that ``scores`` rank the wrong way (ties count half), and all of them."""
    rank, group = targets[:, 0], targets[:, 1]
    above = (rank[:, None] > rank[None, :]) & (group[:, None] == group[None, :])
    diff = scores[:, None] - scores[None, :]
    wrong = (diff[above] < 0).float().sum() + 0.5 * (diff[above] == 0).float().sum()
    return float(wrong), float(above.sum())


@dataclass(frozen=True)
class RankArgs:
    """The settings of the ``rank`` phase."""

    photos: str | None = None
    """Folder of pristine photos to crop from (e.g. from ``hyperimage photos``); ``None``: the
    built-in photos. RankIQA draws on thousands; a few photos give stage 1 little to generalise from."""
    types: tuple[int, ...] | None = None
    """TID2013 distortion numbers to rank; ``None``: :func:`default_types`, the uniform ones the
    model's channels can show (a local type may miss the patch)."""
    levels: tuple[int, ...] = tuple(range(1, distortions.NUM_LEVELS + 1))
    """Distortion levels of each group, ranked milder above stronger."""
    groups: int = 256
    """Ranked groups per epoch (new ones each epoch: ranking needs no label, so they are unlimited)."""
    val_groups: int = 64
    """Fixed validation groups the stopping error is measured on."""


@register("rank", args=RankArgs)
def train_rank(run: PhaseRun) -> LoopState:
    """RankIQA pre-training of stage 1 (settings: :class:`RankArgs`).

    Each batch holds ``batch_size // len(levels)`` groups; the validation error is the share
    of ordered pairs of a fixed set of validation groups ranked the wrong way.
    """
    model, world, args = run.model, run.world, run.args
    levels = list(args.levels)
    photos = pristine_photos(args.photos, model.config.image_mode)
    types = list(args.types) if args.types is not None else default_types(model.config.channels)
    source = RankingGroups(model, photos, types, levels)
    cfg = replace(run.spec.train, loss="rank")
    per_batch = max(1, cfg.batch_size // len(levels))
    groups = args.groups
    val_x, val_y = source.draw(args.val_groups, np.random.default_rng(cfg.seed + 10_000))

    def batches(gen: torch.Generator):
        rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen)))
        for _ in range(-(-groups // per_batch)):
            x, y = source.draw(per_batch, rng)
            mine = y[:, 1].long() % world.size == world.rank  # whole groups per rank: pairs stay within a rank
            yield x[mine], y[mine]

    def validate() -> tuple[float, float]:
        scores = torch.cat([model.stage1(val_x[i : i + 512].to(world.device)).cpu() for i in range(0, len(val_x), 512)])
        return pair_errors(scores, val_y)

    return fit(
        model.stage1, batches, validate, cfg, run.checkpoint, desc="stage 1 (ranking)", progress=run.progress, world=world,
        plan=run.plan("stage 1 (ranking pre-training)", "ranked patches", groups * len(levels), per_batch * len(levels)),
    )
