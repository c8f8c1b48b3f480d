"""The noise evidence channel (:mod:`hyperimage.inference.evidence.noise`)."""

import numpy as np
from scipy import ndimage
from skimage import data

from hyperimage.inference.evidence import CellGrid, Evidence, analyse


def _spliced(seed: int, sigma: float) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Astronaut with noise of ``sigma`` grey levels, and a 128-px block from a smoothed copy
    (another history: no noise) pasted in at cells (3-4, 4-5) of a 64-px grid."""
    rng = np.random.default_rng(seed)
    image = data.astronaut().astype(np.float32)
    noisy = np.clip(image + rng.normal(0, sigma, image.shape), 0, 255)
    where = (slice(192, 320), slice(256, 384))
    noisy[where] = ndimage.gaussian_filter(image, (1.5, 1.5, 0))[where]
    return np.rint(noisy).astype(np.uint8), where


def test_a_pasted_region_without_the_hosts_noise_stands_out():
    pixels, _ = _spliced(0, 4.0)
    cells = analyse(Evidence(pixels), ["noise"], CellGrid(64))
    assert cells.shape == (8, 8, 6)
    level = cells[..., :2].mean(axis=2)
    pasted = level[3:5, 4:6]
    others = np.delete(level.ravel(), [3 * 8 + 4, 3 * 8 + 5, 4 * 8 + 4, 4 * 8 + 5])
    assert pasted.max() < -3 and np.median(others) > -1  # robust z: the pasted cells far below the image's own level


def test_the_noise_level_is_read_against_the_image_itself():
    """The same photo at another noise level everywhere gives about the same cells (a contrast
    within the image, not a file-wide statistic)."""
    low, _ = _spliced(1, 3.0)
    high, _ = _spliced(1, 6.0)
    a, b = (analyse(Evidence(p), ["noise"])[..., :2] for p in (low, high))
    assert abs(np.median(a)) < 0.3 and abs(np.median(b)) < 0.3  # centred on the image's own level
    assert np.abs(a - b).mean() < 0.6 * np.abs(a).mean()


def test_flat_and_tiny_images_give_finite_cells_and_runs_are_deterministic():
    for pixels in (np.full((40, 50, 3), 128, np.uint8), np.zeros((8, 8, 3), np.uint8)):
        cells = analyse(Evidence(pixels), ["noise"], CellGrid(64))
        assert cells.shape == (1, 1, 6) and np.isfinite(cells).all()
    pixels, _ = _spliced(2, 4.0)
    np.testing.assert_array_equal(analyse(Evidence(pixels), ["noise"]), analyse(Evidence(pixels.copy()), ["noise"]))
