"""Off-the-shelf ImageNet features + a linear regressor: the pre-trained-trunk baseline of NR-IQA.

The image goes once through the frozen ImageNet EfficientNet-Lite0 (Table 2 exp. 5's trunk,
:mod:`hyperimage.inference.networks.efficientnet_lite`) at its own size; each chosen trunk
output is pooled over the whole image by its per-channel mean and standard deviation (the
deviation carries how unevenly a channel responds, e.g. blur in part of a photo), the
pooled values are standardised with training statistics, and a ridge regression maps them to
the score, its penalty chosen on the validation images. No patch, grid or stage 2: what the
ImageNet features alone explain.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from hyperimage.data.io import load_image
from hyperimage.inference import preprocess
from hyperimage.inference.networks.efficientnet_lite import DEFAULT_TAPS, EfficientNetLite

#: Ridge penalties tried on the validation images.
ALPHAS = tuple(float(a) for a in np.logspace(-1, 4, 11))


@lru_cache(maxsize=1)
def _trunk(variant: str, weights: Path | None) -> EfficientNetLite:
    return EfficientNetLite(variant=variant).load_imagenet(weights).eval().to(memory_format=torch.channels_last)


@lru_cache(maxsize=None)
def _pooled_of(path: Path, stamp: int, taps: tuple[str, ...], max_side: int, variant: str, weights: Path | None) -> np.ndarray:
    """Mean and deviation of each tap's map over one image (``stamp``, its modification time, keys the cache)."""
    image = torch.from_numpy(load_image(path, mode="RGB", min_size=(32, 32))).permute(2, 0, 1)[None]
    scale = max_side / max(image.shape[2:])
    if scale < 1:
        size = [max(32, round(s * scale)) for s in image.shape[2:]]
        image = torch.nn.functional.interpolate(image, size=size, mode="area")
    x = preprocess.get("efficientnet-lite")(image).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        trunk = _trunk(variant, weights)
        maps = trunk.feature_maps(x, [trunk.tap_index(t) for t in taps])
    return torch.cat([torch.cat([m.mean(dim=(2, 3)), m.std(dim=(2, 3))], dim=1) for m in maps], dim=1)[0].numpy()


def pooled_features(
    records: Sequence, taps: Sequence[str] = DEFAULT_TAPS, max_side: int = 1024, variant: str = "lite0", weights: Path | None = None,
) -> np.ndarray:
    """``(N, 2 * channels)`` pooled features of the records' images (longest side scaled down to
    ``max_side``) from EfficientNet-Lite ``variant`` (its ImageNet ``weights`` file; Lite0's ship)."""
    return np.stack([_pooled_of(r.path, r.path.stat().st_mtime_ns, tuple(taps), max_side, variant, weights) for r in records])


class TrunkRidge:
    """Standardised pooled trunk features -> ridge regression, the penalty chosen on validation SROCC."""

    def __init__(self, taps: Sequence[str] = DEFAULT_TAPS):
        self.taps = tuple(taps)

    def fit(self, train: Sequence, val: Sequence) -> "TrunkRidge":
        """Fit on the ``train`` records, one ridge per penalty of :data:`ALPHAS`; keep the best on ``val``."""
        xt, xv = pooled_features(train, self.taps), pooled_features(val, self.taps)
        yt, yv = np.array([r.target for r in train]), np.array([r.target for r in val])
        self.scaler = StandardScaler().fit(xt)
        xt, xv = self.scaler.transform(xt), self.scaler.transform(xv)
        fits = [Ridge(alpha=a).fit(xt, yt) for a in ALPHAS]
        scores = [spearmanr(f.predict(xv), yv).statistic for f in fits]
        best = int(np.nanargmax(scores))
        self.alpha, self.ridge = ALPHAS[best], fits[best]
        return self

    def predict(self, records: Sequence) -> np.ndarray:
        """Scores of the records' images, in the training targets' units."""
        return self.ridge.predict(self.scaler.transform(pooled_features(records, self.taps)))
