"""Where the ImageNet trunk holds image quality: a ridge regression on each trunk output.

For an IQA data set in a published layout (LIVE-C by default), every image goes once through
the frozen EfficientNet-Lite0 (:mod:`hyperimage.evaluation.baselines.trunk_ridge`); the
mean- and deviation-pooled maps of blocks 4, 7, 10, 14, 15 and the head are kept, and for
each set of outputs a ridge regression (penalty chosen on the validation part) is fitted
on the training part of each split of the data set's protocol (LIVE-C: 70/10/20 by image,
the splits of ``hyperimage benchmark iqa`` with the same seed) and scored on its test part.
This is what chose the taps of the ``efficientnet-lite0-stage1`` network and of the
``imagenet+ridge`` row.

Usage::

    python benchmarks/imagenet_taps.py [--data data/real/ChallengeDB_release] [--splits 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from hyperimage.data import datasets
from hyperimage.evaluation.baselines.trunk_ridge import ALPHAS, pooled_features
from hyperimage.evaluation.protocol import random_split, split_for
from hyperimage.inference.networks.efficientnet_lite import DEFAULT_TAPS, TAP_CHANNELS, tap_index

TAPS = ("block4", "block7", "block10", "block14", "block15", "head")
SETS = (("head",), ("block15",), ("block14",), ("block10",), ("block7",), DEFAULT_TAPS, TAPS)


def columns(taps: tuple[str, ...]) -> np.ndarray:
    """Columns of the pooled features of :data:`TAPS` (each tap's means, then its deviations) that ``taps`` own."""
    spans, start = {}, 0
    for t in TAPS:
        width = 2 * TAP_CHANNELS[tap_index(t)]
        spans[t] = np.arange(start, start + width)
        start += width
    return np.concatenate([spans[t] for t in taps])


def ridge_srocc(x: np.ndarray, y: np.ndarray, parts: dict[str, np.ndarray]) -> float:
    scaler = StandardScaler().fit(x[parts["train"]])
    xs = {k: scaler.transform(x[v]) for k, v in parts.items()}
    fits = [Ridge(alpha=a).fit(xs["train"], y[parts["train"]]) for a in ALPHAS]
    best = max(fits, key=lambda f: spearmanr(f.predict(xs["val"]), y[parts["val"]]).statistic)
    return float(spearmanr(best.predict(xs["test"]), y[parts["test"]]).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/real/ChallengeDB_release"))
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    records = [replace(r, split=None) for r in datasets.load(args.data)]
    fractions = split_for(datasets.layout(args.data))
    started = time.time()
    features = pooled_features(records, TAPS)
    print(f"{len(records)} images of {args.data}: pooled trunk features in {time.time() - started:.0f} s")
    y = np.array([r.target for r in records])
    index = {r.path: i for i, r in enumerate(records)}
    results = {s: [] for s in SETS}
    for split in range(args.splits):
        recs = random_split(records, seed=args.seed * 1000 + split, fractions=fractions)
        parts = {name: np.array([index[r.path] for r in recs if r.split == name]) for name in ("train", "val", "test")}
        for taps in SETS:
            results[taps].append(ridge_srocc(features[:, columns(taps)], y, parts))
    print(f"{'trunk outputs':<52}" + "".join(f"{'split ' + str(k):>9}" for k in range(args.splits)) + "      mean +- std")
    for taps, values in results.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{' + '.join(taps):<52}" + "".join(f"{v:9.3f}" for v in values) + f"   {statistics.mean(values):.3f} +- {spread:.3f}")


if __name__ == "__main__":
    main()
