"""Building blocks written in the notation of Table 4.

``C(n)`` is a 3x3 "same" convolution with n filters and a ReLU, ``MP(2)`` a 2x2 max-pool,
``FC(n)`` a dense layer, ``Drop(r)`` dropout. A conv stack is given as a list such as
``[16, "M", 32, "M", 48, 48, "M"]`` (numbers are C(n), "M" is MP(2)).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def conv_stack(in_channels: int, spec: Sequence[int | str]) -> nn.Sequential:
    """Table 4 conv/pool sequence: ints are C(n)+ReLU, ``"M"`` is MP(2)."""
    layers: list[nn.Module] = []
    c = in_channels
    for item in spec:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, int(item), 3, padding=1), nn.ReLU(inplace=True)]
            c = int(item)
    return nn.Sequential(*layers)


def flat_size(module: nn.Module, shape: Sequence[int]) -> int:
    """Number of features ``module`` outputs for one input of ``shape`` (C, H, W)."""
    with torch.no_grad():
        return int(module(torch.zeros(1, *shape)).flatten(1).shape[1])


def init_weights(module: nn.Module) -> None:
    """He-normal weights and zero biases for every conv and dense layer.

    The paper trains deep plain ReLU stacks without batch normalisation by SGD; He
    initialisation keeps their activations from vanishing at the start.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
