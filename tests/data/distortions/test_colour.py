"""Colour and intensity types: #16-#18, #22, #23."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from hyperimage.data.distortions import colour
from hyperimage.data.distortions._common import ycbcr_from_rgb

CROP = np.ascontiguousarray(data.astronaut()[60:156, 180:308]).astype(np.float32) / 255.0
#: Mid-range values, so that shifts and stretches are not clipped.
MID = (0.3 + 0.4 * CROP).astype(np.float32)
RNG = np.random.default_rng


def test_mean_shift_moves_every_value_by_the_level_both_ways():
    shifts = {float(np.round((colour.mean_shift(MID, 30, RNG(s)) - MID).mean() * 255, 3)) for s in range(8)}
    assert shifts == {30.0, -30.0}
    out = colour.mean_shift(MID, 30, RNG(0))
    np.testing.assert_allclose(np.abs(out - MID), 30 / 255, atol=1e-6)


def test_contrast_change_scales_deviations_about_the_mean():
    outs = [colour.contrast_change(MID, (0.7, 1.4), RNG(s)) for s in range(8)]
    ratios = {round(float(o.std() / MID.std()), 3) for o in outs}
    assert ratios == {0.7, 1.4}
    for out in outs:
        assert float(out.mean()) == pytest.approx(float(MID.mean()), abs=1e-5)


def test_saturation_zero_makes_gray_and_keeps_luminance():
    out = colour.colour_saturation_change(CROP, 0.0, RNG(0))
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-6)
    np.testing.assert_allclose(out[..., 1], out[..., 2], atol=1e-6)
    np.testing.assert_allclose(ycbcr_from_rgb(out)[..., 0], ycbcr_from_rgb(CROP)[..., 0], atol=1e-5)


def test_negative_saturation_swaps_hues_for_their_complements():
    red = np.zeros((4, 4, 3), dtype=np.float32)
    red[..., 0] = 0.6
    red[..., 1:] = 0.2
    out = colour.colour_saturation_change(red, -0.8, RNG(0))
    assert out[0, 0, 0] < out[0, 0, 1] and out[0, 0, 0] < out[0, 0, 2]  # red became cyan-ish


def block_means(x: np.ndarray) -> np.ndarray:
    """Mean colour of each 8 x 8 block of a 96 x 128 image."""
    return x.reshape(12, 8, 16, 8, 3).mean(axis=(1, 3))


@pytest.mark.parametrize("colours", [64, 8, 4])
def test_colour_quantization_uses_at_most_the_palette(colours):
    out = colour.colour_quantization_dither(CROP, colours, RNG(0))
    assert len(np.unique(out.reshape(-1, 3), axis=0)) <= colours
    # dithering keeps the local average colour close to the original
    assert np.abs(block_means(out) - block_means(CROP)).mean() < 0.05


def test_chromatic_aberration_moves_red_right_and_blue_left():
    edge = np.zeros((16, 64, 3), dtype=np.float32)
    edge[:, 32:] = 1.0
    out = colour.chromatic_aberration(edge, 10, RNG(0))
    red, green, blue = (int(np.argmax(out[8, :, c] >= 0.5)) for c in range(3))
    assert red == green + 5
    assert blue == green - 5
