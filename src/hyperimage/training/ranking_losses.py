"""Pairwise ranking losses: RankIQA's all-pairs hinge and the forgery stage-1 Siamese hinge.

Two ways of learning from order instead of absolute labels:

- :func:`all_pairs_hinge` is RankIQA's "efficient Siamese" loss (Liu, van de Weijer and
  Bagdanov 2017): a mini-batch goes once through ONE branch, giving a score per image, and
  the hinge ``max(0, f(x_j) - f(x_i) + margin)`` is summed over every pair (i, j) of the
  batch whose order is known (same group, i ranked above j). M forward passes give O(M^2)
  pairs.
- :class:`~hyperimage.inference.ranking.SiameseRanker` is the stage-1 network of Chandakkar &
  Li 2017's forgery experiment ("Experiment 2"): two channels with shared weights map an
  authentic and a tampered patch to features C1, C2; a small comparator
  ``g(C1 - C2) = w2^T f(w1^T (C1 - C2))`` (two dense layers, f a ReLU) says which one is
  authentic, trained with the hinge of :func:`siamese_hinge`; the pair order is shuffled at
  random (:func:`shuffle_pairs`).

Reading of the paper's formula. The paper writes ``d(C1, C2) = w2^T y (f(w1^T (C1 - C2)))``
and ``L = max(0, delta - y d(C1, C2))``, with ``y = +1`` when channel 1 holds the authentic
patch and ``-1`` otherwise. Taken literally, y appears twice and cancels (y^2 = 1, and w2 is
linear): the loss would then ask ``g(C1 - C2) > delta`` whatever the order, i.e. learn that
the two patches differ, not which one is authentic, and it would not use the labels at all.
The requirement the paper states just before (``w^T C_Au - w^T C_Tp > 0``) is a ranking, so
hyperimage applies y once: ``L = max(0, delta - y g(C1 - C2))`` with ``delta = 3``
(:data:`~hyperimage.inference.ranking.DELTA`). This also explains the paper's remark that
training fails without shuffling: if channel 1 always holds the authentic patch (y = +1
always), the constant bias of w2 alone satisfies
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

from hyperimage.inference.ranking import DELTA, SiameseRanker


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


def siamese_hinge(pred: torch.Tensor, target: torch.Tensor, delta: float = DELTA) -> torch.Tensor:
    """The forgery stage-1 loss ``mean(max(0, delta - y g(C1 - C2)))`` (see the module docstring).

    Parameters
    ----------
    pred : (N,) comparator outputs ``g(C1 - C2)``
        (:meth:`~hyperimage.inference.ranking.SiameseRanker.compare`).
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
