"""Table 4, "Synthetic stage 1" and "Synthetic stage 2".

Stage 1: C(16)-MP(2)-C(32)-MP(2)-2xC(48)-MP(2)-2xC(64)-MP(2)-2xC(128)-MP(2)-FC(400)-Drop(0.5)
-FC(400)-Drop(0.5)-FC(1). Table 4 writes its input as 128x128 while the text builds a 10x10
hyper-image from 128x128 images; hyperimage reads stage 1 as a patch network (32x32 windows
on a 10x10 grid by default; five MP(2) reduce 32 px to 1), see the README.

Stage 2: Input(10,10,400)-2xC(16)-MP(2)-2xC(32)-MP(2)-2xC(64)-MP(2)-FC(400)-Drop(0.5)
-FC(400,tanh)-Drop(0.5)-FC(1).
"""

from __future__ import annotations

import torch
from torch import nn

from . import register
from .layers import conv_stack, flat_size, init_weights


class PatchNet(nn.Module):
    """Conv stack, two ReLU dense layers of width D, and a linear patch-score output."""

    def __init__(self, in_channels: int, patch: int, spec: list[int | str], width: int, dropout: float):
        super().__init__()
        self.features = conv_stack(in_channels, spec)
        self.num_features = width
        self.dense = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat_size(self.features, (in_channels, patch, patch)), width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, 1), nn.Flatten(0))
        init_weights(self)

    def forward_features(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, C, p, p)`` -> ReLU'd penultimate features ``(N, D)`` (the hyper-image pixels)."""
        return self.dense(self.features(patches))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, C, p, p)`` -> patch score ``(N,)``."""
        return self.head(self.forward_features(patches))


class GridNet(nn.Module):
    """Stage 2: conv stack over the hyper-image, FC(w)-Drop-FC(w, tanh)-Drop-FC(1)."""

    def __init__(self, in_features: int, grid: tuple[int, int], spec: list[int | str], width: int, dropout: float):
        super().__init__()
        self.features = conv_stack(in_features, spec)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat_size(self.features, (in_features, *grid)), width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(width, width),
            nn.Tanh(),
            nn.Dropout(dropout),
            nn.Linear(width, 1),
            nn.Flatten(0),
        )
        init_weights(self)

    def forward(self, hyper: torch.Tensor) -> torch.Tensor:
        """Hyper-image ``(B, D, U, V)`` -> image score ``(B,)``."""
        return self.head(self.features(hyper))


@register("synthetic-stage1")
def synthetic_stage1(in_channels: int = 1, patch: int = 32, width: int = 400, dropout: float = 0.5) -> PatchNet:
    """Table 4 "Synthetic stage 1" on ``patch`` x ``patch`` windows; D = ``width``."""
    return PatchNet(in_channels, patch, [16, "M", 32, "M", 48, 48, "M", 64, 64, "M", 128, 128, "M"], width, dropout)


@register("synthetic-stage2")
def synthetic_stage2(in_features: int = 400, grid: tuple[int, int] = (10, 10), width: int = 400, dropout: float = 0.5) -> GridNet:
    """Table 4 "Synthetic stage 2" over a (D, U, V) hyper-image."""
    return GridNet(in_features, tuple(grid), [16, 16, "M", 32, 32, "M", 64, 64, "M"], width, dropout)
