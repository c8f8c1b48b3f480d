"""The hyper-image: stage-1 features of every grid patch, laid out on the grid.

Section "Training the second stage": the D-dimensional ReLU'd penultimate stage-1
representation of patch (u, v) becomes pixel (u, v) of a U x V x D image. In PyTorch's
layout that is ``(B, D, U, V)``.
"""

from __future__ import annotations

import torch
from torch import nn


#: Patches pushed through stage 1 at once by :func:`stage1_features`. Small on purpose: the
#: forgery channel's first maps of 64 patches (16 x 64 x 64 floats each) stay in the caches,
#: which ran its convolutions ~2x faster than chunks of 256 or more on 2 cores.
CHUNK = 64


def stage1_features(stage1: nn.Module, patches: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """Stage-1 features of grid patches: ``(B, U, V, C, p, p)`` -> ``(B, U, V, D)``.

    Patches of the whole batch are pushed through stage 1 together, ``chunk`` at a time
    (bounding memory), each chunk channels-last, the layout oneDNN's CPU convolutions are
    fastest in (the same sums in another order: equal up to float rounding).
    """
    b, u, v = patches.shape[:3]
    flat = patches.reshape(b * u * v, *patches.shape[3:])
    feats = torch.cat(
        [
            stage1.forward_features(flat[i : i + chunk].contiguous(memory_format=torch.channels_last))
            for i in range(0, flat.shape[0], chunk)
        ]
    )
    return feats.view(b, u, v, -1)


def lay_on_grid(features: torch.Tensor) -> torch.Tensor:
    """Per-patch features ``(B, U, V, D)`` -> hyper-image ``(B, D, U, V)``."""
    return features.permute(0, 3, 1, 2).contiguous()
