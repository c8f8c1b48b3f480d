"""Evaluation protocol: correlation metrics and grouped random splits.

IQA convention followed by the paper (section "No-reference image quality assessment"):
random 60/20/20 train/validation/test splits, repeated, disjoint by reference image (the
``group`` of a record), reporting the mean (and here also the spread) of SROCC, PLCC and
KROCC over splits. PLCC is computed on raw predictions (no logistic fitting).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
from scipy import stats

from .datasets.records import ImageRecord


def correlations(pred: Sequence[float], target: Sequence[float]) -> dict[str, float]:
    """SROCC, PLCC and KROCC between predictions and targets (NaN for constant inputs)."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"predictions {p.shape} and targets {t.shape} must be 1-D and equal in length")
    if len(p) < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return {"srocc": float("nan"), "plcc": float("nan"), "krocc": float("nan")}
    return {
        "srocc": float(stats.spearmanr(p, t).statistic),
        "plcc": float(stats.pearsonr(p, t).statistic),
        "krocc": float(stats.kendalltau(p, t).statistic),
    }


def random_split(
    records: Sequence[ImageRecord], seed: int, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> list[ImageRecord]:
    """Assign ``train`` / ``val`` / ``test`` by shuffling groups (so a group stays together).

    The fractions apply to the number of groups (e.g. reference images, as in IQA).
    Records that already carry a split keep it.
    """
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    keys = sorted({r.group_key for r in records if r.split is None})
    order = np.random.default_rng(seed).permutation(len(keys))
    n_train = int(round(fractions[0] * len(keys)))
    n_val = int(round(fractions[1] * len(keys)))
    names = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * (len(keys) - n_train - n_val))
    assign = {keys[i]: str(names[rank]) for rank, i in enumerate(order)}
    return [r if r.split is not None else replace(r, split=assign[r.group_key]) for r in records]


def summarise(runs: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each metric over runs (splits)."""
    keys = runs[0].keys() if runs else []
    out = {}
    for k in keys:
        values = np.array([r[k] for r in runs], dtype=np.float64)
        out[k] = {"mean": float(np.nanmean(values)), "std": float(np.nanstd(values)), "n": int(len(values))}
    return out
