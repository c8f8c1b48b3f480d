import numpy as np
import pytest
import torch

from hyperimage.inference.grid import PatchGrid, axis_origins, eq2_stride, gather_windows


@pytest.mark.parametrize(
    "size,patch,count,expected",
    [
        (128, 32, 10, 10),  # 96/9 = 10.67 rounds to 11, which overshoots -> 10
        (127, 32, 4, 31),  # 95/3 = 31.67 -> 32 overshoots (128 > 127) -> 31
        (512, 32, 31, 16),  # TID2013 width: exact
        (384, 32, 23, 16),  # TID2013 height: exact
        (501, 32, 31, 15),  # 469/30 = 15.63 -> 16 overshoots -> 15
        (99, 33, 3, 33),  # 66/2 = 33: exact, patches touch
        (97, 32, 5, 16),  # 65/4 = 16.25 -> 16
        (32, 32, 1, 0),
    ],
)
def test_eq2_stride_odd_sizes(size, patch, count, expected):
    stride = eq2_stride(size, patch, count)
    assert stride == expected
    assert stride * (count - 1) + patch <= size


@pytest.mark.parametrize("size", [97, 101, 127, 128, 255, 333, 511])
def test_origins_stay_inside_and_are_centred(size):
    o = axis_origins(size, 32, 7)
    assert o[0] >= 0 and o[-1] + 32 <= size
    assert len(set(np.diff(o))) == 1
    left, right = o[0], size - (o[-1] + 32)
    assert 0 <= right - left <= 1


def test_grid_for_size_matches_table4():
    assert PatchGrid.for_size((384, 512), 32, stride=16).grid == (23, 31)
    assert PatchGrid.for_size((128, 128), 32).grid == (4, 4)  # Eq. 2's ceil(M / sz)


def test_extract_matches_slicing_on_odd_image():
    grid = PatchGrid(patch=8, grid=(3, 4), max_size=(64, 64))
    img = torch.arange(2 * 3 * 29 * 37, dtype=torch.float32).view(2, 3, 29, 37)
    patches = grid.extract(img)
    assert patches.shape == (2, 3, 4, 3, 8, 8)
    rows, cols = grid.origins(29, 37)
    for u, r in enumerate(rows):
        for v, c in enumerate(cols):
            assert torch.equal(patches[:, u, v], img[:, :, r : r + 8, c : c + 8])
    assert torch.equal(gather_windows(img, rows, cols, 8), patches)


def test_single_patch_grid_and_too_small_image():
    grid = PatchGrid(patch=16, grid=(1, 1), max_size=(64, 64))
    out = grid.extract(torch.rand(1, 1, 20, 17))
    assert out.shape == (1, 1, 1, 1, 16, 16)
    with pytest.raises(ValueError, match="smaller than one"):
        grid.origins(15, 40)


def test_fit_image_scales_isotropically_and_never_up():
    grid = PatchGrid(patch=32, grid=(4, 4), max_size=(128, 128))
    big = np.random.rand(256, 200).astype(np.float32)
    out = grid.fit_image(big)
    assert out.shape == (128, 100) and out.dtype == np.float32
    small = np.random.rand(100, 90, 3).astype(np.float32)
    assert grid.fit_image(small) is small


@pytest.mark.parametrize("size", [64, 80, 256, 333, 384, 511])
@pytest.mark.parametrize("align", [1, 8, 16])
def test_aligned_origins_lie_on_the_lattice_inside_the_image_near_eq2(size, align):
    plain = axis_origins(size, 64, 15)
    o = axis_origins(size, 64, 15, align)
    assert o[0] == plain[0] and ((o - o[0]) % align == 0).all()
    assert (np.diff(o) >= 0).all() and o[-1] + 64 <= size
    assert np.abs(o - plain).max() <= align // 2 + (size - 64 - plain[0]) % align


def test_extract_gathers_the_windows_of_an_aligned_grid():
    grid = PatchGrid(patch=16, grid=(5, 7), max_size=(64, 80), align=8)
    img = torch.rand(2, 3, 50, 77)
    rows, cols = grid.origins(50, 77)
    assert len(set(np.diff(rows))) > 1 or len(set(np.diff(cols))) > 1  # unevenly spaced
    patches = grid.extract(img)
    for u, r in enumerate(rows):
        for v, c in enumerate(cols):
            assert torch.equal(patches[:, u, v], img[:, :, r : r + 16, c : c + 16])


def test_grid_refuses_a_bad_alignment():
    with pytest.raises(ValueError, match="align 0"):
        PatchGrid(patch=16, grid=(5, 6), max_size=(64, 64), align=0)
