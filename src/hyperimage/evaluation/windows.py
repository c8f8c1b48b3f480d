"""Same-file windows: tampering told apart where the file's history cannot tell it.

An image-level classifier of authentic against tampered files can win by reading how the
files were made rather than what was changed: on CASIA v1 re-saved alike at quality 75 the
DCT-Markov SVM still separates windows of tampered files that hold no tampered pixel from
authentic files at ROC AUC 0.79 (``benchmarks/evidence_casia.py``'s control row). The
protocol here takes both classes from the *same* tampered files: per file, the window that
holds the most tampered pixels and one window that holds none, both square, of one side and
on one grid (the 8x8 JPEG block grid, or the cells' grid, a multiple of it). The two windows
of a file share its camera, its editing software and every save it went through, so only the
tampering tells them apart.

A window is given as the ``(row, column)`` of its top-left pixel.
"""

from __future__ import annotations

import numpy as np


def window_counts(mask: np.ndarray, side: int, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tampered pixels of ``mask`` ``(H, W)`` bool in every ``side`` x ``side`` window whose
    corner lies on the grid of ``step``: its rows ``(m,)``, columns ``(n,)`` and counts
    ``(m, n)`` (a summed-area table, no loop). Empty where the image is smaller than a window."""
    h, w = mask.shape
    rows, cols = np.arange(0, h - side + 1, step), np.arange(0, w - side + 1, step)
    table = np.pad(np.asarray(mask, np.int64).cumsum(0).cumsum(1), [(1, 0), (1, 0)])
    counts = (table[rows[:, None] + side, cols[None] + side] - table[rows[:, None], cols[None] + side]
              - table[rows[:, None] + side, cols[None]] + table[rows[:, None], cols[None]])
    return rows, cols, counts


def tampered_window(mask: np.ndarray, side: int, step: int) -> tuple[int, int] | None:
    """The window of ``mask`` holding the most tampered pixels (the first in row order of
    those); None where no window holds any."""
    rows, cols, counts = window_counts(mask, side, step)
    if not counts.size or counts.max() == 0:
        return None
    r, c = np.unravel_index(np.argmax(counts), counts.shape)
    return int(rows[r]), int(cols[c])


def clean_window(mask: np.ndarray, side: int, step: int, seed: int) -> tuple[int, int] | None:
    """One window of ``mask`` holding no tampered pixel, drawn with ``seed`` among all such;
    None where there is none."""
    rows, cols, counts = window_counts(mask, side, step)
    r, c = np.nonzero(counts == 0)
    if not len(r):
        return None
    k = np.random.default_rng(seed).integers(len(r))
    return int(rows[r[k]]), int(cols[c[k]])


def crop(image: np.ndarray, corner: tuple[int, int], side: int) -> np.ndarray:
    """The ``side`` x ``side`` window of ``image`` at ``corner``."""
    y, x = corner
    return image[y : y + side, x : x + side]
