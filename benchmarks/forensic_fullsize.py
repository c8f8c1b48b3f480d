"""Forensic evidence on full-size photos: the channels at native size against the same images
shrunk to 384 px, in one run.

Issue 31: tampering made on full-size photos (the Debian wallpapers are 4-20 MP), scored at
native size and shrunk to 384 px in the same run; acceptance: native analysis above the 384-px
one by more than the spread.

**Set** (built once under ``--work``): the colour photos of at least ``--min-pixels`` among
those of ``--photos`` (by default the Debian packages' photos of the catalogue at their own
size, :func:`hyperimage.photo_packages.gather_photos` with ``size=None``, gathered there when
the folder has no ``manifest.json``), each used whole
(:func:`~hyperimage.data.generators.tampering.make_tampering_dataset` with ``size=None``)
``--per-photo`` times, half of the images tampered: splicing from the photo's family,
copy-move, or removal (Telea inpainting: the biharmonic solve is too slow on megapixel holes),
regions of 2-15% of the image, the generator's CASIA-2 mix of kinds. Every image goes through
the generator's double-JPEG chain, authentic and tampered alike: a camera JPEG at Q1, edited,
saved at Q2 (:class:`~hyperimage.data.generators.tampering.DoubleJpeg`'s defaults).

**Protocols**, on the same images and splits:

* ``native``: the evidence channels (``--channels``, default ``noise``, ``jpeg``,
  ``copy-move``, ``learned``) on each file as stored;
* ``384 px``: each file decoded, shrunk isotropically to the shipped forgery model's largest
  size (384 px a side) as that model does before its stage 1
  (:meth:`~hyperimage.inference.grid.PatchGrid.fit_image`, Lanczos), saved again as a JPEG at
  the image's own Q2, and the channels on that file.

Each channel's cells are cached per image and protocol (``--work``/cache), as
``evidence_casia.py`` caches them.

**Read-out**, per protocol and split (``random_split`` by photo family, the forgery split
2/3-1/6-1/6, seeds 0 .. ``--splits`` - 1): each channel alone and all channels together, the
calibrated read-out of ``evidence_casia.py`` (a logistic regression on the cells pooled per
image: mean, maximum and minimum of each feature), scored on the test images: ROC AUC (and per
kind of tampering), accuracy at the validation threshold, detection at 5% false alarms. Maps:
the ``copy-move`` channel's ``strength`` (on the copy-move images) and the ``jpeg`` channel's
``adq`` (on every tampered image), as they come, drawn on one frame of the native image (one
value per 8 x 8 block, :func:`~hyperimage.evaluation.localisation.cell_map`; the truth: the
blocks the mask covers at least half of), flagged above the threshold of best mean F1 on the
validation images of the same kind (:func:`~hyperimage.evaluation.localisation.best_threshold`)
and scored by pixel F1 / IoU on the test images
(:func:`~hyperimage.evaluation.localisation.threshold_f1`), beside the centred box chosen the
same way.

**Output**: ``OUT/splitK.json`` per split (a rerun keeps the splits already written with the
same settings, so an interrupted run loses at most one) and ``OUT.json``: mean +- sample sd over
the splits of every figure per protocol, the paired native - 384 differences, and the
acceptance per row: the native mean AUC minus the 384-px one against the larger of their sds.

Usage::

    python benchmarks/forensic_fullsize.py [--photos runs/forensic-fullsize/photos-debian-native] \\
        [--min-pixels 4000000] [--per-photo 6] [--max-photos N] [--work runs/forensic-fullsize] \\
        [--splits 3] [--out results/forensic-fullsize]
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from _evidence import PARTS, channel_cells, mean_sd, pooled, pooled_readout, split_results
from _results import write_results
from hyperimage.data import datasets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.generators.tampering import DoubleJpeg, TamperConfig, colour_photos, make_tampering_dataset
from hyperimage.data.io import load_image
from hyperimage.evaluation.localisation import best_threshold, cell_map, centre_map, threshold_f1
from hyperimage.evaluation.protocol import FORGERY_SPLIT, random_split
from hyperimage.inference.evidence import CHANNELS, CellGrid
from hyperimage.inference.grid import PatchGrid
from hyperimage.inference.model import read_config
from hyperimage.inference.predictor import shipped_folder
from hyperimage.storage import CONFIG

PROTOCOLS = ("native", "384 px")
#: How the set's forgeries are made (see the module docstring).
TAMPERING = TamperConfig(inpaint="telea", double_jpeg=DoubleJpeg())
#: Native pixels per value of the frame the maps are scored on: one JPEG block.
FRAME = 8
#: The maps scored: name -> (channel, feature, the kind of tampered image it is scored on; None: every kind).
MAPS = {"copy-move strength": ("copy-move", "strength", "copy_move"), "jpeg adq": ("jpeg", "adq", None)}
ALL = "all channels"


def full_size_photos(folder: Path, min_pixels: int, max_photos: int | None) -> list[Path]:
    """The colour photos of ``folder`` with at least ``min_pixels`` pixels (the first
    ``max_photos`` of them by name, if given); the Debian photos are gathered there at their
    own size first when the folder has no ``manifest.json``."""
    if not (folder / "manifest.json").is_file():
        from hyperimage.photo_packages import gather_photos

        print(f"gathering the Debian packages' photos at their own size into {folder}", flush=True)
        gather_photos(folder, sources=("debian",), size=None)
    files, skipped = colour_photos(folder)
    for line in skipped:
        print(line)
    return [path for path in files if np.prod(_size(path)) >= min_pixels][:max_photos]


def _size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image file, from its header."""
    with Image.open(path) as image:
        return image.size


def build_set(photos: Sequence[Path], out: Path, per_photo: int, seed: int) -> list[ImageRecord]:
    """The tampering set of the module docstring in ``out``, made once: written beside it and
    renamed when complete, so that a rerun finds it whole or makes it again."""
    if not (out / "labels.csv").is_file():
        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        started = time.time()
        n = per_photo * len(photos)
        make_tampering_dataset(list(photos), partial, n, seed, tampered_fraction=0.5, size=None, config=TAMPERING, write_sources=False)
        partial.rename(out)
        print(f"made {n} images from {len(photos)} photos in {time.time() - started:.0f} s: {out}", flush=True)
    return datasets.load(out)


def shrunk_set(records: Sequence[ImageRecord], root: Path, out: Path, grid: PatchGrid) -> list[ImageRecord]:
    """Each image of ``records`` (under ``root``) decoded, scaled down as ``grid`` scales a
    model's input, and saved again as a JPEG at the image's own final quality, at the same
    relative path under ``out``; each file made once (written beside it, then renamed)."""
    shrunk = []
    for r in records:
        target = out / r.path.relative_to(root)
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            pixels = np.rint(grid.fit_image(load_image(r.path, mode="RGB")) * 255.0).astype(np.uint8)
            partial = target.with_name(target.name + ".partial")
            Image.fromarray(pixels).save(partial, format="JPEG", quality=int(r.extra["final_quality"]), subsampling="4:2:0", optimize=False)
            partial.rename(target)
        shrunk.append(replace(r, path=target))
    return shrunk


def frame_truth(record: ImageRecord) -> np.ndarray:
    """The tampered mask on the frame of the native image: the ``FRAME`` x ``FRAME`` blocks it covers at least half of."""
    return CellGrid(FRAME).pool((load_image(record.mask, mode="L") > 0.5).astype(np.float32)) >= 0.5


def run_split(
    split: int,
    records: Sequence[ImageRecord],
    cells: dict[str, list[np.ndarray]],
    scales: dict[str, list[float]],
    truths: dict[int, np.ndarray],
    features: dict[str, slice],
    grid: CellGrid,
) -> dict:
    """One split: per protocol, each read-out's figures on the test images and each map's pixel
    F1 with its threshold chosen on the validation images; the centred box beside them."""
    recs = random_split(records, seed=split, fractions=FORGERY_SPLIT)
    part = {p: [i for i, r in enumerate(recs) if r.split == p] for p in PARTS}
    labels = {p: np.array([records[i].target for i in idx]) for p, idx in part.items()}
    for p, y in labels.items():
        if len(set(y)) < 2:
            raise SystemExit(f"split {split}: the {p} images hold {len(y)} image(s) of one class; give more photos (--max-photos, --min-pixels)")
    kinds = [r.extra.get("kind") for r in records]
    test_kinds = [kinds[i] for i in part["test"]]
    result: dict = {
        "split": split,
        "sizes": {p: len(idx) for p, idx in part.items()},
        "test_tampered_by_kind": dict(Counter(k for k in test_kinds if k != "authentic")),
        "protocols": {},
        "centre_box": {},
    }
    scored = {
        name: {p: [i for i in part[p] if i in truths and kind in (None, kinds[i])] for p in ("val", "test")}
        for name, (channel, _, kind) in MAPS.items()
        if channel in features
    }
    for protocol in PROTOCOLS:
        rows = {}
        for name, span in features.items():
            x = {p: np.stack([pooled(cells[protocol][i][span]) for i in idx]) for p, idx in part.items()}
            rows[name if name == ALL else f"{name} alone"] = pooled_readout(x, labels, test_kinds)
        pixel = {}
        for name, chosen in scored.items():
            channel, feature, _ = MAPS[name]
            index = features[channel].start + CHANNELS.get(channel).features.index(feature)

            def drawn(idx: list[int]) -> list[np.ndarray]:
                return [cell_map(cells[protocol][i][index], grid.cell, scales[protocol][i], truths[i].shape, FRAME) for i in idx]

            pixel[name] = _located(drawn(chosen["val"]), drawn(chosen["test"]), chosen, truths)
        result["protocols"][protocol] = {"rows": rows, "pixel": pixel}
    for name, chosen in scored.items():
        result["centre_box"][name] = _located(
            [centre_map(truths[i].shape) for i in chosen["val"]], [centre_map(truths[i].shape) for i in chosen["test"]], chosen, truths
        )
    return result


def _located(val: list[np.ndarray], test: list[np.ndarray], chosen: dict[str, list[int]], truths: dict[int, np.ndarray]) -> dict:
    """Pixel F1 / IoU of the ``test`` maps at the threshold best on the ``val`` maps (NaN where
    either set is empty), with the threshold and the number of test images."""
    if not val or not test:
        return {"f1": float("nan"), "iou": float("nan"), "threshold": float("nan"), "n_test": len(test)}
    threshold = best_threshold(val, [truths[i] for i in chosen["val"]])
    return {**threshold_f1(test, [truths[i] for i in chosen["test"]], threshold), "threshold": threshold, "n_test": len(test)}


def summarise(splits: list[dict]) -> dict:
    """Mean and sample sd over the splits per protocol, the paired native - 384 differences of
    every AUC and pixel F1, and the acceptance of each row and map: the native mean above the
    384-px mean by more than the larger of their sds."""
    native, small = PROTOCOLS
    differences = [
        {
            "rows": {row: {"auc": s["protocols"][native]["rows"][row]["auc"] - v["auc"]} for row, v in s["protocols"][small]["rows"].items()},
            "pixel": {name: {"f1": s["protocols"][native]["pixel"][name]["f1"] - v["f1"]} for name, v in s["protocols"][small]["pixel"].items()},
        }
        for s in splits
    ]
    summary = {
        "protocols": {p: mean_sd([s["protocols"][p] for s in splits]) for p in PROTOCOLS},
        "native_minus_384": mean_sd(differences),
        "centre_box": mean_sd([s["centre_box"] for s in splits]),
    }
    acceptance = {}
    for kind, metric in (("rows", "auc"), ("pixel", "f1")):
        for name, figures in summary["protocols"][native][kind].items():
            a, b = figures[metric], summary["protocols"][small][kind][name][metric]
            spread = max(a["std"], b["std"])
            acceptance[name] = {
                "metric": metric, "native": a["mean"], "384 px": b["mean"], "difference": a["mean"] - b["mean"],
                "spread": spread, "passed": bool(a["mean"] - b["mean"] > spread),
            }  # fmt: skip
    summary["acceptance"] = acceptance
    return summary


def table(summary: dict, splits: int) -> str:
    """The summary as text: AUC and pixel F1, native beside 384 px, the paired difference and the acceptance."""
    native, small = PROTOCOLS
    pm = lambda f: f"{f['mean']:.3f} +- {f['std']:.3f}"  # noqa: E731
    lines = [f"mean +- sd over {splits} split(s)", f"{'image AUC':<26}{native:>18}{small:>18}{'native - 384':>18}   native above by more than the spread"]
    for row, figures in summary["protocols"][native]["rows"].items():
        ok = summary["acceptance"][row]
        lines.append(f"{row:<26}{pm(figures['auc']):>18}{pm(summary['protocols'][small]['rows'][row]['auc']):>18}"
                     f"{pm(summary['native_minus_384']['rows'][row]['auc']):>18}   {'yes' if ok['passed'] else 'no'} (spread {ok['spread']:.3f})")  # fmt: skip
    lines.append(f"{'pixel F1 (native frame)':<26}{native:>18}{small:>18}{'native - 384':>18}   centred box")
    for name, figures in summary["protocols"][native]["pixel"].items():
        lines.append(f"{name:<26}{pm(figures['f1']):>18}{pm(summary['protocols'][small]['pixel'][name]['f1']):>18}"
                     f"{pm(summary['native_minus_384']['pixel'][name]['f1']):>18}   {pm(summary['centre_box'][name]['f1'])}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=Path("runs/forensic-fullsize/photos-debian-native"), help="photos at their own size (the Debian ones are gathered here if it has no manifest.json)")
    parser.add_argument("--min-pixels", type=int, default=4_000_000, help="photos smaller than this are left out")
    parser.add_argument("--max-photos", type=int, default=None, help="only the first N large photos by name (a tiny run)")
    parser.add_argument("--per-photo", type=int, default=6, help="images made from each photo, half of them tampered")
    parser.add_argument("--seed", type=int, default=0, help="seed of the set")
    parser.add_argument("--channels", default="noise,jpeg,copy-move,learned")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("runs/forensic-fullsize"), help="where the set, its 384-px copy and the cell cache live")
    parser.add_argument("--out", type=Path, default=Path("results/forensic-fullsize"), help="OUT/splitK.json per split, OUT.json the summary")
    args = parser.parse_args()
    channels = [c for c in args.channels.split(",") if c]
    unknown = [c for c in channels if c not in CHANNELS.available()]
    if unknown or not channels:
        parser.error(f"--channels: unknown {unknown or 'none given'}; known: {', '.join(CHANNELS.available())}")
    if args.per_photo < 2 or args.splits < 1 or args.min_pixels < 0 or (args.max_photos is not None and args.max_photos < 1):
        parser.error("--per-photo must be >= 2, --splits >= 1, --min-pixels >= 0, --max-photos >= 1")

    started = time.time()
    photos = full_size_photos(args.photos, args.min_pixels, args.max_photos)
    if len(photos) < 10:
        parser.error(f"{args.photos}: {len(photos)} colour photos of at least {args.min_pixels} pixels; the splits need 10 (5 families)")
    megapixels = [float(np.prod(_size(p))) / 1e6 for p in photos]
    print(f"{len(photos)} photos of {min(megapixels):.1f}-{max(megapixels):.1f} MP from {args.photos}", flush=True)
    tag = f"{args.photos.name}-min{args.min_pixels}-n{len(photos)}-x{args.per_photo}-seed{args.seed}"
    root = args.work / f"set-{tag}"
    records = build_set(photos, root, args.per_photo, args.seed)
    model = read_config(shipped_folder("forgery") / CONFIG)
    shrink = PatchGrid(model.patch, model.grid, model.max_size)
    small_root = args.work / f"set-{tag}-{max(model.max_size)}px"
    protocol_records = {"native": records, "384 px": shrunk_set(records, root, small_root, shrink)}
    grid = CellGrid()
    cells, scales = {}, {}
    for protocol, folder in (("native", root), ("384 px", small_root)):
        t0 = time.time()
        found = channel_cells(protocol_records[protocol], channels, args.work / "cache" / folder.name, folder, grid, every=20)
        cells[protocol] = [found[r.path] for r in protocol_records[protocol]]
        print(f"{protocol}: evidence of {len(records)} images in {time.time() - t0:.0f} s", flush=True)
    truths = {i: frame_truth(r) for i, r in enumerate(records) if r.target == 0.0 and r.mask is not None}
    scales["native"] = [1.0] * len(records)
    scales["384 px"] = [max(_size(s.path)) / max(_size(r.path)) for r, s in zip(records, protocol_records["384 px"])]

    depths = [len(CHANNELS.get(c).features) for c in channels]
    ends = np.cumsum(depths)
    features = {c: slice(int(e - d), int(e)) for c, d, e in zip(channels, depths, ends)}
    features[ALL] = slice(0, int(ends[-1]))
    settings = {"channels": channels, "set": root.name, "photos": [p.stem for p in photos], "tampering": repr(TAMPERING)}
    def report(split: int, result: dict) -> None:
        auc = {p: result["protocols"][p]["rows"][ALL]["auc"] for p in PROTOCOLS}
        print(f"split {split}: all channels AUC native {auc['native']:.3f}, 384 px {auc['384 px']:.3f}", flush=True)

    done = split_results(
        args.out, args.splits, {"settings": settings}, lambda split: run_split(split, records, cells, scales, truths, features, grid), report
    )
    summary = summarise(done)
    figures = {
        "settings": settings,
        "photos": {"folder": str(args.photos), "count": len(photos), "megapixels": {"min": min(megapixels), "max": max(megapixels), "mean": float(np.mean(megapixels))}},
        "images": {"all": len(records), "tampered": int(sum(r.target == 0.0 for r in records)), "by_kind": dict(Counter(r.extra.get("kind") for r in records))},
        "protocol": {
            "split": "random_split(FORGERY_SPLIT) by photo family, seeds 0 .. splits - 1",
            "384 px": f"decoded, PatchGrid.fit_image to {model.max_size} (the shipped forgery model's), JPEG at the image's final quality",
            "read-out": "logistic regression (standardised, balanced) on the cells pooled per image (mean, max, min per feature), fitted on train; threshold of best balanced accuracy on val",
            "maps": f"cell maps drawn on a frame of the native image ({FRAME} px per value), truth: blocks half covered by the mask; threshold of best mean F1 on the val images of the map's kind",
            "acceptance": "native mean minus 384-px mean above the larger of their sample sds over splits",
        },  # fmt: skip
        "splits": len(done),
        "wall_seconds": time.time() - started,
        **summary,
    }
    print(table(summary, len(done)))
    write_results(args.out.with_suffix(".json"), figures)


if __name__ == "__main__":
    main()
