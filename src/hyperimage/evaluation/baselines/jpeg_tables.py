"""A header-only forgery baseline: the JPEG quantisation tables of the file, no pixel read.

A data set whose authentic and tampered images were saved by different software or at
different qualities can be classified from the file header alone; any model that sees the
compression (the DCT-Markov features, a CNN on the JPEG block grid) may then score well for
that reason and not because it finds the tampering. This row measures how far the header
goes, in the same splits as the models: on CASIA v1.0 the authentic JPEGs mostly carry
quantisation tables that no tampered one does.

The classifier is a lookup: for each distinct set of tables in the training images, the share
of them that is authentic (with one authentic and one tampered pseudo-count, so a table seen
once is not certain); a set of tables never seen in training gets the training set's share.
Files without tables (PNG, TIFF) share one key. Scores are P(authentic), the data sets' label 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

#: The key of a file without quantisation tables (PNG, TIFF, ...).
NO_TABLES: tuple = ()


def quantisation_key(path: str | Path) -> tuple:
    """The file's JPEG quantisation tables as a hashable key (:data:`NO_TABLES` for other
    formats); only the header is parsed, no pixel is decoded."""
    try:
        with Image.open(path) as im:
            tables = getattr(im, "quantization", None) or {}
    except (OSError, UnidentifiedImageError, ValueError):
        return NO_TABLES
    return tuple((k, tuple(tables[k])) for k in sorted(tables))


class JpegTableLookup:
    """P(authentic) per set of quantisation tables, learned by counting training files."""

    def fit(self, paths: Sequence[str | Path], labels: Sequence[float]) -> "JpegTableLookup":
        """Count authentic (label 1) and tampered (label 0) training files per key."""
        y = np.asarray(labels, dtype=float)
        if len(y) != len(paths) or not len(y):
            raise ValueError(f"need one label per path and at least one path, got {len(paths)} paths, {len(y)} labels")
        counts: dict[tuple, list[float]] = {}
        for path, label in zip(paths, y):
            c = counts.setdefault(quantisation_key(path), [0.0, 0.0])
            c[0] += label
            c[1] += 1.0
        self.prior = float(y.mean())
        self.table = {k: (a + 1.0) / (n + 2.0) for k, (a, n) in counts.items()}
        return self

    def predict_proba(self, paths: Sequence[str | Path]) -> np.ndarray:
        """P(authentic) of each file; unseen keys get the training share."""
        return np.array([self.table.get(quantisation_key(p), self.prior) for p in paths])
