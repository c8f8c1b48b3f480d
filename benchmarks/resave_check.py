"""Does a forgery model read the tampering, or how the files were saved?

On CASIA v1.0 the authentic and tampered JPEGs carry different quantisation tables: a lookup
of the header (the ``jpeg-tables`` row of ``hyperimage benchmark forgery``) separates them
almost perfectly without decoding a pixel. A model that sees pixels may learn the same
difference from the compression's traces. This check re-saves every image of the data set
alike (decoded, then JPEG at ``--quality``, the same tables for all) into a copy of its layout,
and compares on the model's own test split (``splits.csv``), in the same run:

* the model's accuracy and ROC AUC on the files as published and as re-saved;
* the header lookup, fitted on the training split of each: on the re-saved copy every file
  has the same tables, so it falls to chance; that is what the re-saving removes;
* the DCT-Markov SVM, fitted the same way: it reads the compression history from the
  coefficients, where the earlier compression leaves its traces (double-JPEG statistics)
  through a light re-save; how far it falls tells how much of the history a re-save erases.

A model whose AUC holds after re-saving is not living on the header; what it keeps is at
least partly the content (one more compression also blurs, but does not erase, earlier
compression traces, so this bounds the shortcut from one side only).

Usage::

    python benchmarks/resave_check.py [--model src/hyperimage/models/forgery] [--data data/real/CASIA1] \\
        [--out data/casia1-resaved] [--quality 90 75]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hyperimage import api
from hyperimage.data import datasets
from hyperimage.data.io import load_image
from hyperimage.data.resave import resave
from hyperimage.evaluation.baselines.dct_markov import DctMarkovSVM, dct_markov_features
from hyperimage.evaluation.baselines.jpeg_tables import JpegTableLookup
from hyperimage.evaluation.protocol import SPLITS_FILE, apply_saved_splits, classification_metrics

from _results import write_results

SHIPPED = Path(__file__).resolve().parent.parent / "src" / "hyperimage" / "models" / "forgery"


def file_rows(data: Path, model: Path) -> dict[str, dict[str, float]]:
    """The rows that read how the files were saved, fitted on the model's training split of
    ``data`` and scored on its test split: the ``jpeg-tables`` header lookup, and the DCT-Markov
    SVM (C chosen on the validation split), which reads the same history from the coefficients."""
    records = apply_saved_splits(datasets.load(data), model / SPLITS_FILE, data)
    part = {s: [r for r in records if r.split == s] for s in ("train", "val", "test")}
    labels = {s: np.array([r.target for r in rs]) for s, rs in part.items()}
    lookup = JpegTableLookup().fit([r.path for r in part["train"]], labels["train"])
    features = {s: np.stack([dct_markov_features(load_image(r.path, mode="RGB")) for r in rs]) for s, rs in part.items()}
    svm = DctMarkovSVM().fit(features["train"], labels["train"], features["val"], labels["val"])
    return {
        "header": classification_metrics(lookup.predict_proba([r.path for r in part["test"]]), labels["test"]),
        "dct-markov": classification_metrics(svm.decision_function(features["test"]), labels["test"], 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=SHIPPED)
    parser.add_argument("--data", type=Path, default=Path("data/real/CASIA1"))
    parser.add_argument("--out", type=Path, default=Path("data/casia1-resaved"))
    parser.add_argument("--quality", type=int, nargs="+", default=[90, 75])
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (and their provenance) to this file")
    args = parser.parse_args()
    if not all(1 <= q <= 100 for q in args.quality):
        parser.error(f"--quality: JPEG qualities are 1-100, got {args.quality}")
    if not (args.model / SPLITS_FILE).is_file():
        parser.error(f"{args.model}: no {SPLITS_FILE}; the check needs the model's own test split")
    print(f"{len(datasets.load(args.data))} images in {args.data}; model {args.model}")
    print(f"{'files':<24}{'model acc':>10}{'model AUC':>10}{'header acc':>11}{'header AUC':>11}{'DCT-M acc':>10}{'DCT-M AUC':>10}")
    base, rows = None, {}
    for name, folder in [("as published", args.data)] + [
        (f"re-saved, JPEG q{q}", resave(args.data, args.out / f"q{q}", q)) for q in args.quality
    ]:
        model, files = api.evaluate(args.model, folder), file_rows(folder, args.model)
        base = base or model
        header, svm = files["header"], files["dct-markov"]
        rows[name] = {"model": model, "header": header, "dct-markov": svm}
        print(
            f"{name:<24}{model['accuracy']:>10.4f}{model['auc']:>10.4f}{header['accuracy']:>11.4f}{header['auc']:>11.4f}"
            f"{svm['accuracy']:>10.4f}{svm['auc']:>10.4f}"
            f"   (model AUC {model['auc'] / base['auc']:.3f}x as published, n={model['n']})"
        )
    write_results(args.json, {"model": str(args.model), "data": str(args.data), "files": rows})


if __name__ == "__main__":
    main()
