"""Tests of the stage-1 forgery patch pairs (hyperimage.data.forgery_patches)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.generators.tampering import make_tampering_dataset
from hyperimage.data.forgery_patches import (
    contour_patch_pairs, contour_points, crop_patches, mean_patch, pairs_from_records,
)
from hyperimage.data.io import load_image, save_image

SHAPE = (100, 120)


def disc(centre: tuple[float, float], radius: float, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    rows, cols = np.indices(shape)
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def on_seam(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Whether each point is a mask pixel with a 4-neighbour inside the image that is not."""
    inner = mask & ~ndimage.binary_erosion(mask, border_value=1)
    return inner[points[:, 0], points[:, 1]]


def test_points_lie_on_the_boundary_of_a_disc_evenly_spaced():
    mask = disc((50, 60), 20)
    points = contour_points(mask, np.random.default_rng(0))
    assert points.shape == (15, 2) and points.dtype == np.int64
    assert on_seam(mask, points).all()
    radii = np.hypot(points[:, 0] - 50, points[:, 1] - 60)
    assert (radii > 18.5).all() and (radii <= 20).all()
    angles = np.sort(np.arctan2(points[:, 0] - 50, points[:, 1] - 60))
    gaps = np.diff(np.r_[angles, angles[0] + 2 * np.pi])
    np.testing.assert_allclose(gaps, 2 * np.pi / 15, atol=0.08)


def test_points_are_deterministic_under_the_generator():
    mask = disc((50, 60), 20)
    first = contour_points(mask, np.random.default_rng(3))
    np.testing.assert_array_equal(first, contour_points(mask, np.random.default_rng(3)))
    assert not np.array_equal(first, contour_points(mask, np.random.default_rng(4)))


def test_short_contour_gives_fewer_distinct_points():
    mask = np.zeros(SHAPE, bool)
    mask[40:42, 50:52] = True
    points = contour_points(mask, np.random.default_rng(0))
    assert 1 <= len(points) < 15
    assert len(np.unique(points, axis=0)) == len(points)
    assert mask[points[:, 0], points[:, 1]].all()
    assert len(contour_points(disc((50, 60), 20), np.random.default_rng(0), count=4)) == 4


def test_no_contour_no_points():
    assert contour_points(np.zeros(SHAPE, bool), np.random.default_rng(0)).shape == (0, 2)
    assert contour_points(np.ones(SHAPE, bool), np.random.default_rng(0)).shape == (0, 2)


def test_image_border_is_not_a_seam_and_every_region_is_sampled():
    mask = np.zeros(SHAPE, bool)
    mask[:30, 10:50] = True  # touches the top border
    mask |= disc((70, 90), 12)
    points = contour_points(mask, np.random.default_rng(1), count=30)
    assert on_seam(mask, points).all()  # on_seam treats outside the image as inside the mask
    assert (points[:, 0] >= 50).any() and (points[:, 0] < 35).any()


def test_bad_mask():
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        contour_points(np.zeros((4, 4, 3)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="count"):
        contour_points(np.zeros((4, 4)), np.random.default_rng(0), count=0)


def test_crops_are_centred_and_reflect_padded():
    image = np.random.default_rng(0).random((40, 50, 3)).astype(np.float32)
    centres = np.array([[20, 25], [0, 0], [39, 49]])
    patches = crop_patches(image, centres, size=16)
    assert patches.shape == (3, 16, 16, 3) and patches.dtype == np.float32
    np.testing.assert_array_equal(patches[:, 8, 8], image[centres[:, 0], centres[:, 1]])
    np.testing.assert_array_equal(patches[0], image[12:28, 17:33])
    # row -1 mirrors row 1 (reflect, edge not repeated); the odd-size patch goes one pixel further down
    np.testing.assert_array_equal(patches[1, 7, 8:], image[1, :8])
    np.testing.assert_array_equal(patches[1, :8, 8], image[8:0:-1, 0])
    np.testing.assert_array_equal(patches[2, 15, 8], image[32, 49])
    assert crop_patches(image[..., 0], centres, size=15).shape == (3, 15, 15)
    with pytest.raises(ValueError, match="inside"):
        crop_patches(image, np.array([[40, 0]]))
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        crop_patches(image, np.array([1, 2]))


def test_contour_patch_pairs():
    rng = np.random.default_rng(0)
    authentic = rng.random((*SHAPE, 3)).astype(np.float32)
    mask = disc((50, 60), 20)
    tampered = np.where(mask[..., None], 1.0 - authentic, authentic)
    pairs = contour_patch_pairs(tampered, authentic, mask, np.random.default_rng(5))
    assert pairs.tampered.shape == pairs.authentic.shape == (15, 64, 64, 3)
    np.testing.assert_array_equal(pairs.centres, contour_points(mask, np.random.default_rng(5)))
    c = pairs.centres
    np.testing.assert_array_equal(pairs.tampered[:, 32, 32], tampered[c[:, 0], c[:, 1]])
    np.testing.assert_array_equal(pairs.authentic[:, 32, 32], authentic[c[:, 0], c[:, 1]])
    with pytest.raises(ValueError, match="share"):
        contour_patch_pairs(tampered, authentic[:50], mask, rng)


def test_pairs_from_records_of_the_tampering_benchmark(tmp_path):
    rng = np.random.default_rng(0)
    photos = [ndimage.gaussian_filter(rng.random((64, 80, 3)), (2, 2, 0)).astype(np.float32) for _ in range(2)]
    records = make_tampering_dataset(photos, tmp_path, n_images=6, seed=0, size=(48, 64), tampered_fraction=0.5)
    pairs = pairs_from_records(records, np.random.default_rng(1), count=5, size=16)
    tampered = [r for r in records if r.target == 0.0]
    assert 3 * 2 <= len(pairs.centres) <= 3 * 5
    assert pairs.tampered.shape == pairs.authentic.shape == (len(pairs.centres), 16, 16, 3)
    first = tampered[0]
    mask = load_image(first.mask, mode="L") > 0.5
    k = len(contour_points(mask, np.random.default_rng(1), 5))
    np.testing.assert_array_equal(pairs.authentic[:k], crop_patches(load_image(first.reference), pairs.centres[:k], 16))
    assert not np.array_equal(pairs.tampered[:k], pairs.authentic[:k])
    again = pairs_from_records(records, np.random.default_rng(1), count=5, size=16)
    np.testing.assert_array_equal(again.tampered, pairs.tampered)
    with pytest.raises(ValueError, match="no tampered record"):
        pairs_from_records([r for r in records if r.target == 1.0], rng)
    small = tmp_path / "small.png"
    save_image(small, np.zeros((8, 8, 3), np.float32))
    resized = ImageRecord(path=first.path, target=0.0, mask=first.mask, reference=small)
    with pytest.warns(UserWarning, match="skipped 1 tampered images"):
        assert len(pairs_from_records([resized, first], rng, count=3).centres) >= 1
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no tampered record"):
        pairs_from_records([resized], rng)


def test_mean_patch():
    a = np.random.default_rng(0).random((5, 8, 8, 3)).astype(np.float32)
    b = np.random.default_rng(1).random((3, 8, 8, 3)).astype(np.float32)
    mean = mean_patch(a, b)
    assert mean.shape == (8, 8, 3) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, np.concatenate([a, b]).mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="no patches"):
        mean_patch()
    with pytest.raises(ValueError, match="patch shape"):
        mean_patch(a, b[:, :4])
