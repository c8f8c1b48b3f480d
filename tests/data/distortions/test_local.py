"""Local types #12-#15: where the damage goes, how much, and how it grows with the level."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from hyperimage.data.distortions import local
from hyperimage.data.distortions._common import jpeg2000_roundtrip, jpeg_roundtrip, scaled_count

#: TID2013's size (512 x 384): the counts of the levels apply unscaled.
IMAGE = np.ascontiguousarray(data.astronaut()[:384, :512]).astype(np.float32) / 255.0
RNG = np.random.default_rng


def test_counts_scale_with_area():
    assert scaled_count(32, (384, 512)) == 32
    assert scaled_count(32, (192, 256, 3)) == 8
    assert scaled_count(2, (96, 128)) == 1  # never below one


def test_pattern_noise_copies_patches_from_five_pixels_away():
    out = local.non_eccentricity_pattern_noise(IMAGE, 30, RNG(0))
    changed = np.any(out != IMAGE, axis=2)
    assert 0 < changed.mean() <= 30 * 15 * 15 / changed.size
    padded = np.pad(IMAGE, ((5, 5), (5, 5), (0, 0)))
    shifted = [padded[5 + dy : 5 + dy + 384, 5 + dx : 5 + dx + 512] for dy in (-5, 5) for dx in (-5, 5)]
    explained = np.any([np.all(out == s, axis=2) for s in shifted], axis=0)
    assert explained[changed].all()


@pytest.mark.parametrize(
    "level_parameter, first_channel",
    [((2, 0.0, 0.0), 0.0), ((4, 1.0, 50 / 255), None), ((16, 1.0, 0.0), None)],
)
def test_block_wise_distortion_pastes_flat_blocks_of_the_level_colour(level_parameter, first_channel):
    count = level_parameter[0]
    out = local.local_block_wise_distortions(IMAGE, level_parameter, RNG(0))
    changed = np.any(out != IMAGE, axis=2)
    assert 0.5 * count * 1024 <= changed.sum() <= count * 1024
    colours = np.unique(out[changed], axis=0)
    assert len(colours) == 1
    mean = IMAGE.mean(axis=(0, 1))
    expected = mean.copy()
    expected[0] = first_channel if first_channel is not None else mean[0] * level_parameter[1] + level_parameter[2]
    np.testing.assert_allclose(colours[0], expected, atol=1e-6)


def damaged_blocks(out: np.ndarray, background: np.ndarray) -> set[tuple[int, int]]:
    diff = np.any(out != background, axis=2)
    rows, cols = np.nonzero(diff)
    return set(zip((rows // 32).tolist(), (cols // 32).tolist()))


@pytest.mark.parametrize(
    "function, background",
    [
        (local.jpeg_transmission_errors, jpeg_roundtrip(IMAGE, local.TRANSMISSION_JPEG_QUALITY)),
        (local.jpeg2000_transmission_errors, jpeg2000_roundtrip(IMAGE, local.TRANSMISSION_JPEG2000_RATIO)),
    ],
)
def test_transmission_errors_damage_whole_blocks_that_grow_nested(function, background):
    low = function(IMAGE, 4, RNG(0))
    high = function(IMAGE, 16, RNG(0))
    low_blocks, high_blocks = damaged_blocks(low, background), damaged_blocks(high, background)
    assert 1 <= len(low_blocks) <= 4 and len(high_blocks) <= 16
    assert low_blocks < high_blocks
    for r, c in low_blocks:  # a higher level repeats the damage of the lower one
        block = (slice(32 * r, 32 * r + 32), slice(32 * c, 32 * c + 32))
        np.testing.assert_array_equal(low[block], high[block])
    # every damaged block is visibly damaged
    for r, c in high_blocks:
        block = (slice(32 * r, 32 * r + 32), slice(32 * c, 32 * c + 32))
        assert np.sqrt(np.mean((high[block] - background[block]) ** 2)) > 4 / 255
