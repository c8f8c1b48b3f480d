"""The copy-move evidence channel (:mod:`hyperimage.inference.evidence.copy_move`).

A crop of scikit-image's ``coffee`` photo with a 64-px block copied elsewhere in it (shifted;
shifted, turned 5 degrees and saved as JPEG) must light up the source and the copy and nothing
much else; photos that repeat themselves honestly (scikit-image's ``brick`` wall, a tiled
pattern) must score below the copy; flat and tiny images give zeros.
"""

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from hyperimage.inference.evidence import CHANNELS, CellGrid, Evidence, analyse
from hyperimage.inference.evidence.copy_move import CopyMove, CopyMoveConfig, detect

GRID = CellGrid(64)
#: The block's source and target: whole cells of GRID, (row, column) of the cell.
SOURCE, TARGET = (1, 1), (2, 4)


def _photo() -> np.ndarray:
    """A 256 x 384 RGB crop of a real photo (varied texture, some flat areas)."""
    return np.ascontiguousarray(data.coffee()[80:336, 100:484])


def _cells(cell: tuple[int, int]) -> tuple[slice, slice]:
    return slice(cell[0] * 64, cell[0] * 64 + 64), slice(cell[1] * 64, cell[1] * 64 + 64)


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _copy_moved(angle: float = 0.0, quality: int | None = None) -> np.ndarray:
    """The photo with the SOURCE cell's block pasted over the TARGET cell, turned by ``angle``
    degrees about its centre (the corners come from the turned surroundings)."""
    photo = _photo()
    rows, cols = _cells(SOURCE)
    centre = ((cols.start + cols.stop) / 2, (rows.start + rows.stop) / 2)
    turn = cv2.getRotationMatrix2D(centre, angle, 1.0)
    turned = cv2.warpAffine(photo, turn, photo.shape[1::-1], flags=cv2.INTER_CUBIC)
    out = photo.copy()
    out[_cells(TARGET)] = turned[rows, cols]
    return out if quality is None else _jpeg(out, quality)


def _strength(pixels: np.ndarray) -> np.ndarray:
    return CopyMove()(Evidence(pixels), GRID)[..., 0]


@pytest.mark.parametrize("angle, quality", [(0.0, None), (5.0, 85)], ids=["shifted", "turned-jpeg"])
def test_source_and_copy_light_up(angle, quality):
    strength = _strength(_copy_moved(angle, quality))
    assert strength.shape == GRID.shape(256, 384)
    assert strength[SOURCE] > 0.5 and strength[TARGET] > 0.5
    others = np.ones(strength.shape, bool)
    others[SOURCE] = others[TARGET] = False
    assert np.median(strength[others]) == 0.0


def test_the_original_photo_is_clean():
    assert detect(_photo()).score < 0.2


def test_cells_have_the_grid_shape_and_the_features_named():
    image = _copy_moved()[:250, :300]  # partial cells
    cells = analyse(Evidence(image), ["copy-move"], GRID)
    assert cells.shape == (4, 5, 3) and cells.dtype == np.float32
    assert CHANNELS.get("copy-move").features == ("strength", "keypoints", "dense")
    assert np.all((cells[..., 0] >= 0) & (cells[..., 0] < 1)) and np.all(cells[..., 2] <= 1)
    assert cells[..., 1].max() > 0  # inlier keypoints counted in their cells


def test_found_pairs_point_from_source_to_copy():
    found = detect(_copy_moved())
    assert len(found.pairs) >= 4
    shift = np.abs(found.pairs[:, 1] - found.pairs[:, 0])
    np.testing.assert_allclose(np.median(shift, axis=0), [192, 64], atol=2)  # (dx, dy) of the paste


@pytest.mark.parametrize("texture", ["brick", "tiles"])
def test_repeated_textures_score_below_a_copy(texture):
    if texture == "brick":
        gray = data.brick()[:256, :384]
    else:
        tile = np.random.default_rng(0).integers(0, 256, (24, 24), dtype=np.uint8)
        gray = cv2.GaussianBlur(np.tile(tile, (11, 16))[:256, :384], (3, 3), 0)
    honest = detect(_jpeg(np.stack([gray] * 3, axis=2), 90)).score
    assert honest < 0.5 * detect(_copy_moved(5.0, 85)).score


@pytest.mark.parametrize("shape", [(256, 384), (12, 9), (1, 1)])
def test_flat_and_tiny_images_give_zeros(shape):
    flat = np.full((*shape, 3), 128, np.uint8)
    cells = CopyMove()(Evidence(flat), GRID)
    assert cells.shape == (*GRID.shape(*shape), 3) and not cells.any()


def test_a_bad_image_is_refused_by_name():
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        detect(np.zeros((8, 8, 4), np.uint8))


def test_deterministic():
    image = _copy_moved(5.0, 85)
    first, second = detect(image), detect(image)
    np.testing.assert_array_equal(first.strength, second.strength)
    np.testing.assert_array_equal(first.pairs, second.pairs)


def test_a_config_is_honoured():
    image = _copy_moved()
    units = CopyMoveConfig(keypoint_unit=1e6, area_unit=1e6, pair_unit=1e6)
    weak = CopyMove(units)(Evidence(image), GRID)[..., 0].max()
    assert 0 < weak < 0.01 < _strength(image).max()
