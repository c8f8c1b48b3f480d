"""Training the two stages on a list of records (section "Proposed approach").

1. The images are prepared once into an on-disk store (:class:`~.store.ImageStore`):
   read, validated, scaled down if above the model's maximum size, preprocessed, with their
   window labels.
2. The recipe's stage-1 phases run in order (:mod:`hyperimage.training.phases`), each with
   its own checkpoint: e.g. grid windows labelled by the window-label rule, or contour pairs.
3. The trained stage 1 turns every image into a hyper-image ``(D, U, V)``, cached on disk
   (:class:`~.store.HyperImageCache`).
4. Stage 2 trains on the cached hyper-images and image targets. The patch-averaging baseline
   instead fits one line from the mean patch score to the image target on the training
   images (it changes no ranking, only puts scores in the targets' units).

Targets are standardised with training statistics for both stages; the shift and scale, and
the targets' range scores are clipped to, are what training fits
(:class:`~hyperimage.inference.model.Fitted`), kept apart from the config (the caller's is never
changed), so saved models predict in the original units.
"""

from __future__ import annotations

import copy
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import torch

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.distributed import SINGLE, World
from hyperimage.inference.model import Fitted, HyperImageModel, ModelConfig
from hyperimage.storage import CHECKPOINTS
from hyperimage.training import phases, stage2_rank
from hyperimage.training.loop import LoopState
from hyperimage.training.recipe import Recipe
from hyperimage.training.stage2 import calibrate_average, train_stage2
from hyperimage.training.store import HyperImageCache, ImageStore

@dataclass
class TrainResult:
    """What :func:`train` produced besides the model: the loop state of every phase, and
    the training images' mean patch scores and targets, which :func:`patch_average_of`
    calibrates on."""

    phases: dict[str, LoopState]
    stage2: LoopState | None
    skipped: list[str]
    n_train: int
    n_val: int
    recipe: Recipe
    train_means: torch.Tensor = field(repr=False)
    train_targets: torch.Tensor = field(repr=False)

    @property
    def stage1(self) -> LoopState:
        """The loop state of the model's own stage-1 phase (the last)."""
        return list(self.phases.values())[-1]


def resolve(recipe: Recipe, config: ModelConfig) -> Recipe:
    """``recipe`` with the model's own stage-1 phase named (``PhaseSpec.name`` ``None``) and
    every phase's settings checked and written out in full (:func:`~.phases.check`): a
    ValueError of one line naming a bad phase or setting, before any image is read."""
    named = [p if p.name is not None else replace(p, name=config.stage1_data) for p in recipe.phases]
    return phases.check(replace(recipe, phases=named))


def train(
    records: Sequence[ImageRecord],
    config: ModelConfig,
    recipe: Recipe | None = None,
    workdir: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
    world: World = SINGLE,
    log: Callable[[str], None] | None = None,
    init: HyperImageModel | None = None,
) -> tuple[HyperImageModel, TrainResult]:
    """Train a model on records whose ``split`` is ``train`` / ``val`` (others are ignored).

    With ``workdir`` each phase checkpoints there after every epoch, and a rerun with the
    same arguments resumes from the checkpoints; the image store and hyper-image caches
    live there too (in a temporary folder without ``workdir``).

    The model trains and is returned on ``world.device``; with several ranks each trains on
    its part of every global batch (:func:`~hyperimage.training.loop.fit`), rank 0 alone
    prepares the shared store and caches and writes the checkpoints. ``log`` hears what each
    epoch draws and how long the run should take here (rank 0).

    ``init``: a trained model of the same ``config`` whose weights every phase starts from
    (fine-tuning, ``hyperimage train --init``); what training fits is fitted again on these records.
    """
    recipe = resolve(recipe or Recipe(), config).seeded(seed)
    train_recs = [r for r in records if r.split == "train"]
    val_recs = [r for r in records if r.split == "val"]
    if not train_recs or not val_recs:
        raise ValueError(f"need train and val images, got {len(train_recs)} train and {len(val_recs)} val")
    config = copy.deepcopy(config)
    targets = torch.tensor([r.target for r in train_recs])
    torch.manual_seed(seed)
    model = HyperImageModel(config, Fitted(score_range=(float(targets.min()), float(targets.max()))))
    if init is not None:
        model.load_state_dict(init.state_dict())
    model = model.to(world.device)
    with ExitStack() as stack:
        work = Path(workdir) / CHECKPOINTS if workdir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        cache = work / "cache"
        ckpt = work if workdir is not None else None
        if recipe.stage2_rank is not None and model.stage2 is not None:
            stage2_rank.check_photos(recipe.stage2_rank, cache / "ranked-images")
        shared = workdir is not None

        def store(recs: list[ImageRecord], name: str) -> ImageStore:
            folder = cache / name
            return world.made_once(
                shared, lambda: ImageStore.prepare(recs, model, folder, recipe.workers),
                lambda: ImageStore(folder, recs, model.grid),
            )

        def hyper(source: ImageStore, name: str) -> HyperImageCache:
            return world.made_once(
                shared, lambda: HyperImageCache.build(source, model, cache, name, recipe.feature_batch),
                lambda: HyperImageCache(cache, name, source.targets),
            )

        train_store, val_store = store(train_recs, "train"), store(val_recs, "val")
        states = {}
        for k, spec in enumerate(recipe.phases):
            run = phases.PhaseRun(
                model, spec, train_recs, val_recs, train_store, val_store,
                ckpt / f"stage1-{k}-{spec.name}.safetensors" if ckpt else None, progress, world, log,
            )
            states[spec.name if spec.name not in states else f"{spec.name}-{k}"] = phases.get(spec.name)(run)
        train_h = hyper(train_store, "train-hyper")
        s2 = None
        if model.stage2 is None:
            calibrate_average(model, train_h.means, train_h.targets)
        else:
            val_h = hyper(val_store, "val-hyper")
            ranking = None
            if (spec := recipe.stage2_rank) is not None:
                def ranked_images() -> list[ImageRecord]:  # made once; a rerun or another rank reads them back
                    return stage2_rank.ranked_records(spec, cache / "ranked-images", seed)

                ranked = world.made_once(shared, ranked_images, ranked_images)
                ranked_store = store(ranked, "ranked")
                ranking = (hyper(ranked_store, "ranked-hyper"), stage2_rank.ranked_sets(ranked_store.records), spec)
            s2 = train_stage2(
                model, train_h, val_h, recipe.stage2, recipe.stage2_augment,
                ckpt / "stage2.safetensors" if ckpt else None, progress, world, log, ranking,
            )
    model.eval()
    result = TrainResult(
        states, s2, train_store.errors + val_store.errors, len(train_store), len(val_store), recipe,
        train_h.means, train_h.targets,
    )
    return model, result


def patch_average_of(model: HyperImageModel, result: TrainResult) -> HyperImageModel:
    """The patch-averaging baseline that shares a trained model's stage 1.

    Calibrated on the training images' mean patch scores in ``result`` (what :func:`train`
    returned with ``model``), exactly as :func:`train` does for ``method="patch-average"``.
    """
    baseline = model.patch_average()
    calibrate_average(baseline, result.train_means, result.train_targets)
    return baseline
