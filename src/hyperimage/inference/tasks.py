"""What a model predicts: a quality-like score (regression) or a class (classification).

One object per task holds everything that differs between them, so no other module tests
the task's name in an ``if``: how stage 2's raw output becomes a score, the words of a heat
map, and what stage 2 and the patch-averaging baseline fit in training. The metrics and
default split of each task are evaluation's (:data:`hyperimage.evaluation.protocol.METRICS`,
:data:`~hyperimage.evaluation.protocol.SPLITS`). A model's ``config.json`` names its task (``ModelConfig.task``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from hyperimage.registry import Registry


def label_norm(values: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of training targets (1 if degenerate), for standardising."""
    scale = float(values.std()) if values.numel() > 1 else 1.0
    return float(values.mean()), scale if scale > 1e-8 else 1.0


def class_weighted(labels: torch.Tensor) -> torch.Tensor:
    """Binary labels ``(N,)`` -> ``(N, 2)`` ``[label, weight]`` for a weighted cross-entropy.

    Each class's weights sum to N / 2, so both classes carry half the loss whatever the
    balance (CASIA-2 is 59% authentic).
    """
    positive = labels > 0.5
    counts = torch.stack([(~positive).sum(), positive.sum()]).clamp(min=1).float()
    return torch.stack([labels.float(), len(labels) / (2.0 * counts[positive.long()])], dim=1)


@dataclass(frozen=True)
class Task:
    """One kind of prediction (see the module docstring).

    ``scaled``: targets are scores on a data set's own scale, which another data set's scale
    maps onto (``hyperimage train --extra``); a class is not.
    ``loss``: stage 2's training loss by name (``None``: the recipe's); ``worse`` /
    ``better``: the words at the two ends of a heat map's colour bar. Stage 2 trains on
    ``encode(targets, norm(training targets))`` and its output ``o`` maps back as
    ``shift + scale * o`` with ``(shift, scale) = norm(...)``; ``calibrate`` fits the
    patch-averaging baseline's ``(intercept, slope)`` from mean patch scores to targets.
    """

    name: str
    scaled: bool
    activate: Callable[[torch.Tensor], torch.Tensor]
    loss: str | None
    worse: str
    better: str
    norm: Callable[[torch.Tensor], tuple[float, float]]
    encode: Callable[[torch.Tensor, tuple[float, float]], torch.Tensor]
    calibrate: Callable[[np.ndarray, np.ndarray], tuple[float, float]]


def _line(mean: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``y ~ intercept + slope * mean`` (a constant shift if ``mean`` is constant)."""
    if np.ptp(mean) > 0:
        slope, intercept = np.polyfit(mean, y, 1)
        return float(intercept), float(slope)
    return float(y.mean() - mean.mean()), 1.0


def _logistic(mean: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """A class-weighted logistic regression (scikit-learn) of ``y > 0.5`` on ``mean``: a logit's intercept and slope."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(class_weight="balanced").fit(mean[:, None], y > 0.5)
    return float(fitted.intercept_[0]), float(fitted.coef_[0, 0])


TASKS: Registry[Task] = Registry("task")

REGRESSION = TASKS.register("regression")(
    Task(
        name="regression", scaled=True, activate=lambda raw: raw, loss=None,
        worse="more damage", better="less damage", norm=label_norm,
        encode=lambda t, norm: (t - norm[0]) / norm[1], calibrate=_line,
    )
)
CLASSIFICATION = TASKS.register("classification")(
    Task(
        name="classification", scaled=False, activate=torch.sigmoid, loss="bce",
        worse="more likely tampered", better="more likely authentic",
        norm=lambda t: (0.0, 1.0), encode=lambda t, norm: class_weighted(t), calibrate=_logistic,
    )
)
get = TASKS.get
available = TASKS.available
