"""Does how the files were saved still tell CASIA v1's classes apart? The header lookup on
each protocol (issue 31: the ``jpeg-tables`` row must sit at chance on the leading one).

``hyperimage benchmark forgery --data`` leads with a copy of the data set whose every JPEG was
saved again at one quality and warns when its ``jpeg-tables`` row, a lookup of P(authentic) by
the file's quantisation tables (:mod:`hyperimage.evaluation.baselines.jpeg_tables`), is not at
chance there (:func:`hyperimage.evaluation.benchmark.forgery.save_history`). That benchmark
trains every row on every protocol (hours on 2 cores); this script runs the lookup alone, the
one row that needs no training, on the files as published and on each re-saved copy, on the
same 3 random 2/3-1/6-1/6 splits by source photo, and applies the same chance rule.

    python benchmarks/save_history_check.py --data data/real/CASIA1 data/casia1-resaved/q90 data/casia1-resaved/q75 \\
        --json results/save-history-casia1.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from _results import write_results
from hyperimage.data import datasets
from hyperimage.evaluation.baselines.jpeg_tables import JpegTableLookup
from hyperimage.evaluation.benchmark.forgery import HEADER_ROW, save_history, save_history_line
from hyperimage.evaluation.protocol import FORGERY_SPLIT, random_split


def protocol(root: Path, splits: int) -> dict:
    """The lookup's test AUC per split on the data set at ``root`` and the chance check of them."""
    records = datasets.load(root)
    aucs, counts = [], []
    for seed in range(splits):
        parts = random_split(records, seed=seed, fractions=FORGERY_SPLIT)
        train = [r for r in parts if r.split == "train"]
        test = [r for r in parts if r.split == "test"]
        lookup = JpegTableLookup().fit([r.path for r in train], [r.target for r in train])
        authentic = np.array([r.target > 0.5 for r in test])
        aucs.append({"auc": float(roc_auc_score(authentic, lookup.predict_proba([r.path for r in test])))})
        counts.append({"authentic": int(authentic.sum()), "tampered": int((~authentic).sum())})
    check = save_history({"splits": {HEADER_ROW: aucs}, "test_counts": counts})
    return {"data": str(root), "auc_per_split": [a["auc"] for a in aucs], "test_counts": counts, **check}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="data set folders, the leading protocol last")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = [protocol(root, args.splits) for root in args.data]
    for n, r in enumerate(results):
        print(save_history_line(r, r["data"], leading=n == len(results) - 1))
    if args.json:
        write_results(args.json, {"row": HEADER_ROW, "splits": args.splits, "protocols": results})


if __name__ == "__main__":
    main()
