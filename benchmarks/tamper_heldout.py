"""Forgeries no model saw, made by code no training ran: the leave-one-implementation-out check.

**Test sets**, one per kind of tampering (splicing, copy-move, removal), each forgery with its
authentic twin (the same crop through the same saves): made on the fly
(:class:`~hyperimage.data.generators.tamper_stream.TamperStream`) from the *held-out* photo pool
(:mod:`hyperimage.data.photo_pools`: the PyPI photos and the Debian photos of at least 4 MP) with
only the implementations of ``HELD_OUT_IMPLEMENTATIONS`` (Poisson blending, Navier-Stokes
inpainting, OpenCV's JPEG encoder), which the ``forgery-tamper-loo-quick`` stage 1 never trained on.

**Training and validation sets** of the read-outs and of stage 2: forgeries of the *training*
pool made with the other implementations (a stream of another seed than the stage 1's).

Rows: each evidence channel alone (a logistic regression on its cells pooled per image), and
stage 2 over every channel (``noise``, ``jpeg``, ``copy-move``, ``learned``), once per stage 1
that ``learned`` reads (``--model LABEL=DIR``, e.g. the stage 1 learned from tampering made on
the fly against the one learned from CASIA v1's contour pairs). Per kind: image ROC AUC,
accuracy at the validation threshold, detection at 5% false alarms, and pixel F1 / IoU of the
stage-2 map on the tampered images (its threshold chosen on the validation images), with the
centred box measured the same way. The sets are written once under ``--work`` (JPEG / PNG files
as saved, and masks), the channels' cells cached beside them::

    hyperimage train data/casia1-resaved/q75 --preset forgery-fast --method patch-average \\
        --recipe forgery-tamper-loo-quick --seed 0 --out runs/stage1-tamper/loo
    python benchmarks/tamper_heldout.py --model synthetic=runs/stage1-tamper/loo \\
        --model casia=runs/stage1-q75/split0 --json results/tamper-heldout.json
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _evidence import channel_cells, image_figures, pooled, pooled_readout
from _results import write_results
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.generators.tamper_stream import StreamConfig, TamperStream
from hyperimage.data.generators.tampering import KINDS, TamperConfig
from hyperimage.data.io import load_image
from hyperimage.data.photo_pools import NATIVE_PHOTOS, load_pool
from hyperimage.evaluation.localisation import best_threshold, centre_map, threshold_f1
from hyperimage.inference.evidence import CHANNELS, CellGrid
from hyperimage.inference.evidence.model import predict
from hyperimage.training.evidence_stage2 import EvidenceItem, mask_cells, train_evidence_stage2
from hyperimage.training.recipe import HELD_OUT_IMPLEMENTATIONS

#: The channels under stage 2; ``learned`` reads each ``--model`` in turn.
CHANNEL_NAMES = ("noise", "jpeg", "copy-move", "learned")


def write_set(stream: TamperStream, first: int, count: int, folder: Path) -> list[ImageRecord]:
    """Forgeries ``first .. first + count - 1`` of ``stream`` and their authentic twins as files in
    ``folder`` (``labels.csv`` records what was written, so a second call reads it back: name the
    folder after the count)."""
    index = folder / "labels.csv"
    if not index.is_file():
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "masks").mkdir(exist_ok=True)
        rows = []
        for i, forgery in zip(range(first, first + count), stream.draw(first, count)):
            suffix = ".png" if forgery.info["final"] == "png" else ".jpg"
            mask = folder / "masks" / f"{i}.png"
            Image.fromarray(forgery.mask.astype(np.uint8) * 255).save(mask)
            for name, data, label in ((f"{i}-t", forgery.files[0], 0), (f"{i}-a", forgery.files[1], 1)):
                (folder / "images" / f"{name}{suffix}").write_bytes(data)
                rows.append([f"images/{name}{suffix}", label, f"masks/{i}.png" if label == 0 else "", forgery.info["kind"]])
        with open(index, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows([["image", "label", "mask", "kind"], *rows])
    with open(index, newline="") as f:
        return [
            ImageRecord(path=folder / r["image"], target=float(r["label"]), mask=folder / r["mask"] if r["mask"] else None,
                        distortion=r["kind"] if r["label"] == "0" else None)
            for r in csv.DictReader(f)
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="LABEL=DIR: a forgery-fast model whose stage 1 the learned channel reads")
    parser.add_argument("--held-out", type=Path, nargs="+", default=[Path("data/photos-pypi"), Path(NATIVE_PHOTOS)],
                        help="photo folders whose held-out pool the test forgeries come from")
    parser.add_argument("--training", type=Path, nargs="+", default=[Path(NATIVE_PHOTOS)],
                        help="photo folders whose training pool the read-outs' and stage 2's forgeries come from")
    parser.add_argument("--size", type=int, default=384, help="side of every image (pixels)")
    parser.add_argument("--train", type=int, default=200, help="training forgeries (each with its twin)")
    parser.add_argument("--val", type=int, default=40, help="validation forgeries")
    parser.add_argument("--test", type=int, default=40, help="test forgeries per kind")
    parser.add_argument("--cell", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=40, help="stage 2 epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("runs/tamper-heldout"))
    parser.add_argument("--json", type=Path, default=Path("results/tamper-heldout.json"))
    args = parser.parse_args()
    models = dict(m.split("=", 1) for m in args.model)
    started = time.time()

    training_photos, training_names = load_pool(args.training, "training")
    held_photos, held_names = load_pool(args.held_out, "held-out")
    print(f"{len(training_photos)} training photos, {len(held_photos)} held-out photos")
    trained_on = StreamConfig(size=args.size).without(*HELD_OUT_IMPLEMENTATIONS)
    source = TamperStream(training_photos, trained_on, seed=10_000 + args.seed, names=training_names)
    work = args.work / f"size{args.size}-seed{args.seed}"
    sets = {"train": write_set(source, 0, args.train, work / f"train-{args.train}"),
            "val": write_set(source, args.train, args.val, work / f"val-{args.val}")}
    held = {step: tuple(n for n in names if n in HELD_OUT_IMPLEMENTATIONS) for step, names in StreamConfig().implementations.items()}
    for k, kind in enumerate(KINDS):
        only = TamperConfig(kind_weights=tuple(float(i == k) for i in range(len(KINDS))))
        stream = TamperStream(held_photos, StreamConfig(size=args.size, tamper=only, implementations=held), seed=args.seed, names=held_names)
        sets[kind] = write_set(stream, 0, args.test, work / f"test-{kind}-{args.test}")
    print(f"sets written in {time.time() - started:.0f} s", flush=True)

    grid = CellGrid(args.cell)
    cache = work / f"cells{args.cell}"
    fixed = [c for c in CHANNEL_NAMES if c != "learned"]
    cells = {name: channel_cells(records, fixed, cache, work, grid) for name, records in sets.items()}
    masks = {name: {r.path: mask_cells(r, load_image(r.path, mode="L").shape, grid) if r.mask else (None, None) for r in records}
             for name, records in sets.items()}  # fmt: skip
    labels = {name: np.array([r.target for r in records]) for name, records in sets.items()}
    depth = {c: len(CHANNELS.get(c).features) for c in CHANNEL_NAMES}

    def hypers(name: str, learned: dict | None) -> list[np.ndarray]:
        return [np.concatenate([cells[name][r.path]] + ([learned[name][r.path]] if learned else [])) for r in sets[name]]

    def readout(name_hypers: dict, rows: slice) -> dict:
        features = {n: np.stack([pooled(h[rows]) for h in hs]) for n, hs in name_hypers.items()}
        return {kind: pooled_readout({"train": features["train"], "val": features["val"], "test": features[kind]},
                                     {"train": labels["train"], "val": labels["val"], "test": labels[kind]}, [kind] * len(labels[kind]))
                for kind in KINDS}

    results: dict = {"rows": {}, "sizes": {n: len(r) for n, r in sets.items()}}
    base = {n: hypers(n, None) for n in sets}
    offset = 0
    for c in fixed:
        results["rows"][f"{c} alone"] = readout(base, slice(offset, offset + depth[c]))
        offset += depth[c]
    val_tampered = [r for r in sets["val"] if r.target == 0]
    box = best_threshold([centre_map(masks["val"][r.path][0].shape) for r in val_tampered], [masks["val"][r.path][0] for r in val_tampered])
    results["centred_box_pixel"] = {
        kind: threshold_f1([centre_map(masks[kind][r.path][0].shape) for r in sets[kind] if r.target == 0],
                           [masks[kind][r.path][0] for r in sets[kind] if r.target == 0], box) for kind in KINDS}
    for label, folder in models.items():
        learned = {n: channel_cells(records, ["learned"], cache, work, grid, learned_model=Path(folder)) for n, records in sets.items()}
        full = {n: hypers(n, learned) for n in sets}
        results["rows"][f"learned ({label}) alone"] = readout(full, slice(offset, offset + depth["learned"]))
        items = {n: [EvidenceItem(h, r.target, masks[n][r.path][1]) for h, r in zip(full[n], sets[n])] for n in sets}
        net, norm = train_evidence_stage2(items["train"], items["val"], epochs=args.epochs, seed=args.seed)
        scored = {n: predict(net, norm, full[n]) for n in sets}

        def pixel(name: str) -> tuple[list, list]:
            keep = [(grid.interpolate(m, *masks[name][r.path][0].shape), masks[name][r.path][0])
                    for r, m in zip(sets[name], scored[name][1]) if r.target == 0]
            return [p for p, _ in keep], [t for _, t in keep]

        threshold = best_threshold(*pixel("val"))
        row = {}
        for kind in KINDS:
            figures = image_figures(scored[kind][0], labels[kind], [kind] * len(labels[kind]), scored["val"][0], labels["val"])
            row[kind] = {**figures, "pixel": threshold_f1(*pixel(kind), threshold)}
        results["rows"][f"stage 2, all channels (learned: {label})"] = row
        print(f"{label}: " + "; ".join(f"{k} AUC {row[k]['auc']:.3f}, pixel F1 {row[k]['pixel']['f1']:.3f}" for k in KINDS), flush=True)
    results["settings"] = {**{k: v for k, v in vars(args).items() if k not in ("json", "work", "model", "held_out", "training")},
                           "models": models, "held_out_implementations": list(HELD_OUT_IMPLEMENTATIONS),
                           "held_out_photos": len(held_photos), "training_photos": len(training_photos)}
    results["seconds"] = time.time() - started
    write_results(args.json, results)
    for name, row in results["rows"].items():
        print(f"{name:42s} " + "  ".join(f"{k} {row[k]['auc']:.3f}" for k in KINDS))


if __name__ == "__main__":
    main()
