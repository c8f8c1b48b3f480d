"""The training and held-out photo pools: split once, by name."""

import json

import numpy as np
import pytest
from PIL import Image

from hyperimage.data.photo_pools import HELD_OUT_DEBIAN, is_held_out, pool_photos


def _entry(name: str, source: str) -> dict:
    return {
        "name": name, "path": f"{name}.png", "source": source, "package": "p", "version": "1", "member": "m",
        "licence": "CC0", "height": 8, "width": 8, "mode": "RGB", "original_height": 8, "original_width": 8,
        "lossy": False, "scale": 1.0, "sha256_original": "", "sha256_png": "",
    }


def test_a_photo_folder_splits_by_source_and_name(tmp_path):
    names = [("astronaut", "pypi"), ("lomiri_bridge", "debian"), ("mate_blinds", "debian"), ("plasma_grey", "debian")]
    for name, _ in names:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{name}.png")
    (tmp_path / "manifest.json").write_text(json.dumps({"size": None, "photos": [_entry(*n) for n in names]}))
    assert [p.stem for p in pool_photos(tmp_path, "held-out")] == ["astronaut", "lomiri_bridge"]
    assert [p.stem for p in pool_photos(tmp_path, "training")] == ["mate_blinds", "plasma_grey"]


def test_a_plain_folder_is_all_training_photos(tmp_path):
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{i}.jpg")
    assert len(pool_photos(tmp_path, "training")) == 3 and pool_photos(tmp_path, "held-out") == []


def test_pools_refuse_unknown_names_and_missing_folders(tmp_path):
    with pytest.raises(ValueError, match="pool must be"):
        pool_photos(tmp_path, "test")
    with pytest.raises(ValueError, match="no such folder"):
        pool_photos(tmp_path / "missing", "training")


def test_the_held_out_debian_photos_are_the_large_ones():
    assert len(HELD_OUT_DEBIAN) == 34 and is_held_out("plasma_kite", "debian") and not is_held_out("mate_dune", "debian")


def test_load_pool_keeps_colour_photos_large_enough_and_counts_the_rest(tmp_path):
    from hyperimage.data.photo_pools import load_pool

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "colour.png")
    Image.fromarray(rng.integers(0, 255, (10, 50, 3), dtype=np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.repeat(rng.integers(0, 255, (40, 50, 1), dtype=np.uint8), 3, axis=2)).save(tmp_path / "gray.png")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="left out 3 photos"):
        photos, names = load_pool([tmp_path], "training", min_side=20)
    assert names == ["colour"] and photos[0].dtype == np.uint8 and photos[0].shape == (40, 50, 3)
