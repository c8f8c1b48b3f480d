"""Noise types #1-#7 and #19: the statistics each one promises."""

from __future__ import annotations

import numpy as np
import pytest

from hyperimage.data.distortions import noise
from hyperimage.data.distortions._common import ycbcr_from_rgb

FLAT = np.full((128, 128), 0.5, dtype=np.float32)


def neighbour_correlation(x: np.ndarray) -> float:
    """Correlation of horizontally adjacent values."""
    return float(np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1])


def added(function, image, parameter, seed=0) -> np.ndarray:
    return function(image, parameter, np.random.default_rng(seed)).astype(np.float64) - image


def test_additive_gaussian_noise_has_the_level_variance():
    n = added(noise.additive_gaussian_noise, FLAT, 0.01)
    assert n.var() == pytest.approx(0.01, rel=0.05)
    assert abs(neighbour_correlation(n)) < 0.05


@pytest.mark.parametrize(
    "function, low, high", [(noise.spatially_correlated_noise, 0.6, 1.0), (noise.high_frequency_noise, -1.0, -0.1)]
)
def test_filtered_noise_keeps_the_variance_and_changes_the_spectrum(function, low, high):
    """Low-pass noise makes neighbours alike, high-pass noise makes them opposite."""
    n = added(function, FLAT, 0.005)
    assert n.var() == pytest.approx(0.005, rel=0.1)
    assert low < neighbour_correlation(n) < high


def test_masked_noise_follows_texture():
    rng = np.random.default_rng(1)
    image = np.full((128, 128), 0.5, dtype=np.float32)
    image[:, 64:] = 0.25 + 0.5 * rng.random((128, 64))  # textured right half
    n = added(noise.masked_noise, image, 0.001)
    assert n[:, 72:].std() > 5 * n[:, :56].std()
    assert np.mean(n**2) == pytest.approx(0.001, rel=0.25)


def test_masked_noise_on_a_flat_image_is_uniform():
    n = added(noise.masked_noise, FLAT, 0.001)
    assert n.var() == pytest.approx(0.001, rel=0.1)


def test_colour_component_noise_is_stronger_in_chroma():
    image = np.full((64, 64, 3), 0.5, dtype=np.float32)
    out = noise.colour_component_noise(image, 0.0198, np.random.default_rng(0))
    ycc = ycbcr_from_rgb(out) - ycbcr_from_rgb(image)
    luma, chroma = ycc[..., 0].std(), ycc[..., 1:].std()
    assert chroma > 1.5 * luma > 0


def test_impulse_noise_sets_the_density_to_black_or_white():
    density = 0.05
    out = noise.impulse_noise(FLAT, density, np.random.default_rng(0))
    hit = out != 0.5
    assert hit.mean() == pytest.approx(density, rel=0.1)
    assert set(np.unique(out[hit])) == {0.0, 1.0}
    assert np.mean(out[hit] == 0.0) == pytest.approx(0.5, abs=0.07)


def test_quantization_noise_uses_steps_of_the_given_size():
    ramp = np.tile(np.linspace(0, 1, 256, dtype=np.float32), (4, 1))
    out = noise.quantization_noise(ramp, 55, np.random.default_rng(0))
    levels = np.unique(np.rint(out * 255))
    assert np.all(np.isin(levels[:-1], np.arange(0, 256, 55)))  # multiples of 55, plus 255 clipped
    assert len(levels) == 6
    assert np.abs(out - ramp).max() <= 27.5 / 255 + 1e-6


def test_multiplicative_noise_scales_with_intensity():
    image = np.zeros((64, 128), dtype=np.float32)
    image[:, 64:] = 0.5
    out = noise.multiplicative_gaussian_noise(image, 0.1, np.random.default_rng(0))
    assert np.all(out[:, :64] == 0.0)  # nothing multiplies black
    assert (out[:, 64:] - 0.5).std() == pytest.approx(0.05, rel=0.1)
