"""The hyper-image: stage-1 features of every grid patch, laid out on the grid.

Section "Training the second stage": the D-dimensional ReLU'd penultimate stage-1
representation of patch (u, v) becomes pixel (u, v) of a U x V x D image. In PyTorch's
layout that is ``(B, D, U, V)``.
"""

from __future__ import annotations

import torch
from torch import nn

#: Input values (patches x channels x pixels) pushed through stage 1 at once by
#: :func:`stage1_features`: 85 of the forgery model's 64-px RGB patches, whose first maps
#: (16 x 64 x 64 floats each) then stay in the caches; on one thread its convolutions ran
#: 3.3x faster in chunks of 64 channels-last patches than in chunks of 4096 (0.25 against
#: 0.83 CPU-s per 384 x 256 image), while small patches (the synthetic task's 32-px grey
#: ones) come 1024 at a time, enough to keep the per-call overhead small.
CHUNK_VALUES = 1 << 20


def chunk_size(patch_values: int) -> int:
    """Patches of ``patch_values`` values each (C x p x p) per stage-1 call."""
    return max(1, CHUNK_VALUES // patch_values)


def stage1_features(stage1: nn.Module, patches: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Stage-1 features of grid patches: ``(B, U, V, C, p, p)`` -> ``(B, U, V, D)``.

    Patches of the whole batch are pushed through stage 1 together, ``chunk`` at a time
    (default :func:`chunk_size`), each chunk channels-last, the layout oneDNN's CPU
    convolutions are fastest in (the same sums in another order: equal up to float rounding).
    """
    b, u, v = patches.shape[:3]
    flat = patches.reshape(b * u * v, *patches.shape[3:])
    chunk = chunk or chunk_size(flat[0].numel())
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
