"""Copy-move evidence on CASIA v1, files re-saved alike: the channel against a plain SIFT matcher.

The acceptance measurement of the ``copy-move`` evidence channel (issue 31): CASIA v1's
copy-move images (``Sp_S_*``) against its authentic ones (``Au/``), every file decoded and
saved again at one JPEG quality (``--resave``, as ``hyperimage benchmark forgery --resave``
does), so that how the set was saved tells nothing. Both rows score the same files in the same
run:

* ``channel``: :func:`hyperimage.inference.evidence.copy_move.detect`, its image score (the
  largest cell strength) and its strength map;
* ``plain-sift``: :func:`hyperimage.evaluation.baselines.sift_copy_move.plain_sift`, SIFT
  g2NN pairs agreeing on one shift, the matcher a user would write first.

Protocol: the copy-move and authentic images are split by source photo
(:func:`hyperimage.evaluation.protocol.random_split`, ``FORGERY_SPLIT``, seeds ``--seeds``);
the training images (the ``train`` and ``val`` parts: nothing here is trained, so both choose)
fix each row's operating point (the score above which an image is flagged: at most 5% of
training authentic images above it) and its pixel threshold (the map value that maximises the
mean pixel F1 of training copy-move images); the test images are scored with both. Per split
and as mean +- sd over splits: image ROC AUC (copy-move vs authentic test images), the share of
authentic test images flagged at the operating point, the detection rate there, the detection
rate at 5% false alarms read off the test ROC, and pixel F1 against the CASIA ground-truth
masks (Pham et al. 2019; they mark the pasted copy only, not its source, so a map that marks
both halves is held near 2/3 even when perfect) averaged over test copy-move images with a
mask. The channel's own parameters were fixed on images that are training images in all
three default splits.

Usage::

    python benchmarks/copy_move.py [--data data/real/CASIA1] [--resave 75] [--cache data/casia1-resaved] \\
        [--seeds 0 1 2] [--workers 1] [--json results/copy-move-casia1-q75.json]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from hyperimage.data import datasets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.resave import resave
from hyperimage.evaluation.baselines.sift_copy_move import plain_sift
from hyperimage.evaluation.localisation import best_threshold, threshold_f1, truth_mask
from hyperimage.evaluation.protocol import FORGERY_SPLIT, random_split
from hyperimage.inference.evidence import Evidence
from hyperimage.inference.evidence.copy_move import CopyMoveConfig, detect

from _results import write_results

ROWS = ("channel", "plain-sift")
#: The share of training authentic images an operating point may flag.
FALSE_ALARMS = 0.05


def _init_worker() -> None:
    """One thread per worker process: the workers are the parallelism."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def score_file(path: str, keep_maps: bool) -> dict[str, Any]:
    """Both rows on one image: scores, seconds, and (``keep_maps``) the maps as float16."""
    pixels = Evidence.read(path).pixels
    start = time.perf_counter()
    found = detect(pixels)
    middle = time.perf_counter()
    plain_score, plain_map = plain_sift(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY))
    end = time.perf_counter()
    out: dict[str, Any] = {
        "scores": {"channel": found.score, "plain-sift": float(plain_score)},
        "seconds": {"channel": middle - start, "plain-sift": end - middle},
    }
    if keep_maps:
        out["maps"] = {"channel": found.strength.astype(np.float16), "plain-sift": plain_map.astype(np.float16)}
    return out


def score_all(records: list[ImageRecord], workers: int) -> list[dict[str, Any]]:
    """:func:`score_file` of every record, in order, on ``workers`` processes."""
    jobs = [(str(r.path), r.target == 0.0 and r.mask is not None) for r in records]
    if workers <= 1:
        _init_worker()
        return [score_file(*job) for job in jobs]
    with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
        return list(pool.map(score_file, *zip(*jobs), chunksize=4))


def split_figures(
    scores: np.ndarray,
    positive: np.ndarray,
    train: np.ndarray,
    maps: dict[int, np.ndarray],
    truths: dict[int, np.ndarray],
) -> dict[str, Any]:
    """One row on one split: ``scores`` of all images, ``positive`` (copy-move), ``train``
    (else test); ``maps`` and ``truths`` of the copy-move images with a mask, by index."""
    test = ~train
    operating = float(np.quantile(scores[train & ~positive], 1.0 - FALSE_ALARMS, method="higher"))
    fpr, tpr, _ = roc_curve(positive[test], scores[test])
    fit, held = [i for i in maps if train[i]], [i for i in maps if test[i]]
    pixel = best_threshold([maps[i] for i in fit], [truths[i] for i in fit])
    return {
        "auc": float(roc_auc_score(positive[test], scores[test])),
        "operating_point": operating,
        "false_alarms_at_operating_point": float(np.mean(scores[test & ~positive] > operating)),
        "detection_at_operating_point": float(np.mean(scores[test & positive] > operating)),
        "detection_at_5pct_false_alarms": float(tpr[fpr <= FALSE_ALARMS].max()),
        "pixel_threshold": pixel,
        "pixel_f1": threshold_f1([maps[i] for i in held], [truths[i] for i in held], pixel)["f1"],
        "test_images": {
            "copy-move": int((test & positive).sum()),
            "authentic": int((test & ~positive).sum()),
            "with_mask": len(held),
        },
    }


def summary(per_split: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample sd (0 for one split) over splits of every scalar figure."""
    out = {}
    for key in (k for k, v in per_split[0].items() if isinstance(v, float)):
        values = [s[key] for s in per_split]
        out[key] = {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/real/CASIA1"), help="CASIA v1 as published")
    parser.add_argument("--resave", type=int, default=75, help="JPEG quality of the re-save; 0: as published")
    parser.add_argument("--cache", type=Path, default=Path("data/casia1-resaved"), help="where re-saved copies live")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=1, help="processes scoring images")
    parser.add_argument("--every", type=int, default=1, help="only every n-th image (a quick look, not the protocol)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (and provenance) to this file")
    args = parser.parse_args()
    if args.resave and not 1 <= args.resave <= 100:
        parser.error(f"--resave: JPEG qualities are 1-100, got {args.resave}")
    folder = resave(args.data, args.cache / f"q{args.resave}", args.resave) if args.resave else args.data
    records = [r for r in datasets.load(folder) if r.target == 1.0 or r.distortion == "copy-move"]
    records = records[:: max(args.every, 1)]
    positive = np.array([r.target == 0.0 for r in records])
    print(f"{folder}: {positive.sum()} copy-move and {(~positive).sum()} authentic images; {args.workers} worker(s)")
    start = time.perf_counter()
    results = score_all(records, args.workers)
    wall = time.perf_counter() - start
    scores = {row: np.array([r["scores"][row] for r in results]) for row in ROWS}
    maps = {row: {i: r["maps"][row] for i, r in enumerate(results) if "maps" in r} for row in ROWS}
    truths = {i: truth_mask(records[i], maps["channel"][i].shape) for i in maps["channel"]}
    splits = []
    for seed in args.seeds:
        part = {r.path: r.split for r in random_split(records, seed, FORGERY_SPLIT)}
        train = np.array([part[r.path] != "test" for r in records])
        rows = {row: split_figures(scores[row], positive, train, maps[row], truths) for row in ROWS}
        splits.append({"seed": seed, **rows})
    figures = {
        "data": str(args.data),
        "resave": args.resave,
        "images": {"copy-move": int(positive.sum()), "authentic": int((~positive).sum()), "every": max(args.every, 1)},
        "protocol": "random_split(FORGERY_SPLIT) by source photo; train+val choose the operating point (<= 5% of "
        "training authentic images flagged) and the pixel threshold; figures on test",
        "channel_config": asdict(CopyMoveConfig()),
        "seconds_per_image": {row: float(np.mean([r["seconds"][row] for r in results])) for row in ROWS},
        "wall_seconds": wall,
        "splits": splits,
        "summary": {row: summary([s[row] for s in splits]) for row in ROWS},
    }
    print(table(figures))
    write_results(args.json, figures)


def table(figures: dict[str, Any]) -> str:
    """The figures as a short text table: one line per split and row, then mean +- sd."""
    columns = [
        ("auc", "AUC"),
        ("false_alarms_at_operating_point", "FA@op"),
        ("detection_at_operating_point", "det@op"),
        ("detection_at_5pct_false_alarms", "det@5%FA"),
        ("pixel_f1", "pixel F1"),
    ]
    lines = [f"{'seed':<10}{'row':<12}" + "".join(f"{title:>14}" for _, title in columns)]
    for split in figures["splits"]:
        for row in ROWS:
            lines.append(f"{split['seed']:<10}{row:<12}" + "".join(f"{split[row][key]:>14.3f}" for key, _ in columns))
    for row in ROWS:
        s = figures["summary"][row]
        cells = (f"{s[key]['mean']:.3f} +-{s[key]['sd']:.3f}".rjust(14) for key, _ in columns)
        lines.append(f"{'mean+-sd':<10}{row:<12}" + "".join(cells))
    seconds = figures["seconds_per_image"]
    lines.append(
        f"seconds per image: channel {seconds['channel']:.2f}, plain SIFT {seconds['plain-sift']:.2f}; "
        f"wall {figures['wall_seconds']:.0f} s"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
