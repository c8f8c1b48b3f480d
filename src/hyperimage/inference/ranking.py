"""The forgery stage-1 Siamese ranker of Chandakkar & Li 2017 ("Experiment 2") and its margin.

:class:`SiameseRanker`: two channels with shared weights map an authentic and a tampered patch
to features C1, C2; a small comparator ``g(C1 - C2) = w2^T f(w1^T (C1 - C2))`` (two dense
layers, f a ReLU) says which one is authentic. A single patch is scored against a fixed
reference feature vector (:meth:`SiameseRanker.head`). How it is trained (the hinge with the
margin :data:`DELTA`, the shuffled pair order, the pair-to-decision module) is in
:mod:`hyperimage.training.ranking_losses`, with the reading of the paper's loss formula.

Higher is better everywhere in this module: a higher score and a higher authenticity mean
"ranks above" (as the forgery labels: 1 authentic, 0 tampered).

References
----------
P. Chandakkar and B. Li, "Capturing localized image artifacts through a CNN-based
hyper-image representation", 2017 (section "Image forgery classification", Experiment 2).
"""

from __future__ import annotations

import torch
from torch import nn

#: The paper's Siamese margin delta: a pair is ranked "surely" once ``y g(C1 - C2) >= DELTA``;
#: it fixes the scale of the forgery stage-1 scores (and of their heat maps).
DELTA = 3.0


class SiameseRanker(nn.Module):
    """Two weight-sharing channels and the comparator ``g(C1 - C2) = w2^T f(w1^T (C1 - C2))``.

    Weight sharing means there is one ``channel``; a pair is two passes through it. The
    module has the stage-1 interface of :mod:`hyperimage.inference.networks` (``num_features``,
    ``forward_features``, ``head``, ``forward``), so a trained ranker is the stage 1 of a
    :class:`~hyperimage.inference.model.HyperImageModel` as it is.

    A single test image has no pair, so a patch is scored against a fixed reference feature
    vector ``r``: ``score(C) = g(C - r)``, the trained decision "C is more authentic than r"
    with y = +1. With ``r`` the mean feature of the training patches
    (:meth:`set_reference`), a positive score reads "more authentic than the average
    training patch". This uses the comparator exactly as it was trained (on differences of
    features), unlike ``g(C)``, which feeds it non-negative ReLU features it never saw, or a
    linear projection ``w2^T W1 C``, which drops the ReLU that the trained ``g`` relies on.

    Parameters
    ----------
    channel : maps patches ``(N, C, p, p)`` to ReLU'd features ``(N, D)`` (the paper's
        "Forgery channel" of Table 4 up to its last FC(500)).
    num_features : D.
    hidden : width of w1 (not given in the paper; default D).
    dropout : the channel's final Drop(0.5) of Table 4, applied to C1 and C2 separately
        (each channel of the paper has its own).
    input_shape : shape ``(C, p, p)`` of one patch (or ``(C, 1, 1)``); the ranker then holds
        the mean training patch (:meth:`set_input_mean`), which it subtracts from every patch,
        as the paper does before stage 1, so a saved ranker carries its own normalisation.

    w1 and w2 start with PyTorch's default initialisation; the registered
    ``"forgery-stage1"`` factory re-initialises the whole ranker with He-normal weights
    (:func:`hyperimage.inference.networks.layers.init_weights`), as every Table 4 network.
    """

    def __init__(
        self,
        channel: nn.Module,
        num_features: int,
        hidden: int | None = None,
        dropout: float = 0.5,
        input_shape: tuple[int, ...] = (),
    ):
        super().__init__()
        self.channel = channel
        self.num_features = num_features
        self.drop = nn.Dropout(dropout)
        self.w1 = nn.Linear(num_features, hidden or num_features)
        self.w2 = nn.Linear(hidden or num_features, 1)
        self.register_buffer("reference", torch.zeros(num_features))
        self.register_buffer("input_mean", torch.zeros(input_shape))

    def forward_features(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, C, p, p)`` -> channel features ``(N, D)`` (the hyper-image pixels)."""
        return self.channel(patches - self.input_mean)

    def compare(self, c1: torch.Tensor, c2: torch.Tensor) -> torch.Tensor:
        """``g(C1 - C2)`` for features ``(N, D)`` x2 -> ``(N,)``; positive: C1 is the authentic one."""
        return self.w2(torch.relu(self.w1(self.drop(c1 - c2)))).squeeze(1)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Authenticity score of single patches, ``g(C - r)``: features ``(N, D)`` -> ``(N,)``."""
        return self.compare(features, self.reference.expand_as(features))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, C, p, p)`` -> authenticity score ``(N,)`` (higher: more authentic)."""
        return self.head(self.forward_features(patches))

    @torch.no_grad()
    def set_input_mean(self, patches: torch.Tensor) -> None:
        """Set the patch subtracted from every input to the mean of training ``patches`` ``(N, C, p, p)``,
        averaged also over every axis where ``input_shape`` is 1 (``(C, 1, 1)``: one value per
        channel, which a fully convolutional stage 1 subtracts from a whole image alike)."""
        shape = tuple(self.input_mean.shape)
        if patches.ndim != len(shape) + 1 or any(m not in (1, n) for m, n in zip(shape, patches.shape[1:])):
            raise ValueError(f"patches must have shape (N, {shape}), got {tuple(patches.shape)}")
        pooled = [d + 1 for d, (m, n) in enumerate(zip(shape, patches.shape[1:])) if m == 1 and n != 1]
        self.input_mean.copy_(patches.mean(dim=[0, *pooled], keepdim=True)[0] if pooled else patches.mean(dim=0))

    @torch.no_grad()
    def set_reference(self, features: torch.Tensor) -> None:
        """Set ``r`` of :meth:`head` to the mean of ``features`` ``(N, D)`` (e.g. all training patches)."""
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ValueError(f"features must have shape (N, {self.num_features}), got {tuple(features.shape)}")
        self.reference.copy_(features.mean(dim=0))
