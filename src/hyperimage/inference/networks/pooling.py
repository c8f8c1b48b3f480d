"""A stage 2 that learns where to look: a weighted average of cell scores (learned pooling).

Patch averaging (the paper's baseline) gives every cell of the hyper-image the same say. Over
the ImageNet trunk on LIVE-C the paper's convolutional stage 2 did no better than that average
(issue 33): from a few hundred photos it has to learn, from scratch, both what a cell's
quality is and how the cells combine. This stage 2 keeps the first from stage 1 and learns
only the second, as WaDIQaM's weighted average patch aggregation does (Bosse et al. 2018):
each cell ``c`` gets a score ``s_c`` (one linear unit over its hyper-image pixel, started from
stage 1's output node, so that it begins as the cell score patch averaging averages) and a
weight ``w_c > 0`` (a small MLP over the same pixel, started at ``w = 1`` everywhere), and the
image's score is ``sum(w_c s_c) / sum(w_c)``. At the start it *is* patch averaging; training
moves the weight towards the cells that tell the image's quality (a blurred subject against a
soft background, a damaged region), and the weights are a heat map of where the model looked.

References
----------
S. Bosse, D. Maniry, K.-R. Mueller, T. Wiegand and W. Samek, "Deep neural networks for
no-reference and full-reference image quality assessment", IEEE TIP 27(1), 2018.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hyperimage.inference.networks import register

#: softplus(UNIT) = 1: the weight of every cell at the start.
UNIT = math.log(math.e - 1.0)


class WeightedPooling(nn.Module):
    """Hyper-image ``(B, D, U, V)`` -> ``sum_c w_c s_c / sum_c w_c`` ``(B,)`` (see the module)."""

    def __init__(self, in_features: int, hidden: int = 32):
        super().__init__()
        self.score = nn.Linear(in_features, 1)
        self.weight = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))
        nn.init.zeros_(self.weight[2].weight)
        nn.init.constant_(self.weight[2].bias, UNIT)

    def cells(self, hyper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each cell's score and weight, ``(B, U, V)`` each."""
        pixels = hyper.permute(0, 2, 3, 1)
        return self.score(pixels).squeeze(-1), F.softplus(self.weight(pixels).squeeze(-1))

    def forward(self, hyper: torch.Tensor) -> torch.Tensor:
        scores, weights = self.cells(hyper)
        return (weights * scores).sum(dim=(1, 2)) / weights.sum(dim=(1, 2))

    @torch.no_grad()
    def start_from_cells(self, head: nn.Linear, scale: float, shift: float) -> None:
        """Start the cell scores at ``scale * head(pixel) + shift``: stage 1's output node in
        stage 2's units, so that the untrained network is patch averaging."""
        self.score.weight.copy_(head.weight * scale)
        self.score.bias.copy_(head.bias * scale + shift)


@register("weighted-pooling")
def weighted_pooling(in_features: int = 800, grid: Sequence[int] = (16, 16), hidden: int = 32) -> WeightedPooling:
    """Learned pooling of cell scores (WaDIQaM's weighted average); any grid size."""
    return WeightedPooling(in_features, hidden)
