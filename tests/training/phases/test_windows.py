"""The IQA preset end to end on a tiny photo benchmark: LCN, selective patches, Kang, TID stage 2."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from hyperimage import presets
from hyperimage.data.datasets import folder
from hyperimage.data.generators import iqa_photos
from hyperimage.data.photos import builtin_photos
from hyperimage.evaluation.protocol import evaluate_records, random_split
from hyperimage.inference.model import read_image
from hyperimage.training import Recipe, TrainConfig, patch_average_of, train
from hyperimage.training.store import ImageStore


@pytest.fixture(scope="module")
def tiny_iqa(tmp_path_factory):
    photos = [(name, img[100:196, 100:228]) for name, img in builtin_photos()[:5]]
    out = tmp_path_factory.mktemp("iqa")
    iqa_photos.make_iqa_dataset(photos, out, types=(1, 15), levels=(1, 3, 5), localized=1, seed=0)
    return random_split(folder.load(out), seed=0)


def test_selective_windows_come_from_damaged_regions_and_references(tiny_iqa, tmp_path):
    model = presets.get("tid")
    from hyperimage.inference.model import HyperImageModel

    bank = ImageStore.prepare([r for r in tiny_iqa if r.split == "train"], HyperImageModel(model), tmp_path)
    pristine = torch.tensor([r.distortion == iqa_photos.NO_DISTORTION for r in bank.records])
    assert torch.all(bank.weights[pristine] > 0)  # every reference window is kept
    distorted = bank.weights[~pristine]
    assert 0 < (distorted > 0).float().mean() < 1  # some, not all, distorted windows
    assert bank.weights[pristine].sum() == pytest.approx(distorted.sum().item(), rel=1e-5)


def test_tid_preset_trains_both_methods_and_scores(tiny_iqa):
    settings = Recipe.simple(
        TrainConfig(epochs=2, patience=2), TrainConfig(epochs=2, patience=2, batch_size=8), windows_per_image=8
    )
    model, result = train(tiny_iqa, presets.get("tid"), settings, seed=0, progress=False)
    assert result.stage2 is not None and result.stage2.best == min(h["val"] for h in result.stage2.history)
    test = [r for r in tiny_iqa if r.split == "test"]
    for m in (model, patch_average_of(model, result)):
        ev = evaluate_records(m, test)
        assert ev["n"] == len(test) and not ev["errors"]
        images = torch.stack([read_image(r.path, m.config, m.grid) for r in test])
        with torch.no_grad():
            scores = m.clip(m(images)).numpy()
        assert ev["srocc"] == pytest.approx(spearmanr(scores, [r.target for r in test]).statistic, abs=1e-9)
