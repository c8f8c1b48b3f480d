"""How each preset fits the photos of the real data sets: no crop, no distortion, no up-scaling."""

from __future__ import annotations

import pytest

import torch

from hyperimage import presets
from hyperimage.inference import preprocess
from hyperimage.inference.grid import PatchGrid

#: (preset, (height, width) of a data set's photo): LIVE-C 500 x 500 (its largest 640 x 960),
#: KonIQ-10k 1024 x 768, CASIA v1 384 x 256 in both orientations.
CASES = [
    ("livec", (500, 500)),
    ("livec", (640, 960)),
    ("livec-rgb", (500, 500)),
    ("livec-imagenet", (500, 500)),
    ("livec-imagenet", (640, 960)),
    ("koniq", (768, 1024)),
    ("forgery", (256, 384)),
    ("forgery", (384, 256)),
]


@pytest.mark.parametrize("name, size", CASES)
def test_real_photo_sizes_keep_their_aspect_and_are_covered_by_the_grid(name: str, size: tuple[int, int]) -> None:
    config = presets.get(name)
    grid = PatchGrid(config.patch, config.grid, config.max_size)
    fitted = grid.fit_size(*size)
    assert fitted[0] <= size[0] and fitted[1] <= size[1]  # never up-scaled
    assert fitted[0] / fitted[1] == pytest.approx(size[0] / size[1], abs=1.0 / min(fitted))  # isotropic
    rows, cols = grid.origins(*fitted)
    assert (len(rows), len(cols)) == tuple(config.grid)
    for origins, extent in ((rows, fitted[0]), (cols, fitted[1])):
        covered = origins[-1] + config.patch - origins[0]
        assert covered <= extent and covered / extent > 0.9  # Eq. 2 leaves only a thin centred border
        assert origins[0] == pytest.approx(extent - (origins[-1] + config.patch), abs=1)


def test_livec_keeps_its_500_px_photos_at_full_size_on_stride_16() -> None:
    config = presets.get("livec")
    grid = PatchGrid(config.patch, config.grid, config.max_size)
    assert grid.fit_size(500, 500) == (500, 500)
    assert grid.strides(500, 500) == (16, 16)
    assert config.window_labels == "image"  # no pristine references in the wild


def test_koniq_halves_its_photos_to_the_tid_grid() -> None:
    config = presets.get("koniq")
    grid = PatchGrid(config.patch, config.grid, config.max_size)
    assert grid.fit_size(768, 1024) == (384, 512)
    assert grid.strides(384, 512) == (16, 16)


def test_livec_rgb_keeps_the_exposure_and_contrast_that_lcn_normalises_away() -> None:
    rgb, lcn = presets.get("livec-rgb"), presets.get("livec")
    assert (rgb.grid, rgb.max_size, rgb.stage1, rgb.window_labels) == (lcn.grid, lcn.max_size, lcn.stage1, lcn.window_labels)
    photo = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    washed_out = 0.5 + 0.4 * photo  # brighter, less contrast
    signed, normalised = preprocess.get(rgb.preprocess), preprocess.get(lcn.preprocess)
    assert signed(photo).min() >= -1.0 and signed(photo).max() <= 1.0
    seen_by_rgb = (signed(washed_out) - signed(photo)).abs().mean()
    seen_by_lcn = (normalised(washed_out) - normalised(photo)).abs().mean() / normalised(photo).abs().mean()
    assert seen_by_rgb > 0.2 and seen_by_lcn < 0.05
