"""Tests for hyperimage.inference.lcn: local contrast normalisation, Eq. 4 of the paper."""

import numpy as np
import pytest
import torch

from hyperimage.inference import lcn as lcn_module
from hyperimage.inference.lcn import gaussian_window, lcn, lcn_torch


def _textured(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 image in [0, 1] with smooth areas, edges and noise."""
    height, width = shape[:2]
    ramp = np.linspace(0.1, 0.8, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    ramp[height // 3 :, width // 2 :] += 0.15  # a step edge
    if len(shape) == 3:
        ramp = ramp[..., None] * np.array([1.0, 0.8, 0.6], dtype=np.float32)
    noise = 0.03 * rng.standard_normal(shape).astype(np.float32)
    return np.clip(ramp + noise, 0.0, 1.0).astype(np.float32)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.atleast_3d(image)).permute(2, 0, 1)[None]


def _direct_eq4(image: np.ndarray, i: int, j: int, eps: float) -> float:
    """Eq. 4 at one interior pixel, written out as plain sums over the 7x7 window."""
    sigma_w = 7 / 6
    weights = {}
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            weights[dy, dx] = np.exp(-(dy * dy + dx * dx) / (2 * sigma_w**2))
    total = sum(weights.values())
    mu = sum(w / total * float(image[i + dy, j + dx]) for (dy, dx), w in weights.items())
    var = sum(
        w / total * (float(image[i + dy, j + dx]) - mu) ** 2 for (dy, dx), w in weights.items()
    )
    return (float(image[i, j]) - mu) / (np.sqrt(var) + eps)


def test_window_sums_to_one_and_is_circularly_symmetric():
    w = gaussian_window()
    assert w.shape == (7, 7)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(w, w.T, atol=0)
    np.testing.assert_allclose(w, w[::-1, :], atol=0)
    # offsets at equal distance from the centre get equal weight: (0, 3) ~ (3, 0), (1, 2) ~ (2, 1)
    r2 = np.add.outer(np.arange(-3, 4) ** 2, np.arange(-3, 4) ** 2)
    for value in np.unique(r2):
        assert np.ptp(w[r2 == value]) < 1e-15
    # 7x7 spans +-3 sigma with the default sigma = 7/6: corner / centre = exp(-18 / (2 (7/6)^2))
    assert w[0, 0] / w[3, 3] == pytest.approx(np.exp(-18 / (2 * (7 / 6) ** 2)))


def test_matches_direct_sums_at_interior_pixels():
    rng = np.random.default_rng(0)
    image = rng.random((12, 13)).astype(np.float32)
    out = lcn(image, eps=1 / 255)
    for i, j in [(3, 3), (5, 8), (8, 9), (6, 4)]:
        assert out[i, j] == pytest.approx(_direct_eq4(image, i, j, 1 / 255), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("border", ["reflect", "replicate", "zeros"])
def test_border_rules_match_explicit_padding(border):
    rng = np.random.default_rng(1)
    image = rng.random((9, 10)).astype(np.float32)
    mode = {"reflect": "reflect", "replicate": "edge", "zeros": "constant"}[border]
    padded = np.pad(image, 3, mode=mode)
    out = lcn(image, border=border)
    for i, j in [(0, 0), (0, 9), (8, 4), (2, 1)]:
        expected = _direct_eq4(padded, i + 3, j + 3, 1 / 255)
        assert out[i, j] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_constant_image_maps_to_zero():
    image = np.full((10, 11, 3), 0.37, dtype=np.float32)
    np.testing.assert_allclose(lcn(image), 0.0, atol=1e-6)
    np.testing.assert_allclose(lcn_torch(_to_tensor(image)).numpy(), 0.0, atol=1e-5)


def test_affine_intensity_change_scales_eps_only():
    rng = np.random.default_rng(2)
    image = _textured(rng, (20, 24)).astype(np.float64)
    a, b = 0.5, 0.2
    # (aI + b - a mu) / (a sigma + a eps) == (I - mu) / (sigma + eps)
    np.testing.assert_allclose(lcn(a * image + b, eps=a / 255), lcn(image, eps=1 / 255), atol=1e-5)
    # with the same eps the change is small where the image has contrast (sigma >> eps)
    diff = np.abs(lcn(a * image + b) - lcn(image))
    assert diff.max() < 0.15


def test_shape_and_dtype():
    rng = np.random.default_rng(3)
    gray = _textured(rng, (16, 20))
    rgb = _textured(rng, (16, 20, 3))
    assert lcn(gray).shape == (16, 20) and lcn(gray).dtype == np.float32
    assert lcn(rgb).shape == (16, 20, 3) and lcn(rgb).dtype == np.float32
    assert lcn(rgb.astype(np.float64)).dtype == np.float32
    x = _to_tensor(rgb)
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        y = lcn_torch(x.to(dtype))
        assert y.shape == (1, 3, 16, 20) and y.dtype == dtype


def test_rgb_channels_are_normalised_independently():
    rng = np.random.default_rng(4)
    rgb = _textured(rng, (15, 17, 3))
    out = lcn(rgb)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], lcn(rgb[..., c]))


@pytest.mark.parametrize("border", ["reflect", "replicate", "zeros"])
def test_torch_agrees_with_numpy(border):
    rng = np.random.default_rng(5)
    batch = np.stack([_textured(rng, (24, 28, 3)) for _ in range(2)])  # (B, H, W, C)
    x = torch.from_numpy(batch).permute(0, 3, 1, 2)
    got = lcn_torch(x, border=border).permute(0, 2, 3, 1).numpy()
    expected = np.stack([lcn(image, border=border) for image in batch])
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    got64 = lcn_torch(x.double(), border=border).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(got64, expected, atol=1e-6, rtol=0)


def test_torch_chunks_of_planes_give_the_same_result(monkeypatch):
    rng = np.random.default_rng(6)
    x = torch.from_numpy(np.stack([_textured(rng, (19, 23, 1)) for _ in range(5)])).permute(0, 3, 1, 2)
    whole = lcn_torch(x)
    monkeypatch.setattr(lcn_module, "CHUNK_VALUES", 2 * 19 * 23)  # chunks of 2, 2 and 1 planes
    torch.testing.assert_close(lcn_torch(x), whole, rtol=0, atol=0)
    expected = np.stack([lcn(image) for image in x.permute(0, 2, 3, 1).numpy()])
    np.testing.assert_allclose(lcn_torch(x).permute(0, 2, 3, 1).numpy(), expected, atol=1e-5, rtol=0)


def test_float32_stays_accurate_in_nearly_flat_regions():
    # E[I^2] - mu^2 in float32 is off by ~1e-2 here; the centred form must not be
    rng = np.random.default_rng(6)
    image = (0.9 + 1e-3 * rng.random((32, 32))).astype(np.float32)
    got = lcn_torch(_to_tensor(image))[0, 0].numpy()
    np.testing.assert_allclose(got, lcn(image), atol=1e-5, rtol=0)


def test_deterministic():
    rng = np.random.default_rng(7)
    image = _textured(rng, (18, 18, 3))
    np.testing.assert_array_equal(lcn(image), lcn(image.copy()))
    x = _to_tensor(image)
    torch.testing.assert_close(lcn_torch(x), lcn_torch(x.clone()), rtol=0, atol=0)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="shape"):
        lcn(np.zeros((2, 8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        lcn(np.zeros(8, dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        lcn_torch(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="dtype"):
        lcn(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        lcn_torch(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="border"):
        lcn(np.zeros((8, 8), dtype=np.float32), border="wrap")
    with pytest.raises(ValueError, match="eps"):
        lcn(np.zeros((8, 8), dtype=np.float32), eps=0.0)
    with pytest.raises(ValueError, match="radius"):
        lcn(np.zeros((3, 8), dtype=np.float32))  # reflect padding of 3 needs > 3 rows
    with pytest.raises(ValueError, match="window_sigma"):
        gaussian_window(3, 0.0)
