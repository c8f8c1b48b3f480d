"""Table 4, "LIVE stage 2" and "TID stage 2": the NR-IQA second stages over 800-D hyper-images.

LIVE: Input(24,23,800) - 2xC(32) - MP(2) - 2xC(48) - MP(2) - 2xC(64) - MP(2) - 2xC(128) -
MP(2) - FC(500) - Drop(0.5) - FC(500,tanh) - Drop(0.5) - FC(1).

TID: Input(23,31,800) - 2xC(64) - MP(2) - 2xC(64) - MP(2) - 2xC(128) - MP(2) - 2xC(128) -
MP(2) - FC(500) - Drop(0.5) - FC(500,tanh) - Drop(0.5) - FC(1).

Their stage 1 is Kang et al.'s network of Table 5 (:mod:`hyperimage.inference.networks.kang`). Four
MP(2) halve the grid four times (floor division), so both need at least 16 x 16 grid cells.
"""

from __future__ import annotations

from typing import Sequence

from hyperimage.inference.networks import register
from hyperimage.inference.networks.layers import GridNet

LIVE_SPEC: list[int | str] = [32, 32, "M", 48, 48, "M", 64, 64, "M", 128, 128, "M"]
TID_SPEC: list[int | str] = [64, 64, "M", 64, 64, "M", 128, 128, "M", 128, 128, "M"]


def pooled_grid_net(
    name: str, in_features: int, grid: Sequence[int], spec: list[int | str], width: int, dropout: float
) -> GridNet:
    """A :class:`GridNet`, after checking that the MP(2) layers of ``spec`` leave >= 1 cell."""
    grid = tuple(int(g) for g in grid)
    smallest = 2 ** spec.count("M")
    if len(grid) != 2 or min(grid) < smallest:
        raise ValueError(
            f"{name}: grid {grid} vanishes under {spec.count('M')} MP(2) layers; "
            f"the minimum grid is {smallest}x{smallest}"
        )
    return GridNet(in_features, grid, spec, width, dropout)


@register("live-stage2")
def live_stage2(
    in_features: int = 800, grid: tuple[int, int] = (24, 23), width: int = 500, dropout: float = 0.5
) -> GridNet:
    """Table 4 "LIVE stage 2" over a (D, U, V) hyper-image (24 x 23 cells in the paper)."""
    return pooled_grid_net("live-stage2", in_features, grid, LIVE_SPEC, width, dropout)


@register("tid-stage2")
def tid_stage2(
    in_features: int = 800, grid: tuple[int, int] = (23, 31), width: int = 500, dropout: float = 0.5
) -> GridNet:
    """Table 4 "TID stage 2" over a (D, U, V) hyper-image (23 x 31 cells in the paper)."""
    return pooled_grid_net("tid-stage2", in_features, grid, TID_SPEC, width, dropout)
