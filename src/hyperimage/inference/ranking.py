"""Pairwise ranking: RankIQA's all-pairs hinge loss and the forgery stage-1 Siamese ranker.

Two ways of learning from order instead of absolute labels:

- :func:`all_pairs_hinge` is RankIQA's "efficient Siamese" loss (Liu, van de Weijer and
  Bagdanov 2017): a mini-batch goes once through ONE branch, giving a score per image, and
  the hinge ``max(0, f(x_j) - f(x_i) + margin)`` is summed over every pair (i, j) of the
  batch whose order is known (same group, i ranked above j). M forward passes give O(M^2)
  pairs.
- :class:`SiameseRanker` is the stage-1 network of Chandakkar & Li 2017's forgery experiment
  ("Experiment 2"): two channels with shared weights map an authentic and a tampered patch
  to features C1, C2; a small comparator ``g(C1 - C2) = w2^T f(w1^T (C1 - C2))`` (two dense
  layers, f a ReLU) says which one is authentic, trained with the hinge of
  :func:`siamese_hinge`; the pair order is shuffled at random (:func:`shuffle_pairs`).

Reading of the paper's formula. The paper writes ``d(C1, C2) = w2^T y (f(w1^T (C1 - C2)))``
and ``L = max(0, delta - y d(C1, C2))``, with ``y = +1`` when channel 1 holds the authentic
patch and ``-1`` otherwise. Taken literally, y appears twice and cancels (y^2 = 1, and w2 is
linear): the loss would then ask ``g(C1 - C2) > delta`` whatever the order, i.e. learn that
the two patches differ, not which one is authentic, and it would not use the labels at all.
The requirement the paper states just before (``w^T C_Au - w^T C_Tp > 0``) is a ranking, so
hyperimage applies y once: ``L = max(0, delta - y g(C1 - C2))`` with ``delta = 3``. This
also explains the paper's remark that training fails without shuffling: if channel 1 always
holds the authentic patch (y = +1 always), the constant bias of w2 alone satisfies
``g > delta``, a trivial minimum that nothing steers training away from; shuffling asks for
``g(C_Au - C_Tp) > delta`` and ``g(C_Tp - C_Au) < -delta`` together, which only a
comparator that sees authenticity meets.

Higher is better everywhere in this module: a higher rank value, a higher score and a
higher authenticity mean "ranks above" (as the forgery labels: 1 authentic, 0 tampered).

Plugging into :func:`hyperimage.training.fit` (which calls ``loss_fn(module(x), y)``):
:func:`rank_hinge` and :func:`siamese_hinge` have that ``(pred, target)`` signature; a
Siamese ranker is trained through :class:`PairDecision`, whose ``forward`` maps a batch of
pairs ``(N, 2, C, p, p)`` to ``g(C1 - C2)``.

References
----------
X. Liu, J. van de Weijer and A. D. Bagdanov, "RankIQA: Learning from rankings for
no-reference image quality assessment", ICCV 2017 (Sec. 3.3, efficient Siamese backpropagation).
P. Chandakkar and B. Li, "Capturing localized image artifacts through a CNN-based
hyper-image representation", 2017 (section "Image forgery classification", Experiment 2).
"""

from __future__ import annotations

import torch
from torch import nn


def _check_vector(name: str, value: torch.Tensor, length: int) -> None:
    if value.ndim != 1 or value.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},), got {tuple(value.shape)}")


def all_pairs_hinge(
    scores: torch.Tensor, ranks: torch.Tensor, groups: torch.Tensor | None = None, margin: float = 1.0
) -> torch.Tensor:
    """RankIQA's efficient Siamese loss: the hinge over all ordered pairs of a mini-batch.

    For every pair (i, j) with ``ranks[i] > ranks[j]`` (i ranks above j; higher is better)
    and, if ``groups`` is given, ``groups[i] == groups[j]``, the loss is
    ``max(0, scores[j] - scores[i] + margin)``; pairs in different groups, and ties, carry no
    order and are ignored. The pairs are an (N, N) mask over one forward pass, so each score
    takes part in up to N - 1 pairs.

    Parameters
    ----------
    scores : (N,) network outputs f(x), higher meaning better.
    ranks : (N,) order within a group, higher meaning better (for distortion levels, where
        1 is the mildest, pass ``-level``).
    groups : (N,) group ids (e.g. source image and distortion type); None puts the whole
        batch in one group.
    margin : the hinge margin; it fixes the scale of the scores. RankIQA's Caffe layer for
        LIVE uses 10 and divides the summed hinge by N instead of by the number of pairs,
        which differs from this mean by a constant factor per batch layout.

    Returns
    -------
    Tensor
        Scalar mean hinge over the ordered pairs; 0 (still attached to ``scores``, so
        ``backward`` works) when the batch holds no ordered pair.
    """
    if scores.ndim != 1:
        raise ValueError(f"scores must have shape (N,), got {tuple(scores.shape)}")
    n = scores.shape[0]
    _check_vector("ranks", ranks, n)
    above = ranks[:, None] > ranks[None, :]
    if groups is not None:
        _check_vector("groups", groups, n)
        above &= groups[:, None] == groups[None, :]
    hinge = (margin - (scores[:, None] - scores[None, :])).clamp(min=0.0)
    return hinge[above].sum() / above.sum().clamp(min=1)


def rank_hinge(pred: torch.Tensor, target: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """:func:`all_pairs_hinge` with the ``(pred, target)`` signature of ``training.LOSSES``.

    ``target`` is ``(N,)`` ranks (one group) or ``(N, 2)`` columns ``[rank, group]``.
    """
    if target.ndim == 2 and target.shape[1] == 2:
        return all_pairs_hinge(pred, target[:, 0], target[:, 1], margin)
    if target.ndim != 1:
        raise ValueError(f"target must have shape (N,) or (N, 2) [rank, group], got {tuple(target.shape)}")
    return all_pairs_hinge(pred, target, None, margin)


#: The paper's Siamese margin delta: a pair is ranked "surely" once ``y g(C1 - C2) >= DELTA``;
#: it fixes the scale of the forgery stage-1 scores (and of their heat maps).
DELTA = 3.0


def siamese_hinge(pred: torch.Tensor, target: torch.Tensor, delta: float = DELTA) -> torch.Tensor:
    """The forgery stage-1 loss ``mean(max(0, delta - y g(C1 - C2)))`` (see the module docstring).

    Parameters
    ----------
    pred : (N,) comparator outputs ``g(C1 - C2)`` (:meth:`SiameseRanker.compare`).
    target : (N,) y, +1 where channel 1 holds the authentic patch, -1 where channel 2 does.
    delta : the margin; the paper's delta = 3.
    """
    if pred.ndim != 1:
        raise ValueError(f"pred must have shape (N,), got {tuple(pred.shape)}")
    _check_vector("target", target, pred.shape[0])
    if not bool((target.abs() == 1).all()):
        raise ValueError("target must hold only +1 and -1")
    return (delta - target * pred).clamp(min=0.0).mean()


def shuffle_pairs(
    authentic: torch.Tensor, tampered: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Put each (authentic, tampered) pair in a random order, half one way, half the other.

    The paper's stage 1 does not converge when channel 1 always gets the authentic patch;
    here exactly ``ceil(N / 2)`` pairs keep the order (y = +1) and the rest are swapped
    (y = -1), which pairs is drawn from ``generator`` (the generator :func:`fit` hands to
    its batch function, so each epoch draws afresh and a resumed run draws the same).

    Parameters
    ----------
    authentic, tampered : (N, ...) patches (or features), pair k being
        ``(authentic[k], tampered[k])``.
    generator : source of the order.

    Returns
    -------
    c1, c2 : (N, ...) what channels 1 and 2 get.
    y : (N,) +1.0 where ``c1`` is the authentic one, -1.0 where it is the tampered one.
    """
    if authentic.shape != tampered.shape or authentic.ndim < 1:
        raise ValueError(
            "authentic and tampered must share one shape (N, ...), "
            f"got {tuple(authentic.shape)} and {tuple(tampered.shape)}"
        )
    n = authentic.shape[0]
    signs = torch.where(torch.arange(n) < (n + 1) // 2, 1.0, -1.0)
    y = signs[torch.randperm(n, generator=generator)].to(authentic.device)
    keep = (y > 0).view(-1, *([1] * (authentic.ndim - 1)))
    return torch.where(keep, authentic, tampered), torch.where(keep, tampered, authentic), y


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


class PairDecision(nn.Module):
    """A ranker seen as ``pairs -> g(C1 - C2)``: the module to hand :func:`~hyperimage.training.fit`.

    ``forward`` takes pairs ``(N, 2, C, p, p)`` (``torch.stack([c1, c2], 1)`` of
    :func:`shuffle_pairs`), runs both through the shared channel in one pass and returns
    ``(N,)``, the prediction :func:`siamese_hinge` compares with y. Its parameters are the
    ranker's, so training it trains the ranker.
    """

    def __init__(self, ranker: SiameseRanker):
        super().__init__()
        self.ranker = ranker

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        if pairs.ndim < 3 or pairs.shape[1] != 2:
            raise ValueError(f"pairs must have shape (N, 2, ...), got {tuple(pairs.shape)}")
        features = self.ranker.forward_features(pairs.flatten(0, 1)).view(pairs.shape[0], 2, -1)
        return self.ranker.compare(features[:, 0], features[:, 1])
