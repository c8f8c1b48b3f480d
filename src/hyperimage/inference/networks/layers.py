"""Building blocks written in the notation of Table 4, and the two generic network shapes.

``C(n)`` is a 3x3 "same" convolution with n filters and a ReLU, ``MP(2)`` a 2x2 max-pool,
``FC(n)`` a dense layer, ``Drop(r)`` dropout. A conv stack is given as a list such as
``[16, "M", 32, "M", 48, 48, "M"]`` (numbers are C(n), "M" is MP(2)); a tuple
``(n, k, s)`` is Table 4's ``C(n, k, s)``, a k x k convolution of stride s padded by k // 2
(or not padded at all in a "valid" stack, whose outputs shift with its inputs).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def conv_stack(in_channels: int, spec: Sequence[int | str | tuple[int, int, int]], same: bool = True) -> nn.Sequential:
    """Table 4 conv/pool sequence: ints are C(n)+ReLU, ``(n, k, s)`` C(n, k, s)+ReLU, ``"M"`` MP(2);
    ``same=False`` leaves every convolution unpadded ("valid")."""
    layers: list[nn.Module] = []
    c = in_channels
    for item in spec:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            n, k, s = item if isinstance(item, tuple) else (int(item), 3, 1)
            layers += [nn.Conv2d(c, n, k, stride=s, padding=k // 2 if same else 0), nn.ReLU(inplace=True)]
            c = n
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
