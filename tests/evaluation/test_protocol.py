import numpy as np
import pytest
from scipy import stats

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.evaluation.protocol import chance_auc_spread, classification_metrics, correlations, random_split, summarise


def test_correlations_match_scipy_and_handle_constants():
    rng = np.random.default_rng(0)
    t = rng.random(50)
    p = t + 0.3 * rng.random(50)
    c = correlations(p, t)
    assert c["srocc"] == pytest.approx(stats.spearmanr(p, t)[0])
    assert c["plcc"] == pytest.approx(np.corrcoef(p, t)[0, 1])
    assert c["krocc"] == pytest.approx(stats.kendalltau(p, t)[0])
    assert correlations([1, 2, 3], [3, 2, 1])["srocc"] == pytest.approx(-1.0)
    assert np.isnan(correlations([1, 1, 1], [1, 2, 3])["srocc"])
    with pytest.raises(ValueError):
        correlations([1, 2], [1, 2, 3])


def test_random_split_keeps_groups_together_and_follows_fractions():
    records = [ImageRecord(path=f"i{i}.png", target=float(i), group=f"ref{i % 25}") for i in range(250)]
    split = random_split(records, seed=4)
    by_group = {}
    for r in split:
        by_group.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in by_group.values())
    counts = {s: sum(1 for v in by_group.values() if s in v) for s in ("train", "val", "test")}
    assert counts == {"train": 15, "val": 5, "test": 5}
    assert random_split(records, seed=4) == split
    assert random_split(records, seed=5) != split


def test_fixed_splits_are_kept():
    records = [ImageRecord(path="a", target=1.0, split="test")] + [ImageRecord(path=f"b{i}", target=0.0) for i in range(10)]
    assert random_split(records, seed=0)[0].split == "test"


def test_summarise():
    s = summarise([{"srocc": 0.9}, {"srocc": 0.7}])
    assert s["srocc"]["mean"] == pytest.approx(0.8) and s["srocc"]["std"] == pytest.approx(0.1) and s["srocc"]["n"] == 2


def test_classification_metrics_by_hand():
    # labels: 1 authentic, 0 tampered; scores grow with "authentic"
    labels = [1, 1, 1, 0, 0]
    scores = [0.9, 0.8, 0.3, 0.6, 0.1]  # one authentic missed, one tampered missed
    m = classification_metrics(scores, labels)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["auc"] == pytest.approx(5 / 6)  # 5 of the 6 (authentic, tampered) pairs ordered right
    # tampered is the class F1 looks for: precision 1/2 (0.3 and 0.1 called tampered), recall 1/2
    assert m["f1"] == pytest.approx(0.5)
    assert classification_metrics([1.0, -1.0], [1, 0], threshold=0.0)["accuracy"] == 1.0
    assert np.isnan(classification_metrics([0.2, 0.7], [1, 1])["auc"])
    with pytest.raises(ValueError):
        classification_metrics([0.1], [1, 0])


def test_chance_auc_spread_is_the_spread_of_uninformative_scores():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(30), np.zeros(20)]
    aucs = [classification_metrics(rng.random(50), labels)["auc"] for _ in range(4000)]
    assert np.std(aucs) == pytest.approx(chance_auc_spread(30, 20), rel=0.05)
    assert chance_auc_spread(30, 20) == pytest.approx(np.sqrt(51 / (12 * 30 * 20)))
    with pytest.raises(ValueError, match="both classes"):
        chance_auc_spread(10, 0)
