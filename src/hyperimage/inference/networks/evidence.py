"""Stage 2 over the forensic hyper-image of evidence channels, for any number of cells.

The evidence channels (:mod:`hyperimage.inference.evidence`) give D features per 64-px cell
of an image at its own size, so U x V grows with the image: a 384 x 256 CASIA file has 6 x 4
cells, a 12 MP photo 47 x 63. This stage 2 is fully convolutional: two 3 x 3 convolutions
let each cell weigh its evidence against its neighbours' (the hyper-image's point: how the
evidence combines), a 1 x 1 convolution gives each cell a logit of being tampered (the heat
map), and the image's logit pools the cells' by a log-mean-exp (a smooth maximum, so one
strongly tampered region suffices and the pooling works on any U x V). The score, as the
forgery model's, is the probability that the image is authentic: the sigmoid of minus that
logit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hyperimage.inference.networks import register


class EvidenceStage2(nn.Module):
    """``(B, D, U, V)`` -> authentic logit ``(B,)``; :meth:`cells` gives the tampered logit of
    every cell ``(B, U, V)``. ``sharpness``: the log-mean-exp's temperature (large: the maximum)."""

    def __init__(self, in_features: int, width: int = 32, sharpness: float = 4.0, dropout: float = 0.1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_features, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.cell = nn.Conv2d(width, 1, 1)
        self.sharpness = sharpness
        self.bias = nn.Parameter(torch.zeros(()))

    def cells(self, hyper: torch.Tensor) -> torch.Tensor:
        """Tampered logit of every cell, ``(B, U, V)``."""
        return self.cell(self.body(hyper))[:, 0]

    def pool(self, cells: torch.Tensor) -> torch.Tensor:
        """The image's tampered logit from its cells' ``(B, U, V)``: log-mean-exp at :attr:`sharpness`."""
        flat = cells.flatten(1) * self.sharpness
        return (torch.logsumexp(flat, dim=1) - math.log(flat.shape[1])) / self.sharpness + self.bias

    def forward(self, hyper: torch.Tensor) -> torch.Tensor:
        return -self.pool(self.cells(hyper))


@register("evidence-stage2")
def evidence_stage2(in_features: int = 8, width: int = 32, sharpness: float = 4.0, dropout: float = 0.1) -> EvidenceStage2:
    """:class:`EvidenceStage2` over ``in_features`` evidence features per cell (any grid)."""
    return EvidenceStage2(in_features, width, sharpness, dropout)
