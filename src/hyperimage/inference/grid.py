"""The patch grid: a fixed U x V layout of square patches for an image of any size.

The paper never resizes images to a common size. It fixes the number of patches per
axis and changes the stride at run time (Eq. 2)::

    s_x = rnd((N_hat - sz_x) / (n_px - 1)),   s_y = rnd((M_hat - sz_y) / (n_py - 1))

where ``n_px = ceil(N / sz_x)`` for the largest width N of the data set (no overlap), or any
explicit count (e.g. 31 for 32-px patches at stride 16 on 512-px-wide images). Images larger
than the configured maximum are first scaled down isotropically.

Two details Eq. 2 leaves open, fixed here:

* If rounding the stride up would push the last patch past the border, the stride is
  rounded down instead (``s * (n - 1) + sz <= size`` always holds).
* The grid is centred: the leftover ``size - (s * (n - 1) + sz)`` pixels are split between
  the two borders (the extra pixel of an odd split goes to the far border).

A grid may also be *aligned* to a step (``align``): each origin moves to the nearest
``first + k * align``. A fully convolutional stage 1 whose output map advances ``align``
pixels per cell (four MP(2) layers: 16) then finds every patch's features at one cell of
the map of the whole image; neighbouring patches may coincide where Eq. 2's stride is
shorter than ``align``.

Shapes: image ``(B, C, H, W)``; patches ``(B, U, V, C, p, p)``; grid ``(U, V)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def eq2_stride(size: int, patch: int, count: int) -> int:
    """Stride of Eq. 2 that places ``count`` patches of side ``patch`` on ``size`` pixels.

    Rounds to nearest (``rnd``), but never lets the last patch leave the image.
    """
    if patch > size:
        raise ValueError(f"a {patch}-px patch does not fit in {size} px")
    if count < 1:
        raise ValueError(f"patch count must be >= 1, got {count}")
    if count == 1:
        return 0
    exact = (size - patch) / (count - 1)
    stride = int(math.floor(exact + 0.5))
    if stride * (count - 1) + patch > size:
        stride = int(math.floor(exact))
    return stride


def axis_origins(size: int, patch: int, count: int, align: int = 1) -> np.ndarray:
    """First pixel of each of ``count`` patches along one axis (centred Eq. 2 grid), each
    moved to the nearest ``first + k * align`` that keeps it inside (halves round down)."""
    stride = eq2_stride(size, patch, count)
    offset = (size - (stride * (count - 1) + patch)) // 2
    steps = (stride * np.arange(count) + (align - 1) // 2) // align
    return offset + align * np.minimum(steps, (size - patch - offset) // align)


@dataclass(frozen=True)
class PatchGrid:
    """A U x V grid of ``patch`` x ``patch`` windows, laid out by Eq. 2 on any image.

    Parameters
    ----------
    patch : side of the square patch seen by stage 1 (pixels).
    grid : (U, V), number of patches along height and width.
    max_size : (M, N), largest (height, width) the model accepts; larger images are
        scaled down isotropically before the grid is laid (never up-scaled).
    align : origins lie on a lattice of this step (1: Eq. 2's origins as they are).
    """

    patch: int
    grid: tuple[int, int]
    max_size: tuple[int, int]
    align: int = 1

    @classmethod
    def for_size(cls, max_size: tuple[int, int], patch: int, stride: int | None = None) -> "PatchGrid":
        """The grid of a data set whose largest image is ``max_size``.

        With ``stride=None`` the counts are Eq. 2's ``ceil(M / sz)``, ``ceil(N / sz)``;
        with a stride they are the number of patches that stride fits on ``max_size``
        (e.g. 512x384 images, 32-px patches, stride 16 -> 23 x 31, Table 4 "TID stage 2").
        """
        m, n = max_size
        if stride is None:
            grid = (math.ceil(m / patch), math.ceil(n / patch))
        else:
            grid = ((m - patch) // stride + 1, (n - patch) // stride + 1)
        return cls(patch=patch, grid=grid, max_size=(m, n))

    def __post_init__(self) -> None:
        if self.patch < 1 or min(self.grid) < 1 or self.align < 1:
            raise ValueError(f"invalid grid: patch {self.patch}, grid {self.grid}, align {self.align}")
        if min(self.max_size) < self.patch:
            raise ValueError(f"max_size {self.max_size} is smaller than one {self.patch}-px patch")

    @property
    def min_size(self) -> tuple[int, int]:
        """Smallest (height, width) an image may have: one patch."""
        return (self.patch, self.patch)

    def fit_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after isotropic down-scaling to fit ``max_size`` (never up)."""
        scale = min(1.0, self.max_size[0] / height, self.max_size[1] / width)
        if scale >= 1.0:
            return height, width
        return max(self.patch, round(height * scale)), max(self.patch, round(width * scale))

    def origins(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Top rows (U,) and left columns (V,) of the patches on an image of this size."""
        if height < self.patch or width < self.patch:
            raise ValueError(f"{width}x{height} image is smaller than one {self.patch}x{self.patch} patch")
        return (
            axis_origins(height, self.patch, self.grid[0], self.align),
            axis_origins(width, self.patch, self.grid[1], self.align),
        )

    def strides(self, height: int, width: int) -> tuple[int, int]:
        """Eq. 2 strides (s_y, s_x) on an image of this size."""
        return eq2_stride(height, self.patch, self.grid[0]), eq2_stride(width, self.patch, self.grid[1])

    def fit_image(self, image: np.ndarray) -> np.ndarray:
        """Scale an (H, W[, C]) float image down isotropically if it exceeds ``max_size``."""
        h, w = image.shape[:2]
        th, tw = self.fit_size(h, w)
        if (th, tw) == (h, w):
            return image
        channels = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[2])]
        resized = [np.asarray(Image.fromarray(c.astype(np.float32), mode="F").resize((tw, th), Image.LANCZOS)) for c in channels]
        out = resized[0] if image.ndim == 2 else np.stack(resized, axis=-1)
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    def extract(self, images: torch.Tensor) -> torch.Tensor:
        """All grid patches of a batch of same-size images, vectorised.

        ``(B, C, H, W)`` -> ``(B, U, V, C, p, p)``; patch ``(u, v)`` starts at
        ``origins(H, W)[0][u], origins(H, W)[1][v]``.
        """
        b, c, h, w = images.shape
        rows, cols = self.origins(h, w)
        p = self.patch
        u, v = self.grid
        steps = np.diff(rows), np.diff(cols)
        if u == 1 or v == 1 or any(d.min() == 0 or d.min() != d.max() for d in steps):
            return gather_windows(images, rows, cols, p)
        sy, sx = int(steps[0][0]), int(steps[1][0])
        crop = images[:, :, rows[0] : rows[-1] + p, cols[0] : cols[-1] + p]
        cols_unf = F.unfold(crop, kernel_size=p, stride=(sy, sx))  # (B, C*p*p, U*V)
        return cols_unf.view(b, c, p, p, u, v).permute(0, 4, 5, 1, 2, 3)

    def window_sums(self, maps: torch.Tensor) -> torch.Tensor:
        """Sum of a per-pixel map over every grid window: ``(B, 1, H, W)`` -> ``(B, U, V)``."""
        return self.extract(maps).sum(dim=(3, 4, 5))


def gather_windows(images: torch.Tensor, rows: np.ndarray, cols: np.ndarray, patch: int) -> torch.Tensor:
    """Windows at the outer product of ``rows`` x ``cols`` by advanced indexing.

    ``(B, C, H, W)`` -> ``(B, len(rows), len(cols), C, p, p)``; works for any origins.
    """
    ar = torch.arange(patch, device=images.device)
    r = torch.as_tensor(rows, device=images.device)[:, None] + ar  # (U, p)
    c = torch.as_tensor(cols, device=images.device)[:, None] + ar  # (V, p)
    out = images[:, :, r[:, None, :, None], c[None, :, None, :]]  # (B, C, U, V, p, p)
    return out.permute(0, 2, 3, 1, 4, 5)
