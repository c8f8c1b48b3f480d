"""Mirror flips of hyper-images, a stage-2 augmentation."""

from __future__ import annotations

import torch

from hyperimage.training.augment import register


@register("flips")
def random_flips(hyper: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip each hyper-image ``(N, D, U, V)`` up-down and left-right, each with probability 1/2.

    For tasks whose label does not change when the image is mirrored (quality, forgery): a
    mirrored image has roughly the mirrored hyper-image, so the flips teach stage 2 that the
    mirror images of a layout score alike, four layouts per image on small data sets. Not for
    tasks whose label depends on absolute position.
    """
    n = hyper.shape[0]
    out = hyper
    for dim in (2, 3):
        flip = (torch.rand(n, generator=gen) < 0.5).view(n, 1, 1, 1)
        out = torch.where(flip, out.flip(dim), out)
    return out
