import numpy as np
import pytest
from scipy import stats

import torch

from hyperimage.data import datasets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.evaluation import protocol
from hyperimage.evaluation.localisation import best_threshold, truth_mask
from hyperimage.evaluation.protocol import (
    apply_saved_splits, chance_auc_spread, classification_metrics, correlations, localisation_metrics, random_split, summarise,
)
from hyperimage.inference.explain import heat_map
from hyperimage.inference.model import HyperImageModel, read_image
from hyperimage.storage import SPLITS_FILE


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
    # authentic scores 0.3, 0.8, 0.9: their 5% quantile is 0.3 + 0.05 * 2 * (0.8 - 0.3) = 0.35,
    # below which lies one of the two tampered scores (0.1, not 0.6)
    assert m["detection_at_5pc"] == pytest.approx(0.5)
    # 21 authentic scores 0..20: the quantile is 1 exactly; of 0.5, 1 and 3 only 0.5 lies below it
    assert classification_metrics([*range(21), 0.5, 1.0, 3.0], [1] * 21 + [0] * 3)["detection_at_5pc"] == pytest.approx(1 / 3)
    assert np.isnan(classification_metrics([0.2, 0.7], [1, 1])["detection_at_5pc"])
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


def _splits(model_dir, data):
    """``data``'s validation and test records as the model folder's ``splits.csv`` has them."""
    records = apply_saved_splits(datasets.load(data), model_dir / SPLITS_FILE, data)
    return [r for r in records if r.split == "val"], [r for r in records if r.split == "test"]


def test_localisation_metrics_take_the_threshold_from_the_validation_masks(thin_forgery_model, tiny_forgery, tmp_path):
    model = HyperImageModel.load(thin_forgery_model)
    val, test = _splits(thin_forgery_model, tiny_forgery)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a JPEG")
    masked = next(r for r in test if r.mask is not None)
    m = localisation_metrics(model, val, [*test, ImageRecord(path=broken, target=0.0, mask=masked.mask)])
    assert m["threshold_from"] == "val" and m["images"] == 2  # the two masked tampered test images; the broken one left out
    assert len(m["errors"]) == 1 and str(broken) in m["errors"][0]
    assert 0.0 <= m["iou"] <= m["f1"] <= 1.0 and 0.0 <= m["centred_box"]["iou"] <= m["centred_box"]["f1"] <= 1.0
    (chosen,) = [r for r in val if r.mask is not None and r.target == 0.0]
    x = read_image(chosen.path, model.config, model.grid)[None]
    with torch.no_grad():
        val_map = heat_map(model, x)[0, 0].numpy()
    assert np.isnan(val_map).any()  # the aligned grid leaves a border: NaN is never flagged
    assert m["threshold"] == best_threshold([val_map], [truth_mask(chosen, val_map.shape)])
    own = localisation_metrics(model, [], test, split="test")  # no validation masks: the split's own
    assert own["threshold_from"] == "test" and own["images"] == 2


def test_a_perfect_map_scores_one_and_the_centred_box_less(thin_forgery_model, tiny_forgery, monkeypatch):
    """The heat map is the true mask itself (read as the image): pixel F1 and IoU 1."""
    def mask_as_image(path, config, grid):
        (record,) = [r for r in [*val, *test] if r.path == path]
        return torch.from_numpy(truth_mask(record, (96, 128))).float()[None].expand(3, -1, -1)

    val, test = _splits(thin_forgery_model, tiny_forgery)
    monkeypatch.setattr(protocol, "read_image", mask_as_image)
    monkeypatch.setattr(protocol, "heat_map", lambda model, images: images[:, :1])
    m = localisation_metrics(HyperImageModel.load(thin_forgery_model), val, test)
    assert m["f1"] == m["iou"] == 1.0 and m["images"] == 2 and m["threshold_from"] == "val"
    assert m["centred_box"]["f1"] < 0.9
