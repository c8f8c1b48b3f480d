"""A pytest plugin that takes the learning away: every learning test must fail under it.

::

    python -m pytest -q -m learning -p tools.no_learning

Every torch optimizer step is undone (the parameters are put back as they were before it), and
the scikit-learn estimators the baselines fit (``SVR``, ``LinearSVC``, ``Ridge``) see their
labels in a random order, as do the validation labels BRISQUE's SVR and the DCT-Markov SVM
choose their hyper-parameters by (with true ones, picking the best of 25 fits to shuffled
labels still ranked the noisy photos of ``test_classic_rows_rank_noisy_photos_below_clean_ones``).
A learning test (``learned`` fixture) that still passes under it does not test that anything
was learned. ``tools/learning_spread.py`` measures the same tests with learning left in.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import Ridge
from sklearn.svm import SVR, LinearSVC
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from hyperimage.evaluation.baselines.brisque import BrisqueSVR
from hyperimage.evaluation.baselines.dct_markov import DctMarkovSVM

_before: dict[int, list[torch.Tensor]] = {}


def _params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _keep(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
    _before[id(optimizer)] = [p.detach().clone() for p in _params(optimizer)]


def _undo(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
    with torch.no_grad():
        for p, old in zip(_params(optimizer), _before.pop(id(optimizer))):
            p.copy_(old)


def _shuffled(y):
    return None if y is None else np.random.default_rng(0).permutation(np.asarray(y))


def _shuffled_labels(fit):
    """``fit(X, y, X_val=None, y_val=None, ...)`` on shuffled ``y`` and ``y_val``."""

    def fit_on_shuffled(self, X, y, X_val=None, y_val=None, *args, **kwargs):
        if X_val is None:
            return fit(self, X, _shuffled(y), *args, **kwargs)
        return fit(self, X, _shuffled(y), X_val, _shuffled(y_val), *args, **kwargs)

    return fit_on_shuffled


def pytest_configure(config) -> None:
    register_optimizer_step_pre_hook(_keep)
    register_optimizer_step_post_hook(_undo)
    for estimator in (SVR, LinearSVC, Ridge, BrisqueSVR, DctMarkovSVM):
        estimator.fit = _shuffled_labels(estimator.fit)
