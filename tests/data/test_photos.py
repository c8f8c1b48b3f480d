"""Tests of the photo catalogue and the photos of installed dependencies (hyperimage.data.photos)."""

from __future__ import annotations

import numpy as np

from hyperimage.data.photos import CATALOGUE, builtin_photos


def test_builtin_photos_are_real_rgb_images():
    photos = builtin_photos()
    names = [name for name, _ in photos]
    assert {"astronaut", "coffee", "rocket", "grace_hopper"} <= set(names)
    for name, image in photos:
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.float32, name
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert image.std() > 0.1 and not np.allclose(image[..., 0], image[..., 1]), name
    astronaut = dict(photos)["astronaut"]
    assert astronaut.shape == (512, 512, 3)


def test_builtin_photos_size_and_gray():
    photos = dict(builtin_photos(size=(96, 128), include_gray=True))
    assert photos["camera"].shape == (96, 128)
    assert all(image.shape[:2] == (96, 128) for image in photos.values())


def test_catalogue_is_pinned_and_unique():
    names = [p.name for p in CATALOGUE]
    assert len(names) == len(set(names))
    assert all(p.source in ("pypi", "debian") and p.version and p.licence for p in CATALOGUE)
    assert all(p.sha256 is not None and len(p.sha256) == 64 for p in CATALOGUE if p.source == "pypi")
    assert {p.rotate for p in CATALOGUE} == {0, 90, 180, 270}
