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

With ``members`` > 1 the module holds that many such networks side by side (grouped
convolutions: one pass computes all of them), each from its own initialisation and trained on
its own loss; the image logit and the cell logits are their means. A few hundred labelled
images leave one small network's test AUC a few hundredths apart from one seed to the next;
the mean of several is steadier and better (a deep ensemble, Lakshminarayanan et al. 2017,
"Simple and scalable predictive uncertainty estimation using deep ensembles", NeurIPS).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hyperimage.inference.networks import register


class EvidenceStage2(nn.Module):
    """``(B, D, U, V)`` -> authentic logit ``(B,)``; :meth:`outputs` gives the tampered logit of
    the image ``(B,)`` and of every cell ``(B, U, V)``, :meth:`member_outputs` each member's.
    ``sharpness``: the log-mean-exp's temperature (large: the maximum); ``members``: networks
    averaged (see the module docstring)."""

    def __init__(self, in_features: int, width: int = 32, sharpness: float = 4.0, dropout: float = 0.1, members: int = 1):
        super().__init__()
        if members < 1:
            raise ValueError(f"stage 2 needs at least one member, got {members}")
        wide = width * members
        self.body = nn.Sequential(
            nn.Conv2d(in_features, wide, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
            nn.Conv2d(wide, wide, 3, padding=1, groups=members),
            nn.ReLU(inplace=True),
        )
        self.cell = nn.Conv2d(wide, members, 1, groups=members)
        self.sharpness = sharpness
        self.members = members
        self.bias = nn.Parameter(torch.zeros(members))

    def member_outputs(self, hyper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's tampered logit of the image ``(B, K)`` (its cells' log-mean-exp at
        :attr:`sharpness`) and of every cell ``(B, K, U, V)``."""
        cells = self.cell(self.body(hyper))
        flat = cells.flatten(2) * self.sharpness
        image = (torch.logsumexp(flat, dim=2) - math.log(flat.shape[2])) / self.sharpness + self.bias
        return image, cells

    def outputs(self, hyper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The tampered logit of the image ``(B,)`` and of every cell ``(B, U, V)``: the members' means."""
        image, cells = self.member_outputs(hyper)
        return image.mean(dim=1), cells.mean(dim=1)

    def forward(self, hyper: torch.Tensor) -> torch.Tensor:
        return -self.outputs(hyper)[0]


@register("evidence-stage2")
def evidence_stage2(
    in_features: int = 8, width: int = 32, sharpness: float = 4.0, dropout: float = 0.1, members: int = 1
) -> EvidenceStage2:
    """:class:`EvidenceStage2` over ``in_features`` evidence features per cell (any grid)."""
    return EvidenceStage2(in_features, width, sharpness, dropout, members)
