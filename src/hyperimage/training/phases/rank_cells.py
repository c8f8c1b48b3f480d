"""RankIQA pre-training (``shared/papers/related-methods.md``) of a stage 1 over a frozen
pre-trained trunk, the way that stage 1 scores: through the whole-image grid cells.

RankIQA starts from an ImageNet network, learns to rank synthetic distortions of unlabelled
photos, then fine-tunes on the labels. The ``rank`` phase ranks cut-out patches, which a
trunk stage 1 never scores (it reads every cell off one pass over the whole image, with
context; docs/method.md, "Table 2 exp. 5"). This phase ranks whole images instead: ranked sets of
pristine photos, one TID2013 type at levels 1-5 plus the photo itself, made by the photo
benchmark's generator as :mod:`~hyperimage.training.stage2_rank` makes them; each image's
score is the mean of its cells' scores, and RankIQA's all-pairs hinge
(:func:`~hyperimage.training.ranking_losses.rank_hinge`) asks a milder level to score better
within its set (higher, or lower for a lower-is-better score such as LIVE's DMOS). The
trunk's values of the ranked images are computed once (the trunk is frozen), so epochs
train only the dense layers. The ``cells`` phase then fine-tunes them on the labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from hyperimage.inference.networks import TrunkStage1
from hyperimage.training import stage2_rank
from hyperimage.training.loop import LoopState, fit
from hyperimage.training.phases import PhaseRun, register
from hyperimage.training.phases.cells import fit_trunk_norm
from hyperimage.training.phases.rank import pair_errors
from hyperimage.training.stage2_rank import RankSpec
from hyperimage.training.store import HyperImageCache, ImageStore

VAL_SHARE = 0.2
"""Share of the ranked sets held out to stop on (the share of their pairs ranked wrong)."""


class MeanCellScore(nn.Module):
    """An image's score from cached trunk values ``(B, depth, U, V)``: the mean of ``stage1``'s cell scores, ``(B,)``."""

    def __init__(self, stage1: TrunkStage1):
        super().__init__()
        self.stage1 = stage1

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        features = self.stage1.from_trunk(cells.permute(0, 2, 3, 1))
        return self.stage1.head(features.reshape(-1, features.shape[-1])).view(len(cells), -1).mean(dim=1)


@dataclass(frozen=True)
class RankCellsArgs:
    """The settings of the ``rank-cells`` phase: those of :class:`~hyperimage.training.stage2_rank.RankSpec`
    that say which ranked sets are made."""

    photos: str | None = RankSpec.photos
    """Folder of pristine photos (e.g. from ``hyperimage photos``); ``None``: the built-in photos."""
    types: str | tuple[int, ...] = RankSpec.types
    """TID2013 distortion numbers, or a named set of them: ``"live"``, the four uniform types
    TID2013 shares with LIVE (noise, blur, JPEG, JPEG 2000), ``"all"``, or another of
    :data:`~hyperimage.data.generators.iqa_photos.TYPE_SETS`."""
    localized: int = 0
    """Region-mask versions of each (photo, type) beside the whole-image one; 0: damage over the
    whole image only, which a mean over the cells ranks without knowing where it is."""
    size: tuple[int, int] = RankSpec.size
    """(height, width) the photos are scaled and centre-cropped to."""


@register("rank-cells", args=RankCellsArgs)
def train_rank_cells(run: PhaseRun) -> LoopState:
    """RankIQA pre-training of a frozen-trunk stage 1 on whole-image ranked sets (settings:
    :class:`RankCellsArgs`). Each batch holds ``batch_size // 6`` sets; the standardisation of the
    trunk's values is fitted on the labelled training images, as the ``cells`` phase fits it."""
    model, world = run.model, run.world
    stage1 = model.stage1
    if not (isinstance(stage1, TrunkStage1) and stage1.frozen):
        raise ValueError(f"phase 'rank-cells' needs a stage 1 over a frozen trunk; {model.config.stage1!r} is not one")
    spec = RankSpec(**asdict(run.args))
    cache = run.train_store.folder.parent  # the run's work folder, beside the training images' store
    folder = cache / "rank-cells-images"
    stage2_rank.check_photos(spec, folder, "phase rank-cells:")

    def make() -> tuple[ImageStore, HyperImageCache]:
        store = ImageStore.prepare(stage2_rank.ranked_records(spec, folder, run.spec.train.seed), model, cache / "rank-cells", None)
        values = HyperImageCache.build(
            store, model, cache, "rank-cells-trunk", 2048, features=stage1.trunk_grid, depth=stage1.trunk_depth
        )
        return store, values

    def open_() -> tuple[ImageStore, HyperImageCache]:  # what rank 0 made in the shared work folder
        store = ImageStore(cache / "rank-cells", stage2_rank.ranked_records(spec, folder, run.spec.train.seed), model.grid)
        return store, HyperImageCache(cache, "rank-cells-trunk", store.targets)

    store, trunk = world.made_once(run.checkpoint is not None, make, open_)
    fit_trunk_norm(stage1, run.train_store)
    sets = stage2_rank.ranked_sets(store.records)
    order = torch.randperm(len(sets), generator=torch.Generator().manual_seed(run.spec.train.seed))
    n_val = max(1, int(round(VAL_SHARE * len(sets))))
    val_sets, train_sets = [sets[i] for i in order[:n_val]], [sets[i] for i in order[n_val:]]
    if not train_sets:
        raise ValueError("phase 'rank-cells': too few ranked sets to hold some out (more photos or types)")
    cfg = replace(run.spec.train, loss="rank")
    per_batch = max(1, cfg.batch_size // len(sets[0]))

    sign = -1.0 if model.config.score.higher_is_better else 1.0  # the rank column: a milder level ranks above

    def rows(chosen: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Trunk values of the sets' images and their ``[rank, set]`` targets."""
        members = torch.cat([torch.cat([s, torch.full((len(s), 1), float(j))], dim=1) for j, s in enumerate(chosen)])
        return trunk.read(members[:, 0].long()), torch.stack([sign * members[:, 1], members[:, 2]], dim=1)

    module = MeanCellScore(stage1)

    def batches(gen: torch.Generator):
        picks = torch.randperm(len(train_sets), generator=gen)
        for start in range(0, len(picks), per_batch):
            x, y = rows([train_sets[i] for i in picks[start : start + per_batch].tolist()])
            mine = y[:, 1].long() % world.size == world.rank  # whole sets per rank: pairs stay within a rank
            yield x[mine], y[mine]

    val_x, val_y = rows(val_sets)

    def validate() -> tuple[float, float]:
        module.eval()
        with torch.no_grad():
            return pair_errors(module(val_x.to(world.device)).cpu(), val_y)

    return fit(
        module, batches, validate, cfg, run.checkpoint, desc="stage 1 (ranking, cells)", progress=run.progress,
        world=world, plan=run.plan(
            "stage 1 (ranking pre-training over the cells)", "ranked images", sum(map(len, train_sets)), per_batch * len(sets[0])
        ),
    )
