"""Does the JPEG history channel say where a double-compressed forgery was made?

Issue 31's acceptance for the ``jpeg`` evidence channel
(:mod:`hyperimage.inference.evidence.jpeg_history`): on the generated double-compression
benchmark (``make-forgery --double-jpeg``: a camera JPEG at Q1, edited, saved at Q2; Q1 < Q2 and
Q1 > Q2; regions on the host's grid or shifted off it), the channel's map alone localises the
forgeries with a pixel F1 above the centred box by more than the spread over 3 splits.

The set is made from the PyPI photos (``hyperimage photos``, ``data/photos-pypi``; the built-in
photos where that folder is missing) at their full 384 x 512, three quarters tampered. Each
split shuffles the photo families (the generator's groups: no photo on two sides) into
train / val / test (40 / 20 / 40% of the families). Pixel F1 and IoU are the project's one
definition (:func:`~hyperimage.evaluation.localisation.threshold_f1`): per tampered test image,
the map thresholded at one value per method chosen on the split's validation images
(:func:`~hyperimage.evaluation.localisation.best_threshold`), then averaged. The channel's cells
come on grids of 16, 32 and 64 px (``--cells``; the per-block history is read once and pooled
onto each, :func:`~hyperimage.inference.evidence.jpeg_history.history_cells`); each split's
validation images choose the cell side with the threshold. Methods, all in the same run on
the same images:

* ``jpeg adq``: the channel's ``adq`` feature as it comes (no training): each cell's mean
  posterior of single compression minus the image's median cell;
* ``jpeg read-out``: a logistic regression on the channel's cell features, fitted on the
  training split's cells (a cell is tampered when the mask covers half of it), the issue's
  calibrated read-out of one channel alone;
* ``centre box``: :func:`~hyperimage.evaluation.localisation.centre_map` thresholded the same
  way (a centred rectangle of the image's aspect, its size chosen on the validation images);
* ``whole image``: every pixel flagged (no threshold), for scale.

Each cell side is also reported fixed (``fixed_cells`` in the JSON; 64 px is the evidence
frame's default).

A cell map is drawn at pixel resolution, constant over each cell. Figures per split, then
mean +- sample standard deviation over the splits, for all tampered test images and apart by
grid (aligned / shifted) and by the order of the qualities (Q1 < Q2 / Q1 > Q2), with the
thresholds chosen on all validation images.
Acceptance: the read-out's mean F1 minus the box's exceeds the larger of their two standard
deviations.

``--speed`` also times the channel on a 4000 x 3000 JPEG (a photo scaled up with noise added,
camera JPEG at 75, a 600 x 800 block pasted, saved at 90) in a fresh process: wall time of
``Evidence.read`` and of the channel, and the peak resident memory the channel adds.

Usage::

    python benchmarks/jpeg_localisation.py [--photos data/photos-pypi] [--data data/jpeg-localisation] \\
        [--n 240] [--splits 3] [--cells 16 32 64] [--speed] [--json results/jpeg-localisation-generated.json]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from hyperimage.data import datasets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.generators.tampering import DoubleJpeg, TamperConfig, colour_photos, make_tampering_dataset
from hyperimage.evaluation.localisation import best_threshold, centre_map, threshold_f1
from hyperimage.evaluation.protocol import random_split
from hyperimage.inference.evidence import CellGrid, Evidence, analyse
from hyperimage.inference.evidence.jpeg_history import FEATURES, history_cells, jpeg_history

from _results import write_results

#: Split of the photo families: train / val / test.
FRACTIONS = (0.4, 0.2, 0.4)

#: Test strata: name and the test of an image's record.
STRATA = {
    "all": lambda r: True,
    "aligned": lambda r: r.extra["grid"] == "aligned",
    "shifted": lambda r: r.extra["grid"] == "shifted",
    "q1<q2": lambda r: int(r.extra["camera_quality"]) < int(r.extra["final_quality"]),
    "q1>q2": lambda r: int(r.extra["camera_quality"]) > int(r.extra["final_quality"]),
}


@dataclass
class Scored:
    """One image of the set as the benchmark reads it, per cell side: the channel's cells
    ``(U, V, D)`` and the share of each cell in the mask ``(U, V)``; and its true mask."""

    record: ImageRecord
    cells: dict[int, np.ndarray]
    cover: dict[int, np.ndarray]
    truth: np.ndarray | None


def make_set(photos: Path, out: Path, n: int, seed: int) -> list[ImageRecord]:
    """The double-compressed set in ``out`` (made there from ``photos`` unless it is already)."""
    if (out / "labels.csv").is_file():
        print(f"reading the set already in {out}")
        return datasets.load(out)
    if photos.is_dir():
        files, skipped = colour_photos(photos)
        for line in skipped:
            print(line)
        sources, names = files, None
    else:
        from hyperimage.data.photos import builtin_photos

        print(f"{photos}: no such folder; the built-in photos instead")
        named = builtin_photos(size=(384, 512))
        sources, names = [p for _, p in named], [name for name, _ in named]
    config = TamperConfig(double_jpeg=DoubleJpeg())
    make_tampering_dataset(sources, out, n, seed, tampered_fraction=0.75, size=(384, 512), names=names, config=config)
    return datasets.load(out)


def read_images(records: list[ImageRecord], sides: list[int]) -> tuple[list[Scored], float]:
    """Every image with the channel's cells on each grid; and the mean seconds per image of the
    channel on the first grid (reading the coefficients, the per-block history, the pooling)."""
    images, seconds = [], 0.0
    for record in records:
        evidence = Evidence.read(record.path)
        start = time.perf_counter()
        history = jpeg_history(record.path)
        cells = {side: history_cells(history, CellGrid(side)) for side in sides[:1]}
        seconds += time.perf_counter() - start
        cells.update({side: history_cells(history, CellGrid(side)) for side in sides[1:]})
        truth = np.asarray(Image.open(record.mask)) > 0 if record.mask else np.zeros(evidence.size, bool)
        cover = {side: CellGrid(side).pool(truth.astype(np.float32)) for side in sides}
        images.append(Scored(record, cells, cover, truth if record.mask else None))
    return images, seconds / max(len(records), 1)


def pixel_map(cells: np.ndarray, side: int, shape: tuple[int, int]) -> np.ndarray:
    """A cell map ``(U, V)`` at pixel resolution ``shape``, constant over each cell."""
    return np.kron(cells, np.ones((side, side), np.float32))[: shape[0], : shape[1]]


def read_out(train: list[Scored], side: int) -> Callable[[np.ndarray], np.ndarray]:
    """A logistic regression on the channel's non-constant features of the ``train`` images'
    ``side``-px cells (tampered: half the cell or more in the mask); returns cells -> scores."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    used = [i for i, name in enumerate(FEATURES) if name != "not_jpeg"]
    x = np.concatenate([im.cells[side][..., used].reshape(-1, len(used)) for im in train])
    y = np.concatenate([(im.cover[side] >= 0.5).ravel() for im in train])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    return lambda cells: model.decision_function(cells[..., used].reshape(-1, len(used))).reshape(cells.shape[:2])


def strata(maps: list[np.ndarray], test: list[Scored], threshold: float) -> dict[str, dict[str, float]]:
    """Pixel F1 and IoU (:func:`~hyperimage.evaluation.localisation.threshold_f1`) of the test
    ``maps`` at ``threshold``, and the count, over the test images of each stratum."""
    out = {}
    for stratum, keep in STRATA.items():
        chosen = [i for i, im in enumerate(test) if keep(im.record)]
        scores = threshold_f1([maps[i] for i in chosen], [test[i].truth for i in chosen], threshold)
        out[stratum] = {**scores, "n": len(chosen)}
    return out


def run_split(images: list[Scored], split: int, sides: list[int]) -> dict:
    """One split: each method's threshold (and cell side) chosen on the validation images and
    its per-stratum F1 / IoU on the tampered test images; and the same at every fixed side."""
    assigned = {r.path: r.split for r in random_split([im.record for im in images], seed=split, fractions=FRACTIONS)}
    part = {s: [im for im in images if assigned[im.record.path] == s] for s in ("train", "val", "test")}
    val = [im for im in part["val"] if im.truth is not None]
    test = [im for im in part["test"] if im.truth is not None]
    if not (val and test and part["train"]):
        raise SystemExit(f"split {split}: too few photo families for train / val / test ({len({im.record.group for im in images})}); give more photos")
    val_masks = [im.truth for im in val]
    methods, chosen, fixed = {}, {}, {}
    for name in ("jpeg adq", "jpeg read-out"):
        best = None
        for side in sides:
            if name == "jpeg adq":
                score = lambda cells: cells[..., FEATURES.index("adq")]  # noqa: E731
            else:
                score = read_out(part["train"], side)
            val_maps = [pixel_map(score(im.cells[side]), side, im.truth.shape) for im in val]
            threshold = best_threshold(val_maps, val_masks)
            val_f1 = threshold_f1(val_maps, val_masks, threshold)["f1"]
            result = strata([pixel_map(score(im.cells[side]), side, im.truth.shape) for im in test], test, threshold)
            fixed.setdefault(name, {})[side] = result
            if best is None or val_f1 > best[0]:
                best = (val_f1, side, threshold, result)
        _, side, threshold, result = best
        chosen[name] = {"cell": side, "threshold": threshold}
        methods[name] = result
    threshold = best_threshold([centre_map(t.shape) for t in val_masks], val_masks)
    chosen["centre box"] = {"threshold": threshold}
    methods["centre box"] = strata([centre_map(im.truth.shape) for im in test], test, threshold)
    methods["whole image"] = strata([np.ones(im.truth.shape) for im in test], test, 0.0)
    return {
        "split": split,
        "images": {s: len(v) for s, v in part.items()},
        "tampered_val": len(val),
        "tampered_test": len(test),
        "chosen_on_val": chosen,
        "methods": methods,
        "fixed_cells": fixed,
    }


def summarise(per_split: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean and sample standard deviation over the splits of F1 and IoU per stratum, from each
    split's :func:`strata`."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for stratum in STRATA:
        out[stratum] = {}
        for metric in ("f1", "iou"):
            values = np.array([split[stratum][metric] for split in per_split])
            out[stratum][metric] = {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}
    return out


def _speed_child(path: str, queue) -> None:
    """In a fresh process: seconds of ``Evidence.read`` and of the channel on ``path``, and the
    peak resident memory (MiB) the channel adds to the process (``VmHWM`` after, ``VmRSS`` before)."""

    def status(field: str) -> float:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024.0

    start = time.perf_counter()
    evidence = Evidence.read(path)
    read = time.perf_counter() - start
    before = status("VmRSS:")
    start = time.perf_counter()
    cells = analyse(evidence, ["jpeg"])
    channel = time.perf_counter() - start
    peak = status("VmHWM:")
    block = np.zeros(evidence.size)
    block[1000:1600, 1500:2300] = 1.0
    cover, adq = CellGrid().pool(block), cells[..., FEATURES.index("adq")]
    pasted, rest = adq[cover == 1.0].mean(), adq[cover == 0.0].mean()
    queue.put({"read_s": read, "channel_s": channel, "channel_peak_mib": peak - before, "process_peak_mib": peak,
               "adq_pasted": float(pasted), "adq_elsewhere": float(rest), "grid": list(cells.shape[:2])})  # fmt: skip


def speed(photos: Path, repeats: int = 3) -> dict:
    """The channel on a 4000 x 3000 JPEG (see the module docstring), ``repeats`` fresh processes."""
    rng = np.random.default_rng(0)
    source = next(iter(sorted(photos.glob("*.png"))), None) if photos.is_dir() else None
    if source is None:
        from hyperimage.data.photos import builtin_photos

        base = Image.fromarray((builtin_photos()[0][1] * 255).astype(np.uint8))
    else:
        base = Image.open(source).convert("RGB")
    big = np.asarray(base.resize((4000, 3000), Image.Resampling.BICUBIC), dtype=np.float64)
    big = np.clip(big + rng.normal(0.0, 3.0, big.shape), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        camera = Path(folder) / "camera.jpg"
        Image.fromarray(big).save(camera, quality=75, subsampling="4:2:0")
        edited = np.asarray(Image.open(camera)).copy()
        edited[1000:1600, 1500:2300] = big[:600, :800][::-1]  # never compressed: on the grid, singly compressed
        forged = Path(folder) / "forged.jpg"
        Image.fromarray(edited).save(forged, quality=90, subsampling="4:2:0")
        context = multiprocessing.get_context("spawn")
        runs = []
        for _ in range(repeats):
            queue = context.Queue()
            child = context.Process(target=_speed_child, args=(str(forged), queue))
            child.start()
            runs.append(queue.get())
            child.join()
    best = min(runs, key=lambda r: r["channel_s"])
    return {"image": "4000 x 3000 JPEG, camera quality 75, a 600 x 800 block pasted, saved at 90", "runs": runs,
            "channel_s_min": best["channel_s"], "channel_s_max": max(r["channel_s"] for r in runs),
            "channel_peak_mib_max": max(r["channel_peak_mib"] for r in runs)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=Path("data/photos-pypi"))
    parser.add_argument("--data", type=Path, default=Path("data/jpeg-localisation"), help="the generated set (made here if missing)")
    parser.add_argument("--n", type=int, default=240, help="images in the set (three quarters tampered)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated set")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--cells", type=int, nargs="+", default=[16, 32, 64], help="cell sides of the evidence grid to choose from (multiples of 8)")
    parser.add_argument("--speed", action="store_true", help="also time the channel on a 4000 x 3000 JPEG")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (and their provenance) to this file")
    args = parser.parse_args()

    if any(side <= 0 or side % 8 for side in args.cells):
        parser.error(f"--cells: sides are positive multiples of 8, got {args.cells}")
    records = make_set(args.photos, args.data, args.n, args.seed)
    images, per_image = read_images(records, args.cells)
    print(f"{len(images)} images ({sum(im.truth is not None for im in images)} tampered) in {args.data}; "
          f"JPEG channel {per_image * 1000:.0f} ms per 384 x 512 image")  # fmt: skip
    splits = [run_split(images, k, args.cells) for k in range(args.splits)]
    summary = {m: summarise([s["methods"][m] for s in splits]) for m in splits[0]["methods"]}
    fixed = {m: {side: summarise([s["fixed_cells"][m][side] for s in splits]) for side in args.cells} for m in splits[0]["fixed_cells"]}
    methods = list(summary)
    print(f"\npixel F1 (IoU), mean +- sd over {args.splits} splits; tampered test images per split: " + ", ".join(str(s["tampered_test"]) for s in splits))
    print(f"{'stratum':<10}" + "".join(f"{m:>26}" for m in methods))
    for stratum in STRATA:
        row = [f"{summary[m][stratum]['f1']['mean']:.3f}+-{summary[m][stratum]['f1']['sd']:.3f} ({summary[m][stratum]['iou']['mean']:.3f})" for m in methods]
        n = "/".join(str(s["methods"][methods[0]][stratum]["n"]) for s in splits)
        print(f"{stratum:<10}" + "".join(f"{c:>26}" for c in row) + f"   n={n}")
    for s in splits:
        print(f"split {s['split']}: " + ", ".join(f"{m} {s['methods'][m]['all']['f1']:.3f}" for m in methods)
              + "; cells chosen on val: " + ", ".join(f"{m} {s['chosen_on_val'][m]['cell']}" for m in ("jpeg adq", "jpeg read-out")))  # fmt: skip
    print("\nfixed cell side, pixel F1 over all tampered test images (and Q1 < Q2 / Q1 > Q2):")
    for m, sides in fixed.items():
        print(f"  {m:<14}" + "   ".join(f"{side} px {v['all']['f1']['mean']:.3f}+-{v['all']['f1']['sd']:.3f} ({v['q1<q2']['f1']['mean']:.3f} / {v['q1>q2']['f1']['mean']:.3f})" for side, v in sides.items()))
    jpeg, box = summary["jpeg read-out"]["all"]["f1"], summary["centre box"]["all"]["f1"]
    spread = max(jpeg["sd"], box["sd"])
    passed = jpeg["mean"] - box["mean"] > spread
    print(f"\nacceptance (issue 31): JPEG read-out F1 {jpeg['mean']:.3f} - centre box {box['mean']:.3f} = "
          f"{jpeg['mean'] - box['mean']:.3f} {'>' if passed else '<='} spread {spread:.3f}: {'passed' if passed else 'NOT passed'}")  # fmt: skip
    figures = {
        "protocol": {
            "set": f"make_tampering_dataset, double_jpeg={DoubleJpeg()}, {args.n} images of 384 x 512, 3/4 tampered, seed {args.seed}",
            "photos": str(args.photos),
            "splits": args.splits,
            "fractions_of_families": FRACTIONS,
            "cells": args.cells,
            "threshold": "one per method and split, with the cell side, best mean pixel F1 on the split's tampered validation images",
            "f1": "per tampered test image, averaged",
            "sd": "sample standard deviation over splits (ddof=1)",
        },
        "jpeg_ms_per_image": per_image * 1000,
        "splits": splits,
        "summary": summary,
        "fixed_cells": fixed,
        "acceptance": {
            "rule": "mean F1 of the JPEG read-out minus the centre box's above the larger of their standard deviations",
            "jpeg_readout_f1": jpeg, "centre_box_f1": box, "difference": jpeg["mean"] - box["mean"], "spread": spread, "passed": bool(passed),
        },  # fmt: skip
    }
    if args.speed:
        figures["speed"] = speed(args.photos)
        sp = figures["speed"]
        print(f"\n4000 x 3000 JPEG: JPEG channel {sp['channel_s_min']:.2f}-{sp['channel_s_max']:.2f} s, "
              f"at most {sp['channel_peak_mib_max']:.0f} MiB above the process (runs: "
              + "; ".join(f"read {r['read_s']:.2f} s, channel {r['channel_s']:.2f} s, adq pasted {r['adq_pasted']:.2f} / elsewhere {r['adq_elsewhere']:.2f}" for r in sp["runs"]) + ")")  # fmt: skip
    write_results(args.json, figures)


if __name__ == "__main__":
    main()
