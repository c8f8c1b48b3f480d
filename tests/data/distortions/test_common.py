"""Shared helpers: colour space, codecs, filtered noise."""

from __future__ import annotations

import numpy as np
import pytest

from hyperimage.data.distortions import _common


def test_ycbcr_matches_jfif_and_round_trips():
    rgb = np.array([[[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    ycc = _common.ycbcr_from_rgb(rgb)
    np.testing.assert_allclose(ycc[0, 0], [1.0, 0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(ycc[0, 1], [0.299, 0.5 - 0.168736, 1.0], atol=1e-6)  # JFIF red
    np.testing.assert_allclose(ycc[0, 2], [0.0, 0.5, 0.5], atol=1e-6)
    x = np.random.default_rng(0).random((5, 7, 3))
    np.testing.assert_allclose(_common.rgb_from_ycbcr(_common.ycbcr_from_rgb(x)), x, atol=1e-9)


@pytest.mark.parametrize("shape", [(16, 16), (16, 16, 3)])
def test_codec_roundtrips_keep_shape(shape):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    for out in (_common.jpeg_roundtrip(image, 90), _common.jpeg2000_roundtrip(image, 4.0)):
        assert out.shape == shape and out.dtype == np.float32


def test_filtered_noise_has_unit_variance():
    noise = _common.filtered_noise((256, 256), np.random.default_rng(0), lambda x: _common.gaussian_blur(x, 2.0))
    assert noise.var() == pytest.approx(1.0, rel=0.1)


def test_check_image_accepts_float64_and_returns_float32():
    out = _common.check_image(np.full((4, 4), 0.5))
    assert out.dtype == np.float32


def test_to_uint8_rounds():
    np.testing.assert_array_equal(_common.to_uint8(np.array([0.0, 0.5, 1.0, 1.2])), [0, 128, 255, 255])
