"""The 8 flips and rotations of square patches, a stage-1 augmentation."""

from __future__ import annotations

import torch

from hyperimage.training.augment import register


@register("dihedral")
def dihedral(patches: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each item of ``(N, ..., p, p)`` square patches in one of the 8 flips/rotations, at random.

    All patches of one item (e.g. the two of a contour pair) get the same transform.
    Tampering traces (seams, resampling, inpainting) have no preferred orientation, so the 8
    variants multiply small training sets.
    """
    n = patches.shape[0]
    shape = (n,) + (1,) * (patches.ndim - 1)
    out = patches
    for flip in (lambda x: x.flip(-1), lambda x: x.flip(-2), lambda x: x.transpose(-1, -2)):
        chosen = (torch.rand(n, generator=gen) < 0.5).view(shape)
        out = torch.where(chosen, flip(out), out)
    return out
