"""Hide-and-Seek (Singh & Lee 2017, ``shared/papers/related-methods.md``) on hyper-images, a
stage-2 augmentation: hidden grid cells make stage 2 use all the evidence rather than the
single most telling patch."""

from __future__ import annotations

import torch

from hyperimage.training.augment import register


@register("hide")
def hide_cells(hyper: torch.Tensor, gen: torch.Generator, probability: float = 0.5, cell: int = 4) -> torch.Tensor:
    """Hide each ``cell`` x ``cell`` block of grid cells of each hyper-image ``(N, D, U, V)``
    with ``probability``, setting it to the batch's mean feature.

    The hidden value is the mean feature (per channel, over the batch's cells), as
    Hide-and-Seek sets hidden pixels to the training mean: what stage 2's first layer sees
    then has the statistics it meets at test time, when nothing is hidden.
    """
    if not 0.0 <= probability <= 1.0 or cell < 1:
        raise ValueError(f"hide: probability must be in [0, 1] and cell >= 1, got {probability}, {cell}")
    n, d, u, v = hyper.shape
    blocks = (-(-u // cell), -(-v // cell))
    hidden = torch.rand(n, 1, *blocks, generator=gen) < probability
    hidden = hidden.repeat_interleave(cell, dim=2).repeat_interleave(cell, dim=3)[:, :, :u, :v]
    mean = hyper.mean(dim=(0, 2, 3), keepdim=True)
    return torch.where(hidden, mean, hyper)
