"""Tests for hyperimage.evaluation.baselines.niqe: block features, the pristine MVG, the NIQE distance."""

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage import data

from hyperimage.data.io import save_image
from hyperimage.data.photos import builtin_photos
from hyperimage.evaluation.baselines.niqe import (
    BLOCK, DEFAULT_MODEL, NiqeModel, block_features, fit_folder, fit_pristine,
)


@pytest.fixture(scope="module")
def pristine() -> NiqeModel:
    """A pristine model fitted on four built-in photos (``coffee`` is held out)."""
    photos = [image for name, image in builtin_photos() if name != "coffee"]
    assert len(photos) == 4
    return fit_pristine(photos, corpus="four built-in photos")


def _coffee() -> np.ndarray:
    return data.coffee().astype(np.float64) / 255.0


def test_block_features_shape_and_sharpness():
    image = _coffee()  # 400 x 600: 4 x 6 whole blocks, the rest cropped
    features, sharpness = block_features(image)
    assert features.shape == (24, 36) and sharpness.shape == (24,)
    assert np.isfinite(features).all() and (sharpness > 0).all()
    blurred, blurred_sharpness = block_features(gaussian_filter(image, (3, 3, 0)))
    assert (blurred_sharpness < sharpness).all()
    assert (blurred[:, 1] < features[:, 1]).all()  # blur flattens local contrast below C: MSCN shrink


def test_blur_and_noise_score_worse_than_the_clean_photo(pristine):
    image = _coffee()
    rng = np.random.default_rng(0)
    clean = pristine.score(image)
    assert 0 <= clean < pristine.score(gaussian_filter(image, (2, 2, 0)))
    assert clean < pristine.score(np.clip(image + 0.05 * rng.standard_normal(image.shape), 0, 1))
    assert pristine.score(image) == clean  # deterministic
    assert not NiqeModel.higher_is_better


def test_shipped_model_loads_and_ranks_distortions():
    model = NiqeModel.load()
    assert model.images >= 5 and model.blocks > 36 and model.corpus
    assert DEFAULT_MODEL.stat().st_size < 100_000
    image = data.chelsea().astype(np.float64) / 255.0  # not in the corpus
    assert model.score(image) < model.score(gaussian_filter(image, (2, 2, 0)))


def test_save_load_round_trip_and_bad_files(pristine, tmp_path):
    path = tmp_path / "niqe.json"
    pristine.save(path)
    copy = NiqeModel.load(path)
    assert np.array_equal(copy.mean, pristine.mean) and np.array_equal(copy.cov, pristine.cov)
    assert copy.corpus == "four built-in photos" and copy.images == 4
    bad = tmp_path / "bad.json"
    for text in ("not json", json.dumps({"format": "other"}), json.dumps({"format": "hyperimage-niqe-mvg", "mean": [0], "cov": [[0]]})):
        bad.write_text(text)
        with pytest.raises(ValueError, match=str(bad)) as info:
            NiqeModel.load(bad)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("shape", [(BLOCK, BLOCK, 3), (150, 150), (BLOCK - 1, 400)])
def test_too_small_images_raise_one_line(pristine, shape):
    with pytest.raises(ValueError, match="at least two 96x96 blocks") as info:
        pristine.score(np.zeros(shape))
    assert "\n" not in str(info.value)


def test_fit_folder_names_a_bad_file(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(2):
        save_image(tmp_path / f"{i}.png", gaussian_filter(rng.random((200, 200, 3)), (1, 1, 0)).astype(np.float32))
    model = fit_folder(tmp_path)
    assert model.images == 2 and model.corpus == f"2 photos under {tmp_path.name}/"
    save_image(tmp_path / "small.png", np.zeros((50, 50, 3), np.float32))
    with pytest.raises(ValueError, match="small.png: smaller than two"):
        fit_folder(tmp_path)
    with pytest.raises(ValueError, match="no images"):
        fit_folder(tmp_path / "empty")
