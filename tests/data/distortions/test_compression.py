"""Blur, denoising and compression types: #8-#11, #20, #21, #24."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from hyperimage.data.distortions import compression, noise

CROP = np.ascontiguousarray(data.astronaut()[60:156, 180:308]).astype(np.float32) / 255.0
RNG = np.random.default_rng


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b) ** 2))


def pillow_roundtrip(image: np.ndarray, fmt: str, **options) -> np.ndarray:
    """Reference: Pillow called directly, as a user would (uint8 in, uint8 out)."""
    buf = io.BytesIO()
    Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(buf, fmt, **options)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255.0


@pytest.mark.parametrize("image", [CROP, CROP.mean(axis=2)])
def test_jpeg_is_pillows_jpeg_at_the_level_quality(image):
    expected = pillow_roundtrip(image, "JPEG", quality=12, subsampling=2)
    np.testing.assert_array_equal(compression.jpeg(image, 12, RNG(0)), expected)


def test_jpeg2000_is_pillows_openjpeg_at_the_level_ratio():
    ratio = 24 / 0.46
    options = {"quality_mode": "rates", "quality_layers": [ratio], "irreversible": True, "mct": 1}
    expected = pillow_roundtrip(CROP, "JPEG2000", **options)
    np.testing.assert_array_equal(compression.jpeg2000(CROP, ratio, RNG(0)), expected)


def test_gaussian_blur_kernel_has_matlab_size_and_sigma():
    impulse = np.zeros((41, 41), dtype=np.float32)
    impulse[20, 20] = 1.0
    kernel = compression.gaussian_blur(impulse, 15, RNG(0)).astype(np.float64)
    support = np.nonzero(kernel)
    assert (support[0].min(), support[0].max()) == (13, 27)  # 15 x 15 kernel
    profile = kernel[20] / kernel[20].sum()
    sigma = np.sqrt(np.sum(profile * (np.arange(41) - 20) ** 2))
    assert sigma == pytest.approx(15 / 6, rel=0.1)  # truncated at 2.8 sigma, so a little narrower
    flat = np.full((20, 20), 0.3, np.float32)
    np.testing.assert_allclose(compression.gaussian_blur(flat, 91, RNG(0)), 0.3, atol=1e-6)


def test_image_denoising_removes_most_of_the_noise():
    for variance in (0.001, 0.01):
        denoised = compression.image_denoising(CROP, variance, RNG(0))
        noisy = noise.additive_gaussian_noise(CROP, variance, RNG(0))
        assert mse(denoised, CROP) < 0.5 * mse(noisy, CROP)


def test_comfort_noise_restores_the_detail_energy_compression_removed():
    decoded = pillow_roundtrip(CROP, "JPEG", quality=12, subsampling=2)
    out = compression.comfort_noise(CROP, 12, RNG(0))
    lost = mse(decoded, CROP)
    assert mse(out, decoded) == pytest.approx(lost, rel=0.25)  # as much noise as detail lost
    assert out.var() > decoded.var()


def test_noisy_image_compression_is_a_jpeg_of_a_noisy_image():
    out = compression.noisy_image_compression(CROP, (0.004, 20), RNG(0))
    noisy = np.clip(CROP + np.sqrt(0.004) * RNG(0).standard_normal(CROP.shape), 0, 1)
    np.testing.assert_array_equal(out, pillow_roundtrip(noisy, "JPEG", quality=20, subsampling=2))


def test_sparse_sampling_keeps_the_sampled_pixels():
    fraction = 0.15
    out = compression.sparse_sampling_reconstruction(CROP, fraction, RNG(0))
    kept = np.all(out == CROP, axis=2)
    assert kept.mean() == pytest.approx(fraction, abs=0.02)
    assert mse(out, CROP) < mse(np.zeros_like(CROP) + CROP.mean(axis=(0, 1)), CROP) / 4
