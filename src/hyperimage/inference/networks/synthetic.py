"""Table 4, "Synthetic stage 1" and "Synthetic stage 2".

Stage 1: C(16)-MP(2)-C(32)-MP(2)-2xC(48)-MP(2)-2xC(64)-MP(2)-2xC(128)-MP(2)-FC(400)-Drop(0.5)
-FC(400)-Drop(0.5)-FC(1). Table 4 writes its input as 128x128 while the text builds a 10x10
hyper-image from 128x128 images; hyperimage reads stage 1 as a patch network (32x32 windows
on a 10x10 grid by default; five MP(2) reduce 32 px to 1), see docs/method.md.

Stage 2: Input(10,10,400)-2xC(16)-MP(2)-2xC(32)-MP(2)-2xC(64)-MP(2)-FC(400)-Drop(0.5)
-FC(400,tanh)-Drop(0.5)-FC(1).
"""

from __future__ import annotations

from hyperimage.inference.networks import register
from hyperimage.inference.networks.layers import GridNet, PatchNet


@register("synthetic-stage1")
def synthetic_stage1(in_channels: int = 1, patch: int = 32, width: int = 400, dropout: float = 0.5) -> PatchNet:
    """Table 4 "Synthetic stage 1" on ``patch`` x ``patch`` windows; D = ``width``."""
    return PatchNet(in_channels, patch, [16, "M", 32, "M", 48, 48, "M", 64, 64, "M", 128, 128, "M"], width, dropout)


@register("synthetic-stage2")
def synthetic_stage2(in_features: int = 400, grid: tuple[int, int] = (10, 10), width: int = 400, dropout: float = 0.5) -> GridNet:
    """Table 4 "Synthetic stage 2" over a (D, U, V) hyper-image."""
    return GridNet(in_features, tuple(grid), [16, 16, "M", 32, 32, "M", 64, 64, "M"], width, dropout)
