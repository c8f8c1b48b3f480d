"""Tests of the photo benchmark's proxy quality label (hyperimage.data.generators.proxy_labels)."""

from __future__ import annotations

import numpy as np
import pytest

from hyperimage.data.distortions import distort, masks
from hyperimage.data.generators.proxy_labels import TOP_SCORE, centre_bias, proxy_quality, spectral_residual
from hyperimage.data.photos import builtin_photos

SIZE = (96, 128)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    found = builtin_photos(size=SIZE)
    assert found, "scikit-image's astronaut should be installed"
    return found[0][1]


def test_proxy_quality_identical_image_is_top(photo):
    assert proxy_quality(photo, photo) == pytest.approx(TOP_SCORE, abs=1e-9)
    assert proxy_quality(photo, photo, saliency=0.5) == pytest.approx(TOP_SCORE, abs=1e-9)


def test_proxy_quality_falls_with_damage(photo):
    scores = [proxy_quality(distort(photo, 1, level, np.random.default_rng(0)), photo) for level in range(1, 6)]
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores
    assert 0.0 <= scores[-1] < scores[0] < TOP_SCORE


def test_proxy_quality_weighs_the_centre_more(photo):
    noisy = distort(photo, 1, 4, np.random.default_rng(0))
    for area in (0.1, 0.3):
        centre = masks.blend(photo, noisy, masks.centre(photo.shape, area))
        periphery = masks.blend(photo, noisy, masks.periphery(photo.shape, area))
        assert proxy_quality(centre, photo) < proxy_quality(periphery, photo) - 1.0


def test_proxy_quality_mapping_values():
    # A constant reference and a shifted copy give a constant SSIM map, so s is known exactly.
    reference = np.full((32, 32), 0.5)
    shifted = reference + 0.2
    c1 = 0.01**2
    s = (2 * 0.5 * 0.7 + c1) / (0.5**2 + 0.7**2 + c1)  # SSIM's luminance term; structure terms are 1
    expected = TOP_SCORE * np.log(1 - s) / np.log(0.002)
    assert proxy_quality(shifted, reference) == pytest.approx(expected, rel=1e-6)
    noise = np.random.default_rng(0).random((32, 32))
    assert proxy_quality(1.0 - noise, noise) == 0.0  # inverted structure: SSIM below 0 is clipped


def test_proxy_quality_bad_input(photo):
    with pytest.raises(ValueError, match="differ in shape"):
        proxy_quality(photo[:50], photo)
    with pytest.raises(ValueError, match="11x11"):
        proxy_quality(photo[:8, :8], photo[:8, :8])
    with pytest.raises(ValueError, match="saliency"):
        proxy_quality(photo, photo, saliency=-0.1)
    with pytest.raises(ValueError, match="d_min"):
        proxy_quality(photo, photo, d_min=1.0)


def test_centre_bias_and_saliency_maps(photo):
    bias = centre_bias((40, 80))
    assert bias.shape == (40, 80) and np.all(bias[19:21, 39:41] == bias.max())  # the four central pixels
    # sigma is a quarter of each side: one sigma from the centre along either axis gives exp(-1/2)
    big = centre_bias((400, 800))
    assert big[300, 400] == pytest.approx(np.exp(-0.5 * ((100.5 / 100) ** 2 + (0.5 / 200) ** 2)))
    assert big[200, 600] == pytest.approx(np.exp(-0.5 * ((0.5 / 100) ** 2 + (200.5 / 200) ** 2)))
    saliency = spectral_residual(photo)
    assert saliency.shape == photo.shape[:2] and 0.0 <= saliency.min() and saliency.max() <= 1.0
    assert np.all(spectral_residual(np.full((30, 40), 0.3)) == 1.0)
    with pytest.raises(ValueError, match="sigma"):
        centre_bias((10, 10), 0.0)
