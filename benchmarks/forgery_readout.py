"""Where forgery evidence is lost: stage 1 on contour pairs against image-level read-outs.

Trains only the forgery stage 1 (Siamese ranker on contour patch pairs) on one
2/3-1/6-1/6 split of a tampering data set, then prints, on the test images:

* stage 1 on its own task (:func:`hyperimage.training.phases.contour_pairs.contour_pair_metrics`): the share of
  contour pairs ranked right and the AUC of single-patch scores ``d(C, r)``;
* image AUC of three poolings of the per-patch scores over the grid (mean, minimum, 5%
  quantile: evidence of tampering should be local, so the lowest scores should count);
* a read-out supervised per grid cell: a class-balanced logistic regression on the
  hyper-image pixels, trained on the training images' cells (cells of authentic images
  against cells whose patch straddles a tampered region's border, 5-95% of its pixels in
  the mask), its cell AUC on test, and image AUC of its highest cell score (max, top 5)
  and of its mean.

If stage 1 ranks pairs well but every image read-out stays near 0.5, the evidence is lost
between the patch and the image, not in stage 1's training.

Usage::

    python benchmarks/forgery_readout.py DATA [--no-residual] [--conv-width 0.25] [--epochs 15] [--split-seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from hyperimage import presets
from hyperimage.data import datasets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.io import load_image
from hyperimage.evaluation.localisation import truth_mask
from hyperimage.evaluation.protocol import FORGERY_SPLIT, random_split
from hyperimage.inference.model import HyperImageModel
from hyperimage.training import Recipe, TrainConfig, train
from hyperimage.training.phases.contour_pairs import contour_pair_metrics
from hyperimage.training.store import HyperImageCache, ImageStore

from _results import write_results


def cell_labels(model: HyperImageModel, records: list[ImageRecord]) -> np.ndarray:
    """(N, U * V): 0 for every cell of an authentic image, 1 for a cell whose patch holds 5-95%
    tampered pixels, -1 (unused) for the other cells of a tampered image."""
    labels = np.full((len(records), model.grid.grid[0] * model.grid.grid[1]), -1)
    for i, record in enumerate(records):
        if record.target == 1.0:
            labels[i] = 0
            continue
        # A mask has its image's size; the model sees the image scaled by grid.fit_size.
        mask = truth_mask(record, model.grid.fit_size(*load_image(record.mask, mode="L").shape))
        share = model.grid.window_sums(torch.from_numpy(mask).float()[None, None])[0].ravel().numpy() / model.config.patch**2
        labels[i] = np.where((share > 0.05) & (share < 0.95), 1, -1)
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--conv-width", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--no-residual", action="store_true", help="stage 1 without the noise-residual front end")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (and their provenance) to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    records = random_split(datasets.load(args.data), seed=args.split_seed, fractions=FORGERY_SPLIT)
    part = {name: [r for r in records if r.split == name] for name in ("train", "val", "test")}
    config = presets.get("forgery")
    config.stage1_args.update(conv_width=args.conv_width, residual=not args.no_residual)
    config.method = "patch-average"
    t0 = time.time()
    recipe = Recipe.simple(TrainConfig(epochs=args.epochs, patience=6, batch_size=32))
    model, _ = train(part["train"] + part["val"], config, recipe, seed=0, progress=False)
    print(f"stage 1 trained in {time.time() - t0:.0f} s ({config.stage1_args}, {args.epochs} epochs)")

    pairs = contour_pair_metrics(model, part["test"], seed=args.split_seed)
    print(f"test contour pairs: pair accuracy {pairs['pair_accuracy']:.4f}, single-patch AUC {pairs['patch_auc']:.4f}")
    figures = {"data": str(args.data), "stage1_args": dict(config.stage1_args), "epochs": args.epochs, "split_seed": args.split_seed}
    figures.update(pairs={k: float(v) for k, v in pairs.items()}, patch_pooling={}, cell_readout={})

    features = {}
    for name in ("train", "test"):
        with tempfile.TemporaryDirectory() as tmp:
            store = ImageStore.prepare(part[name], model, tmp)
            cache = HyperImageCache.build(store, model, tmp, name)
            hyper = cache.read(torch.arange(len(cache)))
        n, d = hyper.shape[:2]
        features[name] = (hyper.permute(0, 2, 3, 1).reshape(n, -1, d), store.targets.numpy())
    test_x, test_y = features["test"]
    with torch.no_grad():
        patch = model.stage1.head(test_x.reshape(-1, test_x.shape[2])).reshape(test_x.shape[:2]).numpy()
    for pool, value in (("mean", patch.mean(1)), ("min", patch.min(1)), ("5% quantile", np.quantile(patch, 0.05, axis=1))):
        figures["patch_pooling"][pool] = float(roc_auc_score(test_y, value))
        print(f"image AUC, {pool} of patch scores: {figures['patch_pooling'][pool]:.4f}")

    train_x, _ = features["train"]
    train_cells = cell_labels(model, part["train"])
    kept = train_cells >= 0
    readout = LogisticRegression(C=0.01, max_iter=2000, class_weight="balanced")
    readout.fit(train_x.numpy()[kept], train_cells[kept])
    tamper = readout.decision_function(test_x.reshape(-1, test_x.shape[2]).numpy()).reshape(test_x.shape[:2])
    test_cells = cell_labels(model, part["test"])
    figures["cell_readout"]["cell_auc"] = float(roc_auc_score(test_cells[test_cells >= 0], tamper[test_cells >= 0]))
    print(f"cell read-out: test cell AUC {figures['cell_readout']['cell_auc']:.4f}")
    top5 = np.sort(tamper, axis=1)[:, -5:].mean(1)
    for pool, value in (("max", tamper.max(1)), ("top-5 mean", top5), ("mean", tamper.mean(1))):
        figures["cell_readout"][pool] = float(roc_auc_score(test_y, -value))
        print(f"image AUC, {pool} of cell tamper scores: {figures['cell_readout'][pool]:.4f}")
    write_results(args.json, figures, preset="forgery")


if __name__ == "__main__":
    main()
