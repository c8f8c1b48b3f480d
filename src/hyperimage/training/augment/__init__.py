"""Training augmentations by name: each module registers one function
``(batch, gen, **settings) -> batch``.

A recipe names them per phase (:attr:`hyperimage.training.recipe.PhaseSpec.augment`) and for
stage 2 (:attr:`hyperimage.training.recipe.Recipe.stage2_augment`), each as a name or as
``{"name": ..., setting: value}``; none runs at test time. Adding one is a new module here
with ``@register("name")`` and its import below.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from hyperimage.registry import Registry

Augmentation = Callable[..., torch.Tensor]
#: An augmentation as a recipe names it: ``"flips"`` or ``{"name": "hide", "probability": 0.5}``.
Entry = str | dict[str, Any]
AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")
register = AUGMENTATIONS.register
get = AUGMENTATIONS.get
available = AUGMENTATIONS.available


def apply(entries: list[Entry], batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``batch`` through the augmentations ``entries``, in order."""
    for entry in entries:
        if isinstance(entry, str):
            batch = get(entry)(batch, gen)
        else:
            settings = {k: v for k, v in entry.items() if k != "name"}
            batch = get(entry["name"])(batch, gen, **settings)
    return batch


from hyperimage.training.augment import dihedral, flips, hide, jpeg  # noqa: E402,F401  (registration)
