"""Noise evidence: each cell's noise level and residual statistics against the image's own.

A region pasted from another photo brings the noise of another camera, ISO and processing;
one blurred or resampled to fit loses its noise; both leave a cell whose high-pass residual
does not look like the rest of the image (Lyu, Pan & Zhang, "Exposing region splicing
forgeries with blind local noise estimation", IJCV 2014; Cozzolino, Poggi & Verdoliva,
"Splicebuster", IEEE WIFS 2015, whose third-order residuals this reads).

Per cell, from the luma's third-order residuals ``[1, -3, 3, -1]`` along rows and columns:
the log of their mean absolute value (the noise level, each direction), their kurtosis
``E[r^4] / E[r^2]^2`` (natural noise is near-Gaussian; band-limited or interpolated content is
not), and the share of residuals within one grey level of zero. Each is expressed as the
cell's deviation from the image's median cell in units of the cells' median absolute
deviation: a robust z-score, so the channel reads where the noise differs *within* the image,
never how a data set was saved. The share of clipped pixels (0 or 255) is given as it is:
there the residual says nothing, and stage 2 can discount it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from hyperimage.inference.evidence import CellGrid, Evidence, register

#: The third-order high-pass filter of Splicebuster's residuals.
THIRD_ORDER = np.array([1.0, -3.0, 3.0, -1.0], dtype=np.float32)


def residuals(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Third-order residuals of ``gray`` ``(H, W)`` along rows and along columns, each ``(H, W)``
    (borders by reflection)."""
    return (
        ndimage.correlate1d(gray, THIRD_ORDER, axis=1, mode="reflect"),
        ndimage.correlate1d(gray, THIRD_ORDER, axis=0, mode="reflect"),
    )


def robust_z(values: np.ndarray) -> np.ndarray:
    """``values`` ``(U, V)`` as deviations from their median in units of their median absolute
    deviation (scaled to a Gaussian's standard deviation); zeros where all cells agree."""
    median = np.median(values)
    spread = 1.4826 * np.median(np.abs(values - median))
    return np.zeros_like(values) if spread < 1e-6 else ((values - median) / spread).astype(np.float32)


class NoiseChannel:
    """Registered as evidence channel ``noise`` (see the module docstring)."""

    name = "noise"
    features = ("level-rows", "level-cols", "kurtosis-rows", "kurtosis-cols", "flat-share", "clipped-share")
    """The robust z-scores of the noise level and kurtosis of the row and column residuals and
    of the share of near-zero residuals; the share of clipped pixels as it is."""
    headline = "level-rows"
    legend = "noise: cells whose noise differs from the image's own (level of the row residuals, robust z; 0 typical, either sign stands out)"
    shipped_model = None

    def __call__(self, evidence: Evidence, grid: CellGrid) -> np.ndarray:
        rows, cols = residuals(evidence.gray)
        levels, kurtoses = [], []
        for r in (rows, cols):
            square = r * r
            second = grid.pool(square)
            levels.append(robust_z(np.log(grid.pool(np.abs(r)) + 1e-3)))
            kurtoses.append(robust_z(grid.pool(square * square) / np.maximum(second * second, 1e-6)))
        flat = robust_z(grid.pool((np.abs(rows) < 1.0).astype(np.float32)))
        clipped = grid.pool(((evidence.pixels == 0) | (evidence.pixels == 255)).any(axis=2).astype(np.float32))
        return np.stack([*levels, *kurtoses, flat, clipped], axis=2).astype(np.float32)


register("noise")(NoiseChannel())
