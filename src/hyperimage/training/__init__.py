"""Training: the loop (:mod:`.loop`), recipes (:mod:`.recipe`), stage-1 phases
(:mod:`.phases`), augmentations (:mod:`.augment`), the on-disk data store (:mod:`.store`),
stage 2 (:mod:`.stage2`) and the engine that runs them in order (:mod:`.engine`).

Inference (:mod:`hyperimage.inference.model`, :mod:`hyperimage.inference.scoring`, :mod:`hyperimage.inference.explain`)
never imports this package.
"""

from hyperimage.training.engine import TrainResult, patch_average_of, train
from hyperimage.training.loop import LOSSES, LoopState, TrainConfig, fit
from hyperimage.training.recipe import PhaseSpec, Recipe

__all__ = [
    "LOSSES", "LoopState", "PhaseSpec", "Recipe", "TrainConfig", "TrainResult", "fit",
    "patch_average_of", "train",
]
