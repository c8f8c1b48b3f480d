"""Hide-and-Seek (Singh & Lee 2017, ``shared/papers/related-methods.md``): hidden cells make a
network use all the evidence rather than the single most telling part. On hyper-images (a
stage-2 augmentation, cells of the grid) and on whole images (the end-to-end CNNs,
:class:`hyperimage.evaluation.baselines.end_to_end.EndToEndCNN`, cells of pixels)."""

from __future__ import annotations

import torch

from hyperimage.training.augment import register


@register("hide")
def hide_cells(
    hyper: torch.Tensor, gen: torch.Generator, probability: float = 0.5, cell: int = 4, value: float | None = None
) -> torch.Tensor:
    """Hide each ``cell`` x ``cell`` block of each map ``(N, D, U, V)`` (hyper-images, or
    images) with ``probability``, setting it to ``value``, by default the batch's mean.

    Hide-and-Seek sets hidden pixels to the training mean, so that what the first layer sees
    has the statistics it meets at test time, when nothing is hidden: the batch's mean
    feature (per channel, over its cells) stands for it on hyper-images; images from which
    the training mean was subtracted pass ``value=0``.
    """
    if not 0.0 <= probability <= 1.0 or cell < 1:
        raise ValueError(f"hide: probability must be in [0, 1] and cell >= 1, got {probability}, {cell}")
    n, d, u, v = hyper.shape
    blocks = (-(-u // cell), -(-v // cell))
    hidden = torch.rand(n, 1, *blocks, generator=gen) < probability
    hidden = hidden.repeat_interleave(cell, dim=2).repeat_interleave(cell, dim=3)[:, :, :u, :v]
    fill = hyper.mean(dim=(0, 2, 3), keepdim=True) if value is None else torch.tensor(float(value), dtype=hyper.dtype)
    return torch.where(hidden, fill, hyper)
