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
