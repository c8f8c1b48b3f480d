"""Tests of the pairwise ranking losses (hyperimage.training.ranking_losses) and the Siamese ranker they
train (hyperimage.inference.ranking)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from hyperimage.inference.networks.layers import conv_stack, init_weights
from hyperimage.inference.ranking import SiameseRanker
from hyperimage.training import TrainConfig, fit
from hyperimage.training.ranking_losses import (
    PairDecision, all_pairs_hinge, rank_hinge, shuffle_pairs, siamese_hinge,
)


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


# --- all_pairs_hinge -------------------------------------------------------------------------


def test_correct_order_beyond_margin_costs_nothing():
    assert float(all_pairs_hinge(t([2.0, 0.0]), t([1, 0]), margin=1.0)) == 0.0


def test_reversed_order_costs_the_violation_plus_margin():
    assert float(all_pairs_hinge(t([0.0, 2.0]), t([1, 0]), margin=1.0)) == pytest.approx(3.0)
    # Ordered within the margin still costs: 1 - (0.4 - 0) = 0.6.
    assert float(all_pairs_hinge(t([0.4, 0.0]), t([1, 0]), margin=1.0)) == pytest.approx(0.6)


def test_mean_over_all_ordered_pairs():
    # pairs (0,1): 0 - 0.5 + 1 = 0.5; (0,2): 1 - 0.5 + 1 = 1.5; (1,2): 1 - 0 + 1 = 2
    loss = all_pairs_hinge(t([0.5, 0.0, 1.0]), t([2, 1, 0]), margin=1.0)
    assert float(loss) == pytest.approx(4.0 / 3.0)


def test_pairs_across_groups_are_ignored():
    scores, ranks = t([0.0, 2.0, 5.0, 0.0]), t([1, 0, 1, 0])
    # within groups: (0,1) costs 3, (2,3) costs 0
    assert float(all_pairs_hinge(scores, ranks, t([0, 0, 1, 1]), margin=1.0)) == pytest.approx(1.5)
    # one group adds (0,3): 1 and (2,1): 0
    assert float(all_pairs_hinge(scores, ranks, None, margin=1.0)) == pytest.approx(1.0)


def test_matches_a_loop_over_pairs():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(12, generator=gen)
    ranks = torch.randint(0, 4, (12,), generator=gen)
    groups = torch.randint(0, 3, (12,), generator=gen)
    terms = [
        max(0.0, float(scores[j] - scores[i]) + 0.7)
        for i, j in itertools.product(range(12), repeat=2)
        if ranks[i] > ranks[j] and groups[i] == groups[j]
    ]
    assert len(terms) > 5
    assert float(all_pairs_hinge(scores, ranks, groups, margin=0.7)) == pytest.approx(np.mean(terms), rel=1e-6)


def test_no_ordered_pair_gives_zero_with_a_gradient_path():
    scores = t([1.0, 2.0, 3.0]).requires_grad_()
    loss = all_pairs_hinge(scores, t([1, 1, 1]), margin=1.0)  # ties only
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.equal(scores.grad, torch.zeros(3))
    assert float(all_pairs_hinge(t([0.0, 9.0]), t([1, 0]), t([0, 1]))) == 0.0  # different groups


def test_gradient_raises_the_better_and_lowers_the_worse():
    scores = t([0.0, 1.0]).requires_grad_()
    all_pairs_hinge(scores, t([1, 0]), margin=1.0).backward()
    assert scores.grad[0] < 0 < scores.grad[1]  # gradient descent raises item 0, lowers item 1


def test_rank_hinge_is_the_fit_signature():
    scores, ranks, groups = t([0.0, 2.0, 5.0, 0.0]), t([1, 0, 1, 0]), t([0, 0, 1, 1])
    assert float(rank_hinge(scores, torch.stack([ranks, groups], 1))) == float(all_pairs_hinge(scores, ranks, groups))
    assert float(rank_hinge(scores, ranks, margin=2.0)) == float(all_pairs_hinge(scores, ranks, margin=2.0))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        rank_hinge(scores, torch.zeros(4, 3))


def test_hinge_bad_shapes():
    with pytest.raises(ValueError, match=r"scores must have shape \(N,\)"):
        all_pairs_hinge(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(ValueError, match=r"ranks must have shape \(4,\), got \(3,\)"):
        all_pairs_hinge(torch.zeros(4), torch.zeros(3))
    with pytest.raises(ValueError, match="groups"):
        all_pairs_hinge(torch.zeros(4), torch.zeros(4), torch.zeros(2))


# --- siamese_hinge and shuffle_pairs ----------------------------------------------------------


def test_siamese_hinge_values():
    # y = +1 wants g > 3: g = 4 costs 0, g = -1 costs 4; y = -1 wants g < -3.
    assert float(siamese_hinge(t([4.0, -1.0]), t([1, 1]))) == pytest.approx(2.0)
    assert float(siamese_hinge(t([-4.0, 1.0]), t([-1, -1]))) == pytest.approx(2.0)
    assert float(siamese_hinge(t([1.0]), t([1]), delta=1.0)) == 0.0
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        siamese_hinge(t([1.0, 2.0]), t([1, 0]))
    with pytest.raises(ValueError, match="target"):
        siamese_hinge(t([1.0, 2.0]), t([1]))


def test_shuffle_pairs_is_balanced_and_consistent():
    authentic = torch.arange(11.0).view(11, 1, 1).expand(11, 2, 2)
    tampered = -authentic
    c1, c2, y = shuffle_pairs(authentic, tampered, torch.Generator().manual_seed(0))
    assert set(y.tolist()) == {1.0, -1.0} and int((y > 0).sum()) == 6  # ceil(11 / 2)
    keep = y > 0
    assert torch.equal(c1[keep], authentic[keep]) and torch.equal(c2[keep], tampered[keep])
    assert torch.equal(c1[~keep], tampered[~keep]) and torch.equal(c2[~keep], authentic[~keep])


def test_shuffle_pairs_deterministic():
    a, b = torch.randn(32, 3), torch.randn(32, 3)
    y1 = shuffle_pairs(a, b, torch.Generator().manual_seed(5))[2]
    y2 = shuffle_pairs(a, b, torch.Generator().manual_seed(5))[2]
    y3 = shuffle_pairs(a, b, torch.Generator().manual_seed(6))[2]
    assert torch.equal(y1, y2) and not torch.equal(y1, y3)
    with pytest.raises(ValueError, match="share one shape"):
        shuffle_pairs(a, b[:5], torch.Generator())


# --- SiameseRanker ----------------------------------------------------------------------------


def small_ranker(width: int = 32) -> SiameseRanker:
    """A channel far smaller than Table 4's, for a fast learning test: 64 px -> 8 px x 16 -> width."""
    channel = nn.Sequential(
        conv_stack(3, [8, "M", 16, "M", 16, "M"]), nn.Flatten(), nn.Linear(16 * 8 * 8, width), nn.ReLU()
    )
    ranker = SiameseRanker(channel, width, hidden=16, dropout=0.0)
    init_weights(ranker)
    return ranker


def test_head_scores_against_the_reference_and_pairs_run_in_one_pass():
    ranker = small_ranker().eval()
    patches = torch.rand(6, 3, 64, 64)
    features = ranker.forward_features(patches)
    assert features.shape == (6, 32) and (features >= 0).all()
    ranker.set_reference(features)
    assert torch.allclose(ranker.reference, features.mean(0))
    assert torch.allclose(ranker(patches), ranker.compare(features, features.mean(0).expand(6, -1)))
    pairs = torch.stack([patches[:3], patches[3:]], 1)
    assert torch.allclose(PairDecision(ranker)(pairs), ranker.compare(features[:3], features[3:]), atol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 32\)"):
        ranker.set_reference(features[:, :5])
    with pytest.raises(ValueError, match=r"\(N, 2, ...\)"):
        PairDecision(ranker)(patches)


def toy_pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth 64x64 colour patches, and the same patches with noise added in a random 24x24 square."""
    rng = np.random.default_rng(seed)
    authentic = ndimage.gaussian_filter(rng.random((n, 64, 64, 3)), sigma=(0, 3, 3, 0))
    authentic = (authentic - authentic.min()) / np.ptp(authentic)
    tampered = authentic.copy()
    corners = rng.integers(0, 40, size=(n, 2))
    rows = corners[:, 0, None, None] + np.arange(24)[None, :, None]
    cols = corners[:, 1, None, None] + np.arange(24)[None, None, :]
    idx = np.arange(n)[:, None, None]
    tampered[idx, rows, cols] += rng.normal(0.0, 0.15, size=(n, 24, 24, 3))
    as_tensor = lambda a: torch.from_numpy(np.clip(a, 0, 1)).float().permute(0, 3, 1, 2)  # noqa: E731
    return as_tensor(authentic), as_tensor(tampered)


@pytest.fixture
def one_thread():
    """Tiny convolutions run faster on one thread; on a shared, busy CPU many times faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_ranker_learns_authentic_above_tampered(one_thread, seed, learned):
    """The paper's stage-1 recipe on a toy problem, trained through ``fit`` as the pipeline would."""
    authentic, tampered = toy_pairs(100, seed=2 * seed)
    val_authentic, val_tampered = toy_pairs(40, seed=2 * seed + 1)
    torch.manual_seed(seed)
    ranker = small_ranker()
    module = PairDecision(ranker)

    def batches(gen):
        order = torch.randperm(len(authentic), generator=gen)
        for i in range(0, len(order), 20):
            c1, c2, y = shuffle_pairs(authentic[order[i : i + 20]], tampered[order[i : i + 20]], gen)
            yield torch.stack([c1, c2], 1), y

    def validate():
        c1, c2, y = shuffle_pairs(val_authentic, val_tampered, torch.Generator().manual_seed(0))
        return float(siamese_hinge(module(torch.stack([c1, c2], 1)), y))

    config = TrainConfig(epochs=5, patience=10, lr=0.01, loss="siamese", seed=seed)
    state = fit(module, batches, validate, config, progress=False)
    # measured 0.001 +- 0.002 (worst 0.004, 304 spreads)
    learned("training loss, last / first epoch", state.history[-1]["loss"] / state.history[0]["loss"], below=0.5)
    with torch.no_grad():
        ranker.set_reference(ranker.forward_features(torch.cat([authentic, tampered])))
        pair_right = ranker.compare(ranker.forward_features(val_authentic), ranker.forward_features(val_tampered)) > 0
        single_right = ranker(val_authentic) > ranker(val_tampered)
    # measured 1.000 +- 0.000 (worst 1.000, inf spreads)
    learned("pairs ordered right", pair_right.float().mean(), above=0.9)
    # measured 1.000 +- 0.000 (worst 1.000, inf spreads)
    learned("single patches ordered right", single_right.float().mean(), above=0.9)
