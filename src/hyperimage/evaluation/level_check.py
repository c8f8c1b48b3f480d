"""The label-free level check: does a model's score fall as the distortion level rises?

It needs no labels, so it checks a model trained on human MOS against distortions nobody rated:
the photo benchmark of :mod:`hyperimage.data.generators.iqa_photos` in
:mod:`hyperimage.evaluation.benchmark.iqa` and ``benchmarks/level_check.py``. The sets of images
that differ only in level are those of :func:`~hyperimage.data.generators.iqa_photos.level_sets`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from scipy import stats

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.generators.iqa_photos import level_sets


def level_srocc(
    records: Sequence[ImageRecord], predictions: Sequence[float], *, higher_is_better: bool = True
) -> dict:
    """Label-free check of a model: does its score fall as the distortion level rises?

    Records are grouped into sets of one reference, one distortion type and one region
    (``extra["region"]``; one set per type where records have none, as TID2013's). Each set
    also holds the reference's own record (``distortion == "none"``, level 0) where there is
    one. Per set, Spearman's rank correlation between prediction and level is negated (so a
    model whose higher-is-better score falls with the level gets +1), sign-flipped again for a
    lower-is-better model, and the sets' values are averaged. A set whose predictions are all
    equal ranks nothing and counts 0; a set with fewer than two levels is skipped. It needs no
    labels, so it also checks a model on distortions nobody rated.

    Parameters
    ----------
    records : images with ``reference`` (or ``group``), ``distortion`` and ``level``.
    predictions : one score per record, in the same order.
    higher_is_better : the direction of the predictions.

    Returns
    -------
    dict
        ``srocc`` the mean over sets, ``sets`` the sets used, ``skipped`` the sets with fewer
        than two levels, ``images`` the records in the sets used, ``by_distortion`` and
        ``by_region`` the mean per type and per region, ``whole`` and ``inside_regions`` the
        mean over the sets of whole-image damage (region ``"uniform"``) and over the others
        (None where there are none).

    Raises
    ------
    ValueError
        Predictions of another length or not finite, or no set with two levels.
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.shape != (len(records),) or not np.isfinite(predictions).all():
        raise ValueError(f"need one finite prediction per record ({len(records)}), got shape {predictions.shape}")
    values: list[tuple[str, str, float]] = []
    used: set[int] = set()
    skipped = 0
    for (source, kind, region), members in level_sets(records).items():
        levels = np.array([records[i].level or 0 for i in members], dtype=np.float64)
        if np.unique(levels).size < 2:
            skipped += 1
            continue
        scores = predictions[members]
        rho = 0.0 if np.ptp(scores) == 0 else -float(stats.spearmanr(scores, levels).statistic)
        values.append((kind, region, rho if higher_is_better else -rho))
        used.update(members)
    if not values:
        raise ValueError("no (reference, type, region) set with two or more levels")

    def mean_by(position: int) -> dict[str, float]:
        groups: dict[str, list[float]] = defaultdict(list)
        for value in values:
            groups[value[position]].append(value[2])
        return {k: float(np.mean(v)) for k, v in sorted(groups.items())}

    def mean_where(whole: bool) -> float | None:
        chosen = [v[2] for v in values if (v[1] == "uniform") == whole]
        return float(np.mean(chosen)) if chosen else None

    return {
        "srocc": float(np.mean([v[2] for v in values])),
        "sets": len(values),
        "skipped": skipped,
        "images": len(used),
        "by_distortion": mean_by(0),
        "by_region": mean_by(1),
        "whole": mean_where(True),
        "inside_regions": mean_where(False),
    }


__all__ = ["level_srocc"]
