"""Forensic evidence channels on CASIA v1 re-saved alike (issue 31): each channel alone, all of
them under stage 2, and the DCT-Markov SVM, on the same splits.

CASIA v1's authentic and tampered JPEGs were saved with different quantisation tables, so a
header lookup alone tells them apart; re-saved alike (``benchmarks/resave_check.py`` makes
``data/casia1-resaved/q75``) no file property does. On that copy, per split
(random 2/3, 1/6, 1/6 by source photo, seeds 0, 1, 2):

* **stage 2 over all channels** (:mod:`hyperimage.training.evidence_stage2`): trained on the
  training images' forensic hyper-images (the channels' cells at native size) with their image
  labels and mask cells, the epoch of the lowest validation loss kept;
* **each channel alone**: a logistic regression (scikit-learn, standardised) on the channel's
  cells pooled per image (mean, maximum and minimum of each feature): a calibrated read-out;
* **DCT-Markov SVM** (:mod:`hyperimage.evaluation.baselines.dct_markov`), C chosen on validation.

Figures on the test images: ROC AUC (all tampered, and the copy-move ``Sp_S`` and splicing
``Sp_D`` subsets apart, each against all authentic test images), accuracy at the threshold of
best balanced accuracy on the validation images, the detection rate at 5% false alarms, and
for stage 2 pixel F1 / IoU of its cell map (thresholded at the value best on validation
images, :func:`~hyperimage.evaluation.localisation.best_threshold`) beside the centred box
measured the same way. Each split writes ``OUT/splitK.json``; the summary (mean +- sd over
the splits present) goes to ``OUT.json``, so an interrupted run loses at most one split.

    python benchmarks/evidence_casia.py --data data/casia1-resaved/q75 --channels noise,learned,jpeg,copy-move \\
        --splits 3 --out results/evidence-casia1-q75
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _evidence import channel_cells, image_figures, mean_sd, pooled, pooled_readout
from _results import write_results
from hyperimage.data import datasets
from hyperimage.data.io import load_image
from hyperimage.evaluation.baselines.dct_markov import DctMarkovSVM, dct_markov_features
from hyperimage.evaluation.localisation import best_threshold, centre_map, threshold_f1
from hyperimage.evaluation.protocol import FORGERY_SPLIT, random_split
from hyperimage.inference.evidence import CHANNELS, CellGrid
from hyperimage.training.evidence_stage2 import EvidenceItem, predict, train_evidence_stage2


def mask_cells(record, shape: tuple[int, int], grid: CellGrid) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The tampered mask at the image's size and its share per cell, or (None, None) without one."""
    if record.mask is None:
        return None, None
    mask = load_image(record.mask, mode="L") > 0.5
    if mask.shape != shape:
        mask = np.asarray(Image.fromarray(mask).resize(shape[::-1], Image.NEAREST))
    return mask, grid.pool(mask.astype(np.float32))


def run_split(split: int, records, cells, channels, depths, dct, grid: CellGrid, args) -> dict:
    recs = random_split(records, seed=split, fractions=FORGERY_SPLIT)
    part = {name: [r for r in recs if r.split == name] for name in ("train", "val", "test")}
    labels = {name: np.array([r.target for r in rs]) for name, rs in part.items()}
    kinds = [r.distortion for r in part["test"]]
    masks, items = {}, {}
    for name, rs in part.items():
        items[name] = []
        for r in rs:
            mask, share = mask_cells(r, load_image(r.path, mode="L").shape, grid)
            masks[r.path] = mask
            items[name].append(EvidenceItem(cells[r.path], r.target, share))
    result: dict = {"split": split, "sizes": {k: len(v) for k, v in part.items()}, "rows": {}}

    net, norm = train_evidence_stage2(items["train"], items["val"], epochs=args.epochs, cell_weight=args.cell_weight, seed=split)
    (val_scores, val_maps), (test_scores, test_maps) = predict(net, norm, items["val"]), predict(net, norm, items["test"])
    row = image_figures(test_scores, labels["test"], kinds, val_scores, labels["val"])

    def pixel_maps(rs, maps):
        pairs = [(np.kron(m, np.ones((grid.cell, grid.cell)))[: masks[r.path].shape[0], : masks[r.path].shape[1]], masks[r.path])
                 for r, m in zip(rs, maps) if r.target <= 0.5 and masks[r.path] is not None]
        return [p for p, _ in pairs], [t for _, t in pairs]

    vm, vt = pixel_maps(part["val"], val_maps)
    tm, tt = pixel_maps(part["test"], test_maps)
    row["pixel"] = threshold_f1(tm, tt, best_threshold(vm, vt))
    centre_val, centre_test = [centre_map(t.shape) for t in vt], [centre_map(t.shape) for t in tt]
    result["centred_box_pixel"] = threshold_f1(centre_test, tt, best_threshold(centre_val, vt))
    result["rows"]["stage 2, all channels"] = row

    start = 0
    for name, depth in zip(channels, depths):
        x = {k: np.stack([pooled(cells[r.path][start : start + depth]) for r in rs]) for k, rs in part.items()}
        result["rows"][f"{name} alone"] = pooled_readout(x, labels, kinds)
        start += depth

    x = {k: np.stack([dct[r.path] for r in rs]) for k, rs in part.items()}
    svm = DctMarkovSVM().fit(x["train"], labels["train"], x["val"], labels["val"])
    result["rows"]["dct-markov-svm"] = image_figures(
        svm.decision_function(x["test"]), labels["test"], kinds, svm.decision_function(x["val"]), labels["val"]
    )
    return result


def summarise(splits: list[dict]) -> dict:
    """Mean and sample sd over the splits of every figure of every row."""
    return {"rows": mean_sd([s["rows"] for s in splits]), "centred_box_pixel": mean_sd([s["centred_box_pixel"] for s in splits])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/casia1-resaved/q75"))
    parser.add_argument("--channels", default="noise,learned")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--cell-weight", type=float, default=1.0)
    parser.add_argument("--cache", type=Path, default=Path("runs/evidence-cache"))
    parser.add_argument("--out", type=Path, default=Path("results/evidence-casia1-q75"))
    args = parser.parse_args()
    channels = [c for c in args.channels.split(",") if c]
    grid = CellGrid()
    records = [r for r in datasets.load(args.data)]
    started = time.time()
    cells = channel_cells(records, channels, args.cache / args.data.name, args.data.resolve(), grid)
    print(f"evidence of {len(records)} images in {time.time() - started:.0f} s", flush=True)
    depths = [len(CHANNELS.get(c).features) for c in channels]
    dct = {r.path: dct_markov_features(load_image(r.path, mode="RGB")) for r in records}
    args.out.mkdir(parents=True, exist_ok=True)
    done = []
    for split in range(args.splits):
        file = args.out / f"split{split}.json"
        if file.is_file() and json.loads(file.read_text()).get("channels") == channels:
            done.append(json.loads(file.read_text()))
            continue
        result = {"channels": channels, "data": str(args.data), **run_split(split, records, cells, channels, depths, dct, grid, args)}
        write_results(file, result)
        done.append(result)
        rows = result["rows"]
        print(f"split {split}: " + "; ".join(f"{k} AUC {v['auc']:.3f}" for k, v in rows.items())
              + f"; stage-2 pixel F1 {rows['stage 2, all channels']['pixel']['f1']:.3f} (centred box {result['centred_box_pixel']['f1']:.3f})", flush=True)
    summary = {"channels": channels, "data": str(args.data), "splits": len(done), **summarise(done)}
    write_results(args.out.with_suffix(".json"), summary)
    for row, figures in summary["rows"].items():
        print(f"{row:<24} AUC {figures['auc']['mean']:.3f} +- {figures['auc']['std']:.3f}, "
              f"accuracy {figures['accuracy']['mean']:.3f}, detection at 5% {figures['detection_at_5pc']['mean']:.3f}")


if __name__ == "__main__":
    main()
