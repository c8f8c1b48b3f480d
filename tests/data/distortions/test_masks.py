"""Region masks: area fraction, shape, determinism, softness and the blend."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from hyperimage.data.distortions import masks

SHAPES = [(96, 128), (384, 512, 3), (50, 37)]
AREAS = [0.05, 0.3, 0.7]


def generate(kind: str, shape, area, seed=0, **options):
    if kind in ("centre", "periphery"):
        return getattr(masks, kind)(shape, area, **options)
    return getattr(masks, kind)(shape, area, np.random.default_rng(seed), **options)


@pytest.mark.parametrize("kind", masks.MASK_KINDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("area", AREAS)
def test_area_fraction_and_binary_values(kind, shape, area):
    mask = generate(kind, shape, area)
    assert mask.shape == shape[:2] and mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    tolerance = 0.011 if kind == "rectangles" else 1.0 / mask.size
    assert abs(mask.mean() - area) <= tolerance


@pytest.mark.parametrize("kind", masks.MASK_KINDS)
def test_feathered_masks_are_soft_and_keep_the_area(kind):
    mask = generate(kind, (96, 128), 0.3, feather=3.0)
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    assert np.mean((mask > 0) & (mask < 1)) > 0.05
    assert abs(mask.mean() - 0.3) < 0.03


@pytest.mark.parametrize("kind", ["blobs", "rectangles"])
def test_random_masks_are_deterministic(kind):
    first = generate(kind, (96, 128), 0.3, seed=5)
    np.testing.assert_array_equal(first, generate(kind, (96, 128), 0.3, seed=5))
    assert not np.array_equal(first, generate(kind, (96, 128), 0.3, seed=6))


@pytest.mark.parametrize("area", [0.0, 1.0])
@pytest.mark.parametrize("kind", masks.MASK_KINDS)
def test_empty_and_full_masks(kind, area):
    tolerance = 0.01 if kind == "rectangles" else 0.0  # rectangles stop within 1 % of the target
    assert abs(generate(kind, (40, 60), area).mean() - area) <= tolerance


def test_centre_and_periphery_are_complements():
    centre = masks.centre((96, 128), 0.4)
    periphery = masks.periphery((96, 128), 0.6)
    np.testing.assert_array_equal(centre + periphery, np.ones((96, 128), np.float32))
    assert centre[48, 64] == 1 and centre[0, 0] == 0 and centre[95, 127] == 0
    # the ellipse follows the image's aspect ratio: it reaches as far, relatively, along both axes
    rows, cols = np.nonzero(centre)
    assert abs((rows.max() - rows.min() + 1) / 96 - (cols.max() - cols.min() + 1) / 128) < 0.05


def blob_count(scale: float) -> int:
    return ndimage.label(masks.blobs((128, 128), 0.3, np.random.default_rng(0), scale=scale))[1]


def test_blobs_scale_sets_the_number_of_blobs():
    assert blob_count(0.02) > blob_count(0.15)


@pytest.mark.parametrize("seed", range(4))
def test_one_rectangle_fills_its_bounding_box(seed):
    mask = masks.rectangles((96, 128), 0.2, np.random.default_rng(seed), count=1)
    rows, cols = np.nonzero(mask)
    assert mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert 1 / 3 - 0.05 <= height / width <= 3 + 0.05


def test_make_mask_dispatches_and_refuses_unknown_kinds():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(masks.make_mask("centre", (20, 30), 0.5, rng), masks.centre((20, 30), 0.5))
    with pytest.raises(ValueError, match="unknown mask kind 'circle'; known kinds: blobs"):
        masks.make_mask("circle", (20, 30), 0.5, rng)


@pytest.mark.parametrize("area", [-0.1, 1.5])
def test_bad_area(area):
    with pytest.raises(ValueError, match="area fraction"):
        masks.centre((20, 30), area)


def test_bad_shape():
    with pytest.raises(ValueError, match="positive"):
        masks.blobs((0, 30), 0.5, np.random.default_rng(0))


def test_blend_is_exact_where_the_mask_is_0_or_1():
    rng = np.random.default_rng(0)
    original = rng.random((10, 12, 3), dtype=np.float32)
    distorted = rng.random((10, 12, 3), dtype=np.float32)
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    out = masks.blend(original, distorted, mask)
    np.testing.assert_array_equal(out[mask], distorted[mask])
    np.testing.assert_array_equal(out[~mask], original[~mask])


def test_blend_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="differ in shape"):
        masks.blend(np.zeros((4, 4)), np.zeros((4, 5)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="dtype"):
        masks.check_mask(np.array([["a"]]), (1, 1))
