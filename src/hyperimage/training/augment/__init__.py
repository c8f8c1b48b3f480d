"""Training augmentations by name: each module registers one function ``(batch, gen) -> batch``.

A recipe names them per phase (:attr:`hyperimage.training.recipe.PhaseSpec.augment`) and for
stage 2 (:attr:`hyperimage.training.recipe.Recipe.stage2_augment`); none runs at test time.
Adding one is a new module here with ``@register("name")`` and its import below.
"""

from __future__ import annotations

from typing import Callable

import torch

from hyperimage.registry import Registry

Augmentation = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")
register = AUGMENTATIONS.register
get = AUGMENTATIONS.get
available = AUGMENTATIONS.available


def apply(names: list[str], batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``batch`` through the augmentations ``names``, in order."""
    for name in names:
        batch = get(name)(batch, gen)
    return batch


from hyperimage.training.augment import dihedral, flips  # noqa: E402,F401  (registration)
