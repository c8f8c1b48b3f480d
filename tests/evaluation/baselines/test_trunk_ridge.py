"""The pre-trained-trunk baseline: pooled ImageNet features + ridge regression."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.stats import spearmanr
from skimage import data, filters

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.evaluation.baselines.trunk_ridge import TrunkRidge, pooled_features
from hyperimage.inference.networks.efficientnet_lite import EfficientNetLite
from hyperimage.storage import save_tensors


def blur_records(folder: Path) -> list[ImageRecord]:
    photos = [data.astronaut()[::2, ::2], data.coffee()[::2, ::2], data.chelsea(), data.rocket()[::2, ::2]]
    records = []
    for k, photo in enumerate(photos):
        for level in range(6):
            img = filters.gaussian(photo / 255.0, sigma=0.7 * level, channel_axis=-1) if level else photo / 255.0
            path = folder / f"{k}-{level}.png"
            Image.fromarray((img * 255).astype(np.uint8)).save(path)
            records.append(ImageRecord(path=path, target=10.0 - level))
    return records


def test_pooled_features_hold_mean_and_deviation_of_each_tap(tmp_path):
    records = blur_records(tmp_path)[:2]
    feats = pooled_features(records, taps=["block14", "head"])
    assert feats.shape == (2, 2 * (192 + 1280)) and np.isfinite(feats).all()
    assert (feats[:, 192:384] >= 0).all()  # the deviations of block 14
    np.testing.assert_array_equal(pooled_features(records, taps=["block14", "head"]), feats)  # cached, deterministic


def test_ridge_on_trunk_features_ranks_blur_on_a_photo_it_never_saw(tmp_path, learned):
    records = blur_records(tmp_path)
    train = [r for r in records if not r.path.name.startswith(("2-", "3-"))]
    val = [r for r in records if r.path.name.startswith("2-")]
    test = [r for r in records if r.path.name.startswith("3-")]
    model = TrunkRidge().fit(train, val)
    # measured 0.943 +- 0.000 (worst 0.943, inf spreads)
    learned("SROCC on the unseen photo", spearmanr(model.predict(test), [r.target for r in test]).statistic, above=0.8)


def test_pooled_features_of_another_variant_read_its_own_weights_file(tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "lite1.safetensors"
    save_tensors(weights, EfficientNetLite(variant="lite1").state_dict(), {})
    records = blur_records(tmp_path)[:2]
    feats = pooled_features(records, taps=["block19", "head"], variant="lite1", weights=weights)
    assert feats.shape == (2, 2 * (192 + 1280)) and np.isfinite(feats).all()
    assert not np.array_equal(feats, pooled_features(records, taps=["block14", "head"]))  # not Lite0's
