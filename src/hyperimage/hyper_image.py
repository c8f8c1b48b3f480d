"""The hyper-image: stage-1 features of every grid patch, laid out on the grid.

Section "Training the second stage": the D-dimensional ReLU'd penultimate stage-1
representation of patch (u, v) becomes pixel (u, v) of a U x V x D image. In PyTorch's
layout that is ``(B, D, U, V)``.
"""

from __future__ import annotations

import torch
from torch import nn


def stage1_features(stage1: nn.Module, patches: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Stage-1 features of grid patches: ``(B, U, V, C, p, p)`` -> ``(B, U, V, D)``.

    Patches of the whole batch are pushed through stage 1 together, ``chunk`` at a time
    to bound memory.
    """
    b, u, v = patches.shape[:3]
    flat = patches.reshape(b * u * v, *patches.shape[3:])
    feats = torch.cat([stage1.forward_features(flat[i : i + chunk]) for i in range(0, flat.shape[0], chunk)])
    return feats.view(b, u, v, -1)


def lay_on_grid(features: torch.Tensor) -> torch.Tensor:
    """Per-patch features ``(B, U, V, D)`` -> hyper-image ``(B, D, U, V)``."""
    return features.permute(0, 3, 1, 2).contiguous()
