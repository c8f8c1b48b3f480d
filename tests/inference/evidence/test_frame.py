"""The evidence grid and reader (:mod:`hyperimage.inference.evidence`)."""

import numpy as np
import pytest
from PIL import Image

from hyperimage.data.io import ImageError
from hyperimage.inference.evidence import CellGrid, Evidence, analyse


def test_cells_follow_the_image_and_partial_cells_average_what_they_hold():
    grid = CellGrid(16)
    assert grid.shape(40, 33) == (3, 3)
    values = np.arange(40 * 33, dtype=np.float64).reshape(40, 33)
    pooled = grid.pool(values)
    assert pooled.shape == (3, 3)
    assert pooled[0, 0] == pytest.approx(values[:16, :16].mean())
    assert pooled[2, 2] == pytest.approx(values[32:, 32:].mean())  # an 8 x 1 corner
    per_block = grid.pool(values[::8, ::8], scale=8)  # one value per 8x8 block
    assert per_block.shape == (3, 3) and per_block[1, 0] == pytest.approx(values[16:32:8, :16:8].mean())
    stacked = grid.pool(np.stack([values, -values], axis=2))
    np.testing.assert_allclose(stacked[..., 1], -pooled, rtol=1e-6)


def test_interpolated_maps_pass_through_the_cell_centres_and_stay_within_them():
    grid = CellGrid(32)
    cells = np.array([[0.0, 1.0, 4.0], [2.0, 3.0, -1.0]])
    heat = grid.interpolate(cells, 60, 90)
    assert heat.shape == (60, 90) and heat.dtype == np.float32
    # a cell's centre lies between its pixels 15 and 16: within half a pixel's slope along each
    # axis of its value (the largest steps between neighbouring cells here: 5 down, 4 across)
    for r, c in np.ndindex(2, 3):
        assert np.abs(heat[32 * r + 15 : 32 * r + 17, 32 * c + 15 : 32 * c + 17] - cells[r, c]).max() <= (5 + 4) / 64 + 1e-6
    assert heat[0, 0] == 0.0 and heat[59, 89] == -1.0  # constant beyond the outer centres
    assert cells.min() <= heat.min() and heat.max() <= cells.max()
    assert heat[15, 40] == pytest.approx(cells[0, 0] + (40.5 - 16) / 32 * (cells[0, 1] - cells[0, 0]), abs=1e-3)
    with pytest.raises(ValueError, match="do not cover"):
        grid.interpolate(cells, 100, 90)


def test_a_cell_is_whole_jpeg_blocks():
    with pytest.raises(ValueError, match="multiple of 8"):
        CellGrid(60)
    with pytest.raises(ValueError, match="whole number of 16-px values"):
        CellGrid(8).pool(np.zeros((4, 4)), scale=16)


def test_evidence_is_read_at_native_size_as_stored(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "turn 90 degrees to show": evidence keeps the stored layout
    image.save(tmp_path / "a.png", exif=exif)
    evidence = Evidence.read(tmp_path / "a.png")
    np.testing.assert_array_equal(evidence.pixels, pixels)
    assert evidence.size == (70, 90) and evidence.gray.shape == (70, 90)
    assert analyse(evidence, [], CellGrid(64)).shape == (2, 2, 0)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ImageError, match="bad.png"):
        Evidence.read(tmp_path / "bad.png")


def test_every_channel_names_its_headline_and_says_what_its_map_shows():
    from hyperimage.inference.evidence import CHANNELS

    for name, channel in CHANNELS.items():
        assert channel.name == name and channel.headline in channel.features, name
        assert channel.legend.startswith(f"{name}: ") and "\n" not in channel.legend, name
        assert channel.shipped_model is None or isinstance(channel.shipped_model, str)


def test_readings_carry_their_cells_notes_and_image_level_figures():
    from hyperimage.inference.evidence import read_channels

    rng = np.random.default_rng(0)
    evidence = Evidence(rng.integers(0, 256, (70, 130, 3), dtype=np.uint8), name="held.png")
    noise, jpeg = read_channels(evidence, ["noise", "jpeg"], CellGrid(64))
    assert noise.cells.shape == (2, 3, len(noise.channel.features)) and noise.notes == ()
    np.testing.assert_array_equal(noise.headline, noise.cells[..., noise.channel.features.index("level-rows")])
    assert jpeg.notes == ("held.png: an image in memory, not a JPEG file; the JPEG channel gives zeros",)
    assert list(evidence.notes) == list(jpeg.notes)
    figures = jpeg.figures()
    assert figures["max"]["not_jpeg"] == 1.0 and figures["min"]["adq"] == 0.0 and figures["notes"] == list(jpeg.notes)
    assert figures["max"].keys() == set(jpeg.channel.features)
    np.testing.assert_array_equal(analyse(evidence, ["noise", "jpeg"], CellGrid(64)), np.concatenate([noise.cells, jpeg.cells], axis=2))
