"""The registry and `distort`, checked over every registered type (timm's test-the-registry habit)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from hyperimage.data.distortions.implementations import srgb_to_linear
from hyperimage.data.distortions import (
    LIVE_SHARED_TYPES, NON_UNIFORM_TYPES, NUM_LEVELS, RANKIQA_TYPES, available, distort, get, masks, noise, register,
)

ASTRONAUT = data.astronaut().astype(np.float32) / 255.0
#: A 96 x 128 crop with face, hair and flat background.
CROP = np.ascontiguousarray(ASTRONAUT[60:156, 180:308])
GRAY = np.ascontiguousarray(CROP.mean(axis=2))
#: TID2013's image size, for types defined per 512 x 384 image (counts of pasted patches and
#: damaged blocks, JPEG2000 ratios that a tiny image cannot reach).
TID_SIZE = np.ascontiguousarray(ASTRONAUT[:384, :512])

ALL = [d.number for d in available()]
GRAY_OK = [d.number for d in available() if not d.colour_only]
#: Types that use no randomness.
DETERMINISTIC = {7, 8, 10, 11, 18, 22, 23, 25, 26, 27, 28, 29}
#: Types whose strength is measured on a TID2013-size image.
NEEDS_TID_SIZE = {11, 12, 13, 14, 15}
#: Types whose levels mix count and colour (RankIQA's #15) or copy similar texture (#14):
#: their strength is the damaged area, not PSNR.
AREA_MEASURED = set(NON_UNIFORM_TYPES)


def psnr(x: np.ndarray, reference: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((x.astype(np.float64) - reference) ** 2)))


def test_all_24_types_are_registered_under_tid2013_numbers():
    assert ALL[:24] == list(range(1, 25)) and all(n > 24 for n in ALL[24:])
    names = [d.name for d in available()]
    assert len(set(names)) == len(ALL)
    assert all(len(d.levels) == NUM_LEVELS == 5 for d in available())
    assert get(14).name == "non_eccentricity_pattern_noise"
    assert get(15).name == "local_block_wise_distortions"
    assert get(16).name == "mean_shift"


def test_constants():
    assert RANKIQA_TYPES == (1, 2, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 22, 23)
    assert NON_UNIFORM_TYPES == (14, 15)
    assert LIVE_SHARED_TYPES == (1, 8, 10, 11)
    assert {d.number for d in available() if not d.uniform} == {12, 13, 14, 15}
    assert {d.number for d in available() if d.colour_only} == {2, 18, 22, 23}


def test_get_by_number_or_name():
    assert get("JPEG") is get(10) is get(np.int64(10))
    assert get(" gaussian_blur ").number == 8


def test_families_have_several_implementations_apart_from_the_projects():
    """JPEG, blur and noise are each made by TID2013's type and by other code (leave-one-
    implementation-out needs at least two beside the project's); nothing else has a family."""
    from hyperimage.data.distortions.implementations import FAMILIES

    by_family: dict[str, list[str]] = {}
    for d in available():
        if d.family is not None:
            by_family.setdefault(d.family, []).append(d.implementation)
    assert set(by_family) == set(FAMILIES)
    assert by_family["jpeg"][0] == by_family["blur"][0] == by_family["noise"][0] == "hyperimage"
    assert all(len(impls) >= 3 and len(set(impls)) == len(impls) for impls in by_family.values())
    assert "TID2013" not in get("jpeg_opencv").function.__doc__.split("Registered as")[1]


def test_other_implementations_make_the_damage_they_name():
    """Grey grain is one value in all channels; linear-light noise is stronger in the shadows
    than in the highlights once encoded, shot noise grows with the signal in linear light; 4:4:4 keeps more
    colour than 4:2:0 at one quality; a motion blur smears along one direction only."""
    dark, light = np.full((64, 64, 3), 0.1, np.float32), np.full((64, 64, 3), 0.8, np.float32)
    grain = distort(CROP, "luminance_noise", 1, 0) - CROP
    inside = ((CROP > 0.2) & (CROP < 0.8)).all(-1)  # 7 standard deviations from a clip
    assert inside.mean() > 0.3 and np.allclose(grain[..., 0][inside], grain[..., 2][inside], atol=1e-5)
    std = {name: [float((distort(x, name, 3, 0) - x).std()) for x in (dark, light)] for name in ("linear_light_noise", "shot_noise")}
    assert std["linear_light_noise"][0] > 2 * std["linear_light_noise"][1]
    linear = [float(srgb_to_linear(distort(x, "shot_noise", 3, 0)).std()) for x in (dark, light)]
    assert 2 * linear[0] < linear[1]  # in linear light it grows with the signal
    chroma = lambda x: np.abs(x - x.mean(axis=-1, keepdims=True))  # noqa: E731
    assert np.abs(chroma(distort(CROP, "jpeg_444", 4, 0)) - chroma(CROP)).mean() < np.abs(chroma(distort(CROP, "jpeg", 4, 0)) - chroma(CROP)).mean()
    dot = np.zeros((41, 41), np.float32)
    dot[20, 20] = 1.0
    smear = distort(dot, "motion_blur", 5, 0) > 1e-4  # (a large kernel is applied through the DFT: no exact zeros)
    rows, cols = np.nonzero(smear)
    spread = np.linalg.eigvalsh(np.cov(np.stack([rows, cols]).astype(float)))
    assert spread[1] > 20 * max(spread[0], 1e-3)


def test_registration_documents_levels():
    doc = noise.additive_gaussian_noise.__doc__
    assert "TID2013 #1 'additive_gaussian_noise'" in doc
    assert "1: 0.0005" in doc and "5: 0.05" in doc


@pytest.mark.parametrize("number, name, levels", [(1, "other", (1,) * 5), (0, "new", (1,) * 5), (20, "x", (1, 2))])
def test_register_refuses_clashes_and_bad_tables(number, name, levels):
    with pytest.raises(ValueError):
        register(number, name, levels)(lambda image, p, rng: image)
    assert get(1).name == "additive_gaussian_noise"


def test_register_refuses_a_taken_name():
    with pytest.raises(ValueError, match="clashes"):
        register(24, "jpeg", (1,) * 5)(lambda image, p, rng: image)


@pytest.mark.parametrize("number", ALL)
def test_strength_increases_with_level(number):
    """PSNR to the reference falls at every level; for #14 and #15 the damaged area grows.

    #15's levels change both the number of blocks and their colour (RankIQA's design), and
    #14 copies texture that may resemble what it covers, so PSNR is not monotone for them.
    #17 (contrast) may raise or lower contrast, but a given seed picks the same direction at
    every level, so its PSNR still falls.
    """
    image = TID_SIZE if number in NEEDS_TID_SIZE else CROP
    outs = [distort(image, number, level, np.random.default_rng(7)) for level in range(1, 6)]
    if number in AREA_MEASURED:
        strength = [float(np.mean(np.any(o != image, axis=-1))) for o in outs]
        assert all(a < b for a, b in zip(strength, strength[1:])), strength
    else:
        quality = [psnr(o, image) for o in outs]
        assert all(a > b for a, b in zip(quality, quality[1:])), quality


@pytest.mark.parametrize("number", ALL)
def test_shape_dtype_and_range_are_kept(number):
    for image in [CROP, GRAY] if number in GRAY_OK else [CROP]:
        out = distort(image.astype(np.float64), number, 3, np.random.default_rng(0))
        assert out.shape == image.shape
        assert out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
        assert not np.array_equal(out, image)


@pytest.mark.parametrize("number", ALL)
def test_determinism(number):
    image = CROP if get(number).colour_only else GRAY
    first = distort(image, number, 4, np.random.default_rng(3))
    np.testing.assert_array_equal(first, distort(image, number, 4, np.random.default_rng(3)))
    np.testing.assert_array_equal(first, distort(image, number, 4, 3))  # an int seed is the same generator
    others = [distort(image, number, 4, np.random.default_rng(seed)) for seed in range(4, 8)]
    if number in DETERMINISTIC:
        assert all(np.array_equal(first, other) for other in others)
    else:
        assert not all(np.array_equal(first, other) for other in others)


@pytest.mark.parametrize("number", ALL)
def test_localized_distortion_leaves_outside_unchanged(number):
    mask = masks.rectangles(CROP.shape, 0.3, np.random.default_rng(1))
    inside = mask.astype(bool)
    whole = distort(CROP, number, 4, np.random.default_rng(2))
    local = distort(CROP, number, 4, np.random.default_rng(2), mask=mask)
    np.testing.assert_array_equal(local[~inside], CROP[~inside])
    np.testing.assert_array_equal(local[inside], whole[inside])


def test_soft_mask_blends():
    mask = np.full(CROP.shape[:2], 0.25, dtype=np.float32)
    whole = distort(CROP, 1, 3, np.random.default_rng(0))
    local = distort(CROP, 1, 3, np.random.default_rng(0), mask=mask)
    np.testing.assert_allclose(local, 0.25 * whole + 0.75 * CROP, atol=1e-6)


@pytest.mark.parametrize("level", [0, 6, -1, 2.5, True, "3", None])
def test_bad_level(level):
    with pytest.raises(ValueError, match="level must be an integer from 1"):
        distort(CROP, 1, level, np.random.default_rng(0))


@pytest.mark.parametrize("kind", [0, 99, "no_such_noise", 3.0, None])
def test_unknown_type(kind):
    with pytest.raises(ValueError, match="distortion"):
        distort(CROP, kind, 1, np.random.default_rng(0))


def test_unknown_type_lists_known_ones():
    with pytest.raises(ValueError, match="known types: 1 additive_gaussian_noise"):
        get(99)


@pytest.mark.parametrize(
    "image, message",
    [
        ((CROP * 255).astype(np.uint8), "float array"),
        (np.zeros((8, 8, 4), np.float32), "shape"),
        (np.zeros((8,), np.float32), "shape"),
        (CROP * 2.0, r"\[0, 1\]"),
        (np.full((8, 8), np.nan, np.float32), "NaN"),
        (CROP.tolist(), "numpy array"),
    ],
)
def test_bad_image(image, message):
    with pytest.raises(ValueError, match=message):
        distort(image, 1, 1, np.random.default_rng(0))


@pytest.mark.parametrize("number", [2, 18, 22, 23])
def test_colour_only_types_refuse_gray(number):
    with pytest.raises(ValueError, match="needs an RGB"):
        distort(GRAY, number, 1, np.random.default_rng(0))


@pytest.mark.parametrize("number, size", [(12, 32), (13, 32), (14, 25), (15, 32)])
def test_too_small_images_are_refused(number, size):
    tiny = np.full((size - 1, 64, 3), 0.5, dtype=np.float32)
    with pytest.raises(ValueError, match=f"at least {size}x{size}"):
        distort(tiny, number, 1, np.random.default_rng(0))


@pytest.mark.parametrize("mask", [np.ones((5, 5)), np.full(CROP.shape[:2], 1.5), np.full(CROP.shape[:2], -0.1)])
def test_bad_mask(mask):
    with pytest.raises(ValueError, match="mask"):
        distort(CROP, 1, 1, np.random.default_rng(0), mask=mask)


@pytest.mark.parametrize("rng", [None, 1.5, np.random.RandomState(0)])
def test_bad_rng(rng):
    with pytest.raises(ValueError, match="rng must be"):
        distort(CROP, 1, 1, rng)
