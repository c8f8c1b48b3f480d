"""Forensic evidence channels on CASIA v1 re-saved alike (issue 31): each channel alone, all of
them under stage 2, and the DCT-Markov SVM, on the same splits.

CASIA v1's authentic and tampered JPEGs were saved with different quantisation tables, so a
header lookup alone tells them apart; re-saved alike (``benchmarks/resave_check.py`` makes
``data/casia1-resaved/q75``) no file property does. On that copy, per split
(random 2/3, 1/6, 1/6 by source photo, seeds 0, 1, 2):

* **stage 2 over all channels** (:mod:`hyperimage.training.evidence_stage2`): trained on the
  training images' forensic hyper-images (the channels' cells at native size) with their image
  labels and mask cells, the epoch of the lowest validation loss kept; given several weights of
  the cells' loss (``--cell-weight 1,3``), one stage 2 per weight, the one of best validation
  AUC + pixel F1 kept (``cell_weight`` in the split's file); ``--members K`` trains K networks
  side by side and averages them, ``--hide P`` hides each training cell with probability P
  (Hide-and-Seek);
* **each channel alone**: a logistic regression (scikit-learn, standardised) on the channel's
  cells pooled per image (mean, maximum and minimum of each feature): a calibrated read-out;
  and the same read-out on every channel's pooled cells at once (the hyper-image averaged away,
  the paper's patch-averaging baseline against which stage 2 must earn its place);
* **DCT-Markov SVM** (:mod:`hyperimage.evaluation.baselines.dct_markov`), C chosen on validation;
* **the same SVM on untampered crops** (a control): each image's features taken from one
  ``CROP`` x ``CROP`` window on the 8x8 block grid that holds no tampered pixel (drawn with a
  fixed seed among those; tampered images without a mask, or without such a window, left
  out). No crop of a tampered image shows tampering, so what this row still separates is how
  the files were made (their compression history), not the tampering;
* **same-file windows** (:mod:`hyperimage.evaluation.windows`), the protocol on which file
  history tells nothing: from every tampered test image with a mask, its ``CROP`` x ``CROP``
  window on the cells' grid holding the most tampered pixels against one holding none (rows
  ``windows: ...``): stage 2's map (the image analysed whole) read over the window as
  validation chose (``window_read``, per split), the pooled read-out of every channel and the
  DCT-Markov SVM over the window, those two fitted on the training images' windows.

Figures on the test images: ROC AUC (all tampered, and the copy-move ``Sp_S`` and splicing
``Sp_D`` subsets apart, each against all authentic test images), accuracy at the threshold of
best balanced accuracy on the validation images, the detection rate at 5% false alarms, and
for stage 2 pixel F1 / IoU of its cell map (bilinear between the cells' centres, as
:class:`~hyperimage.inference.evidence.predictor.ForensicExplanation` draws it; thresholded at the value best on validation
images, :func:`~hyperimage.evaluation.localisation.best_threshold`) beside the centred box
measured the same way; and the same for the map less its image's largest value
(``pixel_relative``) and for the map given that the image is tampered
(``pixel_given_tampered``, :func:`~hyperimage.inference.evidence.model.given_tampered`: each
cell's probability over the image's probability of being tampered), both saying which cells
are tampered apart from how strongly stage 2 believes the image is. Each split writes ``OUT/splitK.json``; the summary (mean +- sd over
the splits present) goes to ``OUT.json``, so an interrupted run loses at most one split.

    python benchmarks/evidence_casia.py --data data/casia1-resaved/q75 --channels noise,learned,jpeg,copy-move \\
        --splits 3 --out results/evidence-casia1-q75

The ``learned`` channel reads the shipped forgery model's stage 1 unless ``--learned-model``
names one model folder per split (``{split}`` in the path): the shipped model was trained on
split 0's training images of CASIA v1 as published, so splits 1 and 2 would test it on images
it saw. Per split, trained on that split's re-saved training images only (checked against
the folder's ``splits.csv``)::

    hyperimage train data/casia1-resaved/q75 --preset forgery-fast --method patch-average \\
        --recipe forgery-quick --seed K --out runs/stage1-q75/splitK      # K = 0, 1, 2
    python benchmarks/evidence_casia.py ... --learned-model 'runs/stage1-q75/split{split}'

or one folder for every split whose stage 1 read no CASIA image (a recipe of
:data:`PHOTO_PHASES` only, e.g. ``forgery-tamper-quick``: tampering made on the fly)::

    python benchmarks/evidence_casia.py ... --learned-model runs/stage1-tamper/model
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from _evidence import channel_cells, image_figures, mean_sd, pooled, pooled_readout, split_results
from _results import write_results
from hyperimage.data import datasets
from hyperimage.data.io import load_image
from hyperimage.evaluation.baselines.dct_markov import DctMarkovSVM, dct_markov_features
from hyperimage.evaluation.localisation import best_threshold, centre_map, threshold_f1
from hyperimage.evaluation.protocol import FORGERY_SPLIT, random_split
from hyperimage.evaluation.windows import clean_window, crop, tampered_window
from hyperimage.inference.evidence import CELL, CHANNELS, CellGrid
from hyperimage.inference.evidence.model import given_tampered, predict
from hyperimage.training.evidence_stage2 import EvidenceItem, mask_cells, train_evidence_stage2
from hyperimage.training.recipe import RECIPE_FILE


#: Side of the control row's untampered crops and of the same-file windows (pixels, a multiple
#: of the 8-px JPEG block and of the cells).
CROP = 128


#: Stage-1 phases that read no image of the data set: they make their own from pristine photos.
PHOTO_PHASES = {"tamper-pairs", "inpaint"}


def check_learned_model(model: Path, records, data: Path, split: int) -> None:
    """ValueError unless ``model``'s stage 1 was trained on none of ``split``'s validation and
    test images: all its phases are :data:`PHOTO_PHASES` (its ``recipe.json``), or its
    ``splits.csv`` (paths relative to ``data``) lists none of them as training images."""
    if {p["name"] for p in json.loads((model / RECIPE_FILE).read_text())["phases"]} <= PHOTO_PHASES:
        return
    trained = {row["image"] for row in csv.DictReader((model / "splits.csv").open()) if row["split"] == "train"}
    held = [r for r in random_split(records, seed=split, fractions=FORGERY_SPLIT) if r.split != "train"]
    seen = [r.path for r in held if r.path.resolve().relative_to(data.resolve()).as_posix() in trained]
    if seen:
        raise ValueError(f"{model} was trained on {len(seen)} of split {split}'s held-out images (first: {seen[0]})")


def run_split(split: int, records, cells, channels, depths, dct, crops, windows, grid: CellGrid, args) -> dict:
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

    def pixel_maps(rs, maps):
        pairs = [(grid.interpolate(m, *masks[r.path].shape), masks[r.path])
                 for r, m in zip(rs, maps) if r.target <= 0.5 and masks[r.path] is not None]
        return [p for p, _ in pairs], [t for _, t in pairs]

    def validation(weight: float) -> tuple[float, tuple]:
        """Stage 2 trained with cell-loss ``weight``: its validation AUC + pixel F1, and the fit."""
        fit = train_evidence_stage2(items["train"], items["val"], epochs=args.epochs, cell_weight=weight, seed=split,
                                    members=args.members, hide=args.hide)
        scores, maps = predict(*fit, [i.hyper for i in items["val"]])
        vm, vt = pixel_maps(part["val"], maps)
        return roc_auc_score(labels["val"], scores) + threshold_f1(vm, vt, best_threshold(vm, vt))["f1"], fit

    chosen = {w: validation(w) for w in args.cell_weight}
    weight = max(chosen, key=lambda w: chosen[w][0])
    net, norm = chosen[weight][1]
    result["cell_weight"] = {"chosen": weight, "validation_auc_plus_f1": {str(w): v for w, (v, _) in chosen.items()}}
    (val_scores, val_maps), (test_scores, test_maps) = (predict(net, norm, [i.hyper for i in items[k]]) for k in ("val", "test"))
    row = image_figures(test_scores, labels["test"], kinds, val_scores, labels["val"])
    vm, vt = pixel_maps(part["val"], val_maps)
    tm, tt = pixel_maps(part["test"], test_maps)
    row["pixel"] = threshold_f1(tm, tt, best_threshold(vm, vt))
    vm, tm = ([p - p.max() for p in maps] for maps in (vm, tm))
    row["pixel_relative"] = threshold_f1(tm, tt, best_threshold(vm, vt))
    (vm, _), (tm, _) = (pixel_maps(part[k], [given_tampered(s, m) for s, m in zip(scores, maps)])
                        for k, scores, maps in (("val", val_scores, val_maps), ("test", test_scores, test_maps)))
    row["pixel_given_tampered"] = threshold_f1(tm, tt, best_threshold(vm, vt))
    centre_val, centre_test = [centre_map(t.shape) for t in vt], [centre_map(t.shape) for t in tt]
    result["centred_box_pixel"] = threshold_f1(centre_test, tt, best_threshold(centre_val, vt))
    result["rows"]["stage 2, all channels"] = row

    spans = dict(zip(channels, np.split(np.arange(sum(depths)), np.cumsum(depths)[:-1])))
    for row_name, span in [(f"{name} alone", spans[name]) for name in channels] + [("all channels, pooled read-out", np.arange(sum(depths)))]:
        x = {k: np.stack([pooled(cells[r.path][span]) for r in rs]) for k, rs in part.items()}
        result["rows"][row_name] = pooled_readout(x, labels, kinds)

    x = {k: np.stack([dct[r.path] for r in rs]) for k, rs in part.items()}
    svm = DctMarkovSVM().fit(x["train"], labels["train"], x["val"], labels["val"])
    result["rows"]["dct-markov-svm"] = image_figures(
        svm.decision_function(x["test"]), labels["test"], kinds, svm.decision_function(x["val"]), labels["val"]
    )

    kept = {k: [r for r in rs if r.path in crops] for k, rs in part.items()}
    x = {k: np.stack([crops[r.path] for r in rs]) for k, rs in kept.items()}
    y = {k: np.array([r.target for r in rs]) for k, rs in kept.items()}
    svm = DctMarkovSVM().fit(x["train"], y["train"], x["val"], y["val"])
    row = image_figures(svm.decision_function(x["test"]), y["test"], [r.distortion for r in kept["test"]], svm.decision_function(x["val"]), y["val"])
    row["test_images"] = {"authentic": int((y["test"] > 0.5).sum()), "tampered": int((y["test"] <= 0.5).sum())}
    result["rows"]["dct-markov-svm, untampered crops (control)"] = row
    maps = {r.path: {"probability": m, "given tampered": given_tampered(score, m)}
            for k, scores, each in (("val", val_scores, val_maps), ("test", test_scores, test_maps))
            for r, score, m in zip(part[k], scores, each)}
    rows, result["window_read"] = window_rows(part, windows, cells, maps, grid)
    result["rows"].update(rows)
    return result


@dataclass(frozen=True)
class Windows:
    """A tampered file's two same-file windows (:mod:`hyperimage.evaluation.windows`): the
    corners of the one with the most tampered pixels and of one with none, in that order, and
    the DCT-Markov features of each."""

    corners: tuple[tuple[int, int], tuple[int, int]]
    dct: list[np.ndarray]


#: How stage 2's cell maps may be read over a window: the one best on the validation windows is kept.
WINDOW_READS = {"largest": np.max, "mean": np.mean}


def window_rows(part: dict, windows: dict, cells: dict, maps: dict, grid: CellGrid) -> tuple[dict, str]:
    """The rows of the same-file windows: each tampered file's most tampered window against its
    window with no tampered pixel, so file history tells them nothing. Stage 2 analyses the
    image whole, as a user's would be, and a window is read off one of its maps (``maps``: per
    image, the probability map and the map given tampered) by one of :data:`WINDOW_READS`, the
    pair of best validation AUC (returned beside the rows, in words); the pooled read-out of every channel and the
    DCT-Markov SVM are fitted on the training files' windows, the SVM's C and every threshold
    chosen on the validation files'."""
    side = CROP // grid.cell
    kept = {k: [r for r in rs if r.path in windows] for k, rs in part.items()}
    labels = {k: np.tile([0.0, 1.0], len(rs)) for k, rs in kept.items()}  # tampered window, then clean
    kinds = [r.distortion for r in kept["test"] for _ in range(2)]

    def cut(array: np.ndarray, corner: tuple[int, int]) -> np.ndarray:
        y, x = (c // grid.cell for c in corner)
        return array[..., y : y + side, x : x + side]

    def read(k: str, name: str, how: str) -> np.ndarray:
        return np.array([-WINDOW_READS[how](cut(maps[r.path][name], c)) for r in kept[k] for c in windows[r.path].corners])

    ways = [(name, how) for name in ("probability", "given tampered") for how in WINDOW_READS]
    name, how = max(ways, key=lambda way: roc_auc_score(labels["val"], read("val", *way)))
    row = image_figures(read("test", name, how), labels["test"], kinds, read("val", name, how), labels["val"])
    rows = {"windows: stage 2, all channels": row}
    x = {k: np.stack([pooled(cut(cells[r.path], c)) for r in rs for c in windows[r.path].corners]) for k, rs in kept.items()}
    rows["windows: all channels, pooled read-out"] = pooled_readout(x, labels, kinds)
    x = {k: np.stack([f for r in rs for f in windows[r.path].dct]) for k, rs in kept.items()}
    svm = DctMarkovSVM().fit(x["train"], labels["train"], x["val"], labels["val"])
    rows["windows: dct-markov-svm"] = image_figures(
        svm.decision_function(x["test"]), labels["test"], kinds, svm.decision_function(x["val"]), labels["val"]
    )
    return rows, f"{how} of the {name} map"


def summarise(splits: list[dict]) -> dict:
    """Mean and sample sd over the splits of every figure of every row."""
    return {"rows": mean_sd([s["rows"] for s in splits]), "centred_box_pixel": mean_sd([s["centred_box_pixel"] for s in splits])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/casia1-resaved/q75"))
    parser.add_argument("--channels", default="noise,learned")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--cell-weight", type=lambda text: [float(w) for w in text.split(",")], default=[1.0],
                        help="Stage 2's cell-loss weight, or several comma-separated: each trained, the one of best "
                        "validation AUC + pixel F1 kept per split")
    parser.add_argument("--members", type=int, default=1, help="Stage-2 networks trained side by side and averaged")
    parser.add_argument("--hide", type=float, default=0.0, help="Stage 2's Hide-and-Seek: each training cell hidden with this probability")
    parser.add_argument("--cell", type=int, default=CELL, help="Side of the grid's cells (pixels, a multiple of 8)")
    parser.add_argument("--cache", type=Path, default=Path("runs/evidence-cache"))
    parser.add_argument("--learned-model", help="The learned channel reads the stage 1 of this forgery model folder per split, "
                        "'{split}' standing for the split (e.g. runs/stage1-q75/split{split}, trained with --seed SPLIT on this split's "
                        "training images); default: the shipped model's")
    parser.add_argument("--out", type=Path, default=Path("results/evidence-casia1-q75"))
    args = parser.parse_args()
    channels = [c for c in args.channels.split(",") if c]
    grid = CellGrid(args.cell)
    records = [r for r in datasets.load(args.data)]
    started = time.time()
    cache = args.cache / (args.data.name if args.cell == CELL else f"{args.data.name}-cell{args.cell}")
    root = args.data.resolve()
    per_split = "learned" in channels and args.learned_model is not None
    fixed = {c: channel_cells(records, [c], cache, root, grid) for c in channels if not (per_split and c == "learned")}
    print(f"evidence of {len(records)} images in {time.time() - started:.0f} s", flush=True)

    def split_cells(split: int) -> dict[Path, np.ndarray]:
        """Every image's hyper-image for ``split``: the learned channel's from that split's model."""
        each = dict(fixed)
        if per_split:
            model = Path(args.learned_model.format(split=split))
            check_learned_model(model, records, args.data, split)
            each["learned"] = channel_cells(records, ["learned"], cache, root, grid, learned_model=model)
        return {r.path: np.concatenate([each[c][r.path] for c in channels]) for r in records}
    depths = [len(CHANNELS.get(c).features) for c in channels]
    if CROP % args.cell:
        parser.error(f"--cell must divide the windows' side, {CROP} px")
    dct, crops, windows = {}, {}, {}
    for n, r in enumerate(records):
        image = load_image(r.path, mode="RGB")
        dct[r.path] = dct_markov_features(image)
        if r.target > 0.5 or r.mask is not None:
            mask = np.zeros(image.shape[:2], bool) if r.target > 0.5 else mask_cells(r, image.shape[:2], grid)[0]
            corner = clean_window(mask, CROP, 8, seed=n)
            if corner is not None:
                crops[r.path] = dct_markov_features(crop(image, corner, CROP))
            pair = (tampered_window(mask, CROP, args.cell), clean_window(mask, CROP, args.cell, seed=n))
            if r.target <= 0.5 and None not in pair:
                windows[r.path] = Windows(pair, [dct_markov_features(crop(image, c, CROP)) for c in pair])
    print(f"untampered crops: {sum(r.target > 0.5 for r in records if r.path in crops)} authentic, "
          f"{sum(r.target <= 0.5 for r in records if r.path in crops)} tampered; same-file windows of {len(windows)} tampered images", flush=True)
    def report(split: int, result: dict) -> None:
        rows = result["rows"]
        print(f"split {split}: " + "; ".join(f"{k} AUC {v['auc']:.3f}" for k, v in rows.items())
              + f"; stage-2 pixel F1 {rows['stage 2, all channels']['pixel']['f1']:.3f}, relative {rows['stage 2, all channels']['pixel_relative']['f1']:.3f}, given tampered {rows['stage 2, all channels']['pixel_given_tampered']['f1']:.3f} (centred box {result['centred_box_pixel']['f1']:.3f})", flush=True)

    settings = {"channels": channels, "learned_model": args.learned_model if per_split else None,
                **({"cell": args.cell} if args.cell != CELL else {}),
                **({"cell_weights": args.cell_weight} if args.cell_weight != [1.0] else {}),
                **({"members": args.members} if args.members != 1 else {}), **({"hide": args.hide} if args.hide else {})}
    done = split_results(
        args.out, args.splits, settings,
        lambda split: {"data": str(args.data), **run_split(split, records, split_cells(split), channels, depths, dct, crops, windows, grid, args)}, report,
    )
    summary = {**settings, "data": str(args.data), "splits": len(done), **summarise(done),
               "window_read": [split.get("window_read") for split in done]}
    write_results(args.out.with_suffix(".json"), summary)
    for row, figures in summary["rows"].items():
        print(f"{row:<24} AUC {figures['auc']['mean']:.3f} +- {figures['auc']['std']:.3f}, "
              f"accuracy {figures['accuracy']['mean']:.3f}, detection at 5% {figures['detection_at_5pc']['mean']:.3f}")


if __name__ == "__main__":
    main()
