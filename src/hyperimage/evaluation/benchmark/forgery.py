"""Table 3: image forgery classification, the two-stage model against the paper's baselines.

Rows, all trained and tested on the same splits:

* ``dct-markov-svm``: block-DCT Markov transition features + linear SVM (Sutthiwan et al.
  2011 style, :mod:`hyperimage.evaluation.baselines.dct_markov`), C chosen on the validation set;
* ``jpeg-tables``: not a model of the image but of its file: P(authentic) looked up by the
  file's JPEG quantisation tables (:mod:`hyperimage.evaluation.baselines.jpeg_tables`); how
  far a data set's labels can be read from how its files were saved, which any row that sees
  the compression may exploit too;
* ``end-to-end``: the "Forgery end-to-end CNN" of Table 4 on whole 256x384 images
  (:mod:`hyperimage.evaluation.baselines.end_to_end`);
* ``end-to-end + residual``: the same CNN behind the noise-residual front end that the
  ``forgery`` preset's stage 1 has (not in the paper: it tells a gain of the two-stage model
  from a gain of the front end);
* ``patch-average``: the two-stage model's stage 1, its patch authenticity scores averaged
  over the grid and calibrated by a logistic fit on the training images;
* ``two-stage``: the ``forgery`` preset: Siamese ranker on contour patch pairs, then
  "Forgery stage 2" on the 15x15x500 hyper-image (a variant may name another forgery
  preset, e.g. ``forgery-fast``, the unpadded stage 1 with the fast path, or
  ``forgery-imagenet``, a frozen ImageNet trunk).

Data: a CASIA v2 folder or a folder data set, or by default a tampering benchmark generated
from real photographs (:mod:`hyperimage.data.generators.tampering`: splicing, copy-move and
inpainting removal, every image re-saved alike, CASIA-2's class balance). A real data set's
files may tell the classes apart by how they were saved (CASIA v1's authentic and tampered
JPEGs carry different quantisation tables), so :func:`run_protocols` measures it under two
protocols on the same splits: leading, a copy with every JPEG saved again alike
(:func:`hyperimage.data.resave.resave`), and beside it the files as published; where the
``jpeg-tables`` row is not at chance on the leading one (:func:`save_history`) it says so. Splits: 2/3
train, 1/6 validation, 1/6 test by group (source photos), repeated; figures are means and
standard deviations over splits. Metrics: accuracy (the paper's), balanced accuracy, ROC
AUC and F1 of the tampered class.

Localisation (beyond the paper): on the tampered test images that have a mask, the two-stage
model's heat maps (per-patch stage-1 scores, and stage-2 gradient x input) flag the same
share of pixels as the mean tampered area of the training masks and are scored by pixel F1
and IoU (:mod:`hyperimage.evaluation.localisation`), beside two trivial maps measured in the same run:
a centred box of that share, and the whole image.

Stage 1 alone (a diagnosis, for the contour-pair rankers): on the test images' contour pairs, the share of pairs the
ranker orders right and the AUC of its single-patch scores
(:func:`hyperimage.training.phases.contour_pairs.contour_pair_metrics`), to tell a stage 1 that did not learn
from an image-level read-out that does not use it.

CPU budget: the convolutions of both CNNs are thinned (``conv_width``, 0.25 = 1/16 of Table
4's multiply-adds) and trained for few epochs; the paper's full widths are the ``forgery``
preset's default for ``hyperimage train``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from hyperimage import presets
from hyperimage.data import datasets
from hyperimage.data.datasets.records import ImageRecord, mask_count
from hyperimage.data.io import load_image
from hyperimage.distributed import SINGLE, World
from hyperimage.evaluation.baselines.dct_markov import DctMarkovSVM, dct_markov_features
from hyperimage.evaluation.baselines.end_to_end import EndToEndCNN
from hyperimage.evaluation.baselines.jpeg_tables import JpegTableLookup
from hyperimage.evaluation.localisation import centre_mask, flag_top, mask_scores, truth_mask
from hyperimage.evaluation.protocol import (
    FORGERY_SPLIT, SPLITS_FILE, chance_auc_spread, classification_metrics, random_split, save_splits, summarise,
)
from hyperimage.inference.explain import evidence, to_pixels
from hyperimage.inference import networks
from hyperimage.inference.model import HyperImageModel, read_image
from hyperimage.inference.ranking import SiameseRanker
from hyperimage.evaluation.benchmark import Variant, budget_record, row_name, stamp_run
from hyperimage.training import Recipe, TrainConfig, patch_average_of, recipe, train
from hyperimage.training.phases.contour_pairs import contour_pair_metrics

#: Table 3 of the paper: accuracy (%) on CASIA-2.
PAPER = {"end-to-end": 75.22, "dct-markov-svm": 79.20, "two-stage": 83.11}
ROWS = ("dct-markov-svm", "jpeg-tables", "end-to-end", "end-to-end + residual", "patch-average", "two-stage")
MAPS = ("two-stage (patch)", "two-stage (gradient)", "centre box", "whole image")
#: The rows and maps that the model's training makes (once per variant).
TRAINED, TRAINED_MAPS = ("patch-average", "two-stage"), ("two-stage (patch)", "two-stage (gradient)")
#: The row that reads nothing but how the files were saved (their JPEG quantisation tables).
HEADER_ROW = "jpeg-tables"
#: Two-sided 95% normal quantile: :func:`save_history` calls an AUC at chance within this many
#: null standard deviations of 0.5.
CHANCE_Z = 1.96


@dataclass
class Budget:
    """Data, splits and CPU training budget of one run."""

    splits: int
    n_images: int
    conv_width: float = 0.25
    recipe: Recipe = field(default_factory=Recipe)
    end_to_end: TrainConfig = field(default_factory=TrainConfig)
    variants: tuple[Variant, ...] = ()
    """Train the patch-average and two-stage rows once per variant (e.g. with and without
    Hide-and-Seek) instead of once with ``recipe``; the maps and stage-1 figures follow."""


FULL = Budget(
    splits=3, n_images=600, recipe=recipe.get("forgery-full"), end_to_end=TrainConfig(epochs=25, patience=8, batch_size=16)
)
QUICK = Budget(
    splits=1, n_images=300, recipe=recipe.get("forgery-quick"), end_to_end=TrainConfig(epochs=12, patience=8, batch_size=16)
)


def build_tampering_benchmark(
    folder: Path, n_images: int, seed: int = 0, sources: tuple[str, ...] = ("pypi",)
) -> Path:
    """Write (once) the tampering benchmark of ``n_images`` from the photos of ``sources`` into ``folder``.

    The colour photos of :func:`hyperimage.photo_packages.gather_photos` (gray ones are left out: a
    gray splice in a colour photo would be trivial) are cut into 256x384 crops by
    :func:`hyperimage.data.generators.tampering.make_tampering_dataset`. The PyPI photos give 7
    families of two photos (so one test family per split); adding ``"debian"`` gives 54.
    """
    from hyperimage.data.generators.tampering import colour_photos, make_tampering_dataset
    from hyperimage.photo_packages import gather_photos

    name = "-".join(sources)
    data = folder / f"forgery-{name}-n{n_images}-seed{seed}"
    if (data / "labels.csv").is_file():
        return data
    source = folder / f"photos-{name}"
    if not (source / "manifest.json").is_file():
        gather_photos(source, sources=sources)
    make_tampering_dataset(colour_photos(source)[0], data, n_images, seed)
    return data


def _forgery_model_config(conv_width: float, preset: str | None = None):
    config = presets.get(preset or "forgery")
    if networks.accepts(config.stage1, "conv_width"):  # a pre-trained trunk keeps its own width
        config.stage1_args["conv_width"] = conv_width
    return config


def test_outputs(
    model: HyperImageModel, baseline: HyperImageModel, records: list[ImageRecord], fraction: float
) -> tuple[np.ndarray, np.ndarray, dict[str, list[dict]]]:
    """Scores of ``model`` and of its patch-averaging ``baseline`` (which shares its stage 1)
    on ``records``, and the localisation scores of the maps on the tampered ones with a mask.

    Each image's hyper-image is computed once and serves both scores and both heat maps.
    """
    scores, base_scores = [], []
    maps: dict[str, list[dict]] = {name: [] for name in MAPS}
    for record in records:
        x = read_image(record.path, model.config, model.grid)[None]
        with torch.no_grad():
            hyper = model.hyper_image(x.to(model.device))
            scores.append(float(model.clip(model.aggregate(hyper))[0]))
            base_scores.append(float(baseline.clip(baseline.aggregate(hyper))[0]))
        if record.target != 0.0 or record.mask is None:
            continue
        truth = truth_mask(record, tuple(x.shape[2:]))
        for name, readout in (("two-stage (patch)", "patch"), ("two-stage (gradient)", "gradient")):
            heat = to_pixels(model, evidence(model, hyper, readout).cpu(), x.shape[2], x.shape[3])[0, 0].numpy()
            maps[name].append(mask_scores(flag_top(heat, fraction), truth))
        maps["centre box"].append(mask_scores(centre_mask(truth.shape, fraction), truth))
        maps["whole image"].append(mask_scores(np.ones_like(truth), truth))
    return np.array(scores), np.array(base_scores), maps


def _mean_area(records: list[ImageRecord]) -> float:
    areas = [float((load_image(r.mask, mode="L") > 0.5).mean()) for r in records]
    return float(np.mean(areas)) if areas else 0.1


def run(
    data: Path,
    budget: Budget = FULL,
    seed: int = 0,
    log: Callable[[str], None] = print,
    progress: bool = False,
    save_model: Path | None = None,
    half: bool = False,
    world: World = SINGLE,
) -> dict:
    """Train the five rows on ``budget.splits`` splits of ``data``; metrics and localisation.

    With ``save_model`` the two-stage model of the first split is saved there with its split
    (this is how the package's default forgery model is made), as float16 with ``half``.
    """
    started = time.time()
    records = datasets.load(data)
    masked, tampered = mask_count(records)
    log(f"{len(records)} images, {tampered} tampered, {masked} of them with a mask")
    features = {r.path: dct_markov_features(load_image(r.path, mode="RGB")) for r in records}
    variants = budget.variants or (Variant("", budget.recipe),)
    stamped = stamp_run(variants, bool(budget.variants), "forgery")  # the code as the run starts
    trained = [row_name(r, v) for v in variants for r in TRAINED]
    rows = [r for r in ROWS if r not in TRAINED] + trained
    runs: dict[str, list[dict]] = {row: [] for row in rows}
    maps: dict[str, list[dict]] = {row_name(name, v) if name in TRAINED_MAPS else name: [] for v in variants for name in MAPS}
    stage1: dict[str, list[dict]] = {v.name: [] for v in variants}
    counts: list[dict[str, int]] = []
    for split in range(budget.splits):
        t0 = time.time()
        recs = random_split(records, seed=seed * 1000 + split, fractions=FORGERY_SPLIT)
        part = {name: [r for r in recs if r.split == name] for name in ("train", "val", "test")}
        labels = {name: np.array([r.target for r in rs]) for name, rs in part.items()}
        test_paths = [r.path for r in part["test"]]
        counts.append({"authentic": int((labels["test"] > 0.5).sum()), "tampered": int((labels["test"] <= 0.5).sum())})

        stacked = {name: np.stack([features[r.path] for r in rs]) for name, rs in part.items()}
        svm = DctMarkovSVM().fit(stacked["train"], labels["train"], stacked["val"], labels["val"])
        lookup = JpegTableLookup().fit([r.path for r in part["train"]], labels["train"])
        scores = {"dct-markov-svm": (svm.decision_function(stacked["test"]), 0.0), "jpeg-tables": (lookup.predict_proba(test_paths), 0.5)}

        for row, residual in (("end-to-end", False), ("end-to-end + residual", True)):
            cnn = EndToEndCNN(conv_width=budget.conv_width, seed=seed + split, residual=residual)
            cnn.fit([(r.path, r.target) for r in part["train"]], [(r.path, r.target) for r in part["val"]], budget.end_to_end, progress)
            scores[row] = (cnn.predict_proba(test_paths), 0.5)

        fraction = _mean_area([r for r in part["train"] if r.mask is not None])
        for k, variant in enumerate(variants):
            model, result = train(recs, _forgery_model_config(budget.conv_width, variant.preset), variant.recipe, seed=seed + split, progress=progress, world=world)
            if save_model is not None and split == 0 and k == 0:
                # with its splits, so that `hyperimage evaluate` tests on the same images
                model.save(save_model, half=half, extras=lambda tmp: save_splits(tmp / SPLITS_FILE, recs, data))
            two_stage, average, located = test_outputs(model, patch_average_of(model, result), part["test"], fraction)
            scores[row_name("patch-average", variant)] = (average, 0.5)
            scores[row_name("two-stage", variant)] = (two_stage, 0.5)
            if isinstance(model.stage1, SiameseRanker):
                try:
                    stage1[variant.name].append(contour_pair_metrics(model, part["test"], seed=seed + split))
                except ValueError:  # no tampered test image with a mask and its authentic source
                    pass
            for name, values in located.items():
                name = row_name(name, variant) if name in TRAINED_MAPS else name
                if values and (k == 0 or name not in MAPS):  # the trivial maps once
                    maps[name].append({m: float(np.mean([v[m] for v in values])) for m in ("f1", "iou")})

        for row, (s, threshold) in scores.items():
            runs[row].append(classification_metrics(s, labels["test"], threshold))
        log(
            f"split {split + 1}/{budget.splits} ({time.time() - t0:.0f} s): "
            + ", ".join(f"{row} acc {runs[row][-1]['accuracy']:.4f}" for row in rows)
        )
    return {
        "data": str(data),
        "images": {"all": len(records), "tampered": tampered, "tampered_with_mask": masked},
        "budget": budget_record(budget),
        "seed": seed,
        "splits": runs,
        "test_counts": counts,
        "localisation": maps,
        "summary": {row: summarise(r) for row, r in runs.items()},
        "localisation_summary": {name: summarise(v) for name, v in maps.items() if v},
        "stage1_test_pairs": stage1 if budget.variants else stage1[""],
        "stage1_summary": {name: summarise(v) for name, v in stage1.items()} if budget.variants else summarise(stage1[""]),
        "wall_seconds": time.time() - started,
        "provenance": stamped,
    }


def table(results: dict) -> str:
    """Table 3 as text: ours (mean +- std over splits) beside the paper's CASIA-2 accuracy."""
    metrics = ("accuracy", "balanced_accuracy", "auc", "f1")
    lines = [f"Table 3 rows on {results['data']} ({results['budget']['splits']} split(s), mean +- std)", ""]
    width = max(24, *(len(row) + 2 for row in results["summary"]))
    lines.append(f"{'row':<{width}}" + "".join(f"{m:>19}" for m in metrics) + "   paper accuracy (CASIA-2)")
    for row, s in results["summary"].items():
        cells = "".join(f"{s[m]['mean']:>12.4f} +-{s[m]['std']:.3f}" for m in metrics)
        paper = PAPER.get(row)
        lines.append(f"{row:<{width}}{cells}   {'' if paper is None else f'{paper / 100:.4f}'}")
    if results["localisation_summary"]:
        lines += ["", "localisation on tampered test images (pixel F1 / IoU, same share of pixels flagged)"]
        width = max(22, *(len(name) + 2 for name in results["localisation_summary"]))
        for name, s in results["localisation_summary"].items():
            lines.append(f"{name:<{width}}F1 {s['f1']['mean']:.4f} +-{s['f1']['std']:.3f}   IoU {s['iou']['mean']:.4f} +-{s['iou']['std']:.3f}")
    s1 = results["stage1_summary"]
    for name, s1 in (s1.items() if s1 and "pair_accuracy" not in s1 else [("", s1)]):
        if s1:
            lines += [
                "",
                f"stage 1{f' [{name}]' if name else ''} alone on the test images' contour pairs: "
                f"pair accuracy {s1['pair_accuracy']['mean']:.4f} +-{s1['pair_accuracy']['std']:.3f}, "
                f"single-patch AUC {s1['patch_auc']['mean']:.4f} +-{s1['patch_auc']['std']:.3f}",
            ]
    lines += ["", f"wall time {results['wall_seconds'] / 60:.1f} min"]
    return "\n".join(lines)


def save_history(results: dict, row: str = HEADER_ROW, z: float = CHANCE_Z) -> dict:
    """Whether the files of one run (:func:`run`) still tell the classes apart by how they were
    saved: ``row``'s test ROC AUC, the mean over the splits, against chance.

    The bound is ``z`` null standard deviations of one split's AUC
    (:func:`~hyperimage.evaluation.protocol.chance_auc_spread` of its test classes, the root
    mean square over the splits): not narrowed by the number of splits, whose test sets are
    drawn from the same images, so the mean is not known to be tighter than one split. Splits
    whose test set holds one class have no AUC and are left out; with none left ``at_chance``
    is None. Returns ``{"row", "auc", "bound", "at_chance"}``."""
    if z <= 0:
        raise ValueError(f"z must be positive, got {z}")
    if row not in results["splits"]:
        raise ValueError(f"no row {row!r} in the results; rows: {', '.join(results['splits'])}")
    kept = [
        (split["auc"], chance_auc_spread(c["authentic"], c["tampered"]))
        for split, c in zip(results["splits"][row], results["test_counts"], strict=True)
        if c["authentic"] and c["tampered"]
    ]
    if not kept:
        return {"row": row, "auc": float("nan"), "bound": float("nan"), "at_chance": None}
    auc = float(np.mean([a for a, _ in kept]))
    bound = z * float(np.sqrt(np.mean([s**2 for _, s in kept])))
    return {"row": row, "auc": auc, "bound": bound, "at_chance": bool(abs(auc - 0.5) <= bound)}


def save_history_line(check: dict, protocol: str, leading: bool) -> str:
    """One line on a :func:`save_history` check of ``protocol``: a warning where the leading
    protocol is not at chance, for then every row may be reading the save history too."""
    row, auc, bound = check["row"], check["auc"], check["bound"]
    if check["at_chance"] is None:
        return f"{row} on {protocol}: no test split holds both classes, so no AUC to check"
    if check["at_chance"]:
        return f"{row} on {protocol}: AUC {auc:.3f}, at chance (within 0.5 +- {bound:.3f})"
    line = f"{row} on {protocol}: AUC {auc:.3f}, beyond chance (0.5 +- {bound:.3f})"
    if not leading:
        return line
    return (
        f"WARNING: {line}: the files' save history still separates the classes on the leading protocol, "
        "so any row that sees the compression may be reading it instead of the tampering"
    )


def run_protocols(
    protocols: Sequence[tuple[str, Path]],
    budget: Budget = FULL,
    seed: int = 0,
    log: Callable[[str], None] = print,
    progress: bool = False,
    save_model: Path | None = None,
    half: bool = False,
    world: World = SINGLE,
) -> dict:
    """:func:`run` on each of ``protocols``, ``(name, folder)`` pairs holding the same images
    saved in different ways (same layout, so the same splits), the first one leading; then the
    :func:`save_history` check of each, with a warning to ``log`` where the leading one fails.

    ``save_model`` saves the leading protocol's model. Returns ``{"leading", "protocols":
    {name: run}, "save_history": {name: check}, "warning", "provenance"}``: the warning line or
    None, and the leading run's provenance (the code as the whole run started) at the top."""
    if not protocols:
        raise ValueError("no protocol to run")
    names = [name for name, _ in protocols]
    if len(set(names)) != len(names):
        raise ValueError(f"each protocol needs its own name, got {names}")
    runs: dict[str, dict] = {}
    for k, (name, folder) in enumerate(protocols):
        log(f"protocol {k + 1}/{len(protocols)}{' (leading)' if k == 0 else ''}: {name}, {folder}")
        runs[name] = run(
            folder, budget, seed=seed, log=log, progress=progress, save_model=save_model if k == 0 else None, half=half, world=world
        )
    checks = {name: save_history(results) for name, results in runs.items()}
    line = save_history_line(checks[names[0]], names[0], leading=True)
    warning = line if line.startswith("WARNING") else None
    if warning:
        log(warning)
    return {
        "leading": names[0],
        "protocols": runs,
        "save_history": checks,
        "warning": warning,
        "provenance": runs[names[0]]["provenance"],
    }


def protocols_table(results: dict) -> str:
    """A :func:`run_protocols` run as text: Table 3 of each protocol, the leading one first,
    then every row's ROC AUC side by side and the save-history check of each protocol."""
    names = list(results["protocols"])
    lines = []
    for k, name in enumerate(names):
        lines += [f"== {'leading protocol' if k == 0 else 'beside it'}: {name} ==", table(results["protocols"][name]), ""]
    heads = [f"{name}{' (leading)' if k == 0 else ''}" for k, name in enumerate(names)]
    rows = list(results["protocols"][names[0]]["summary"])
    width = max(24, *(len(row) + 2 for row in rows))
    lines.append("ROC AUC by protocol (mean +- std over splits)")
    lines.append(f"{'row':<{width}}" + "".join(f"{h:>{max(len(h), 16) + 3}}" for h in heads))
    for row in rows:
        cells = []
        for name, head in zip(names, heads):
            s = results["protocols"][name]["summary"].get(row)
            cell = "" if s is None else f"{s['auc']['mean']:.4f} +-{s['auc']['std']:.3f}"
            cells.append(f"{cell:>{max(len(head), 16) + 3}}")
        lines.append(f"{row:<{width}}" + "".join(cells))
    lines.append("")
    lines += [save_history_line(results["save_history"][name], name, leading=k == 0) for k, name in enumerate(names)]
    return "\n".join(lines)
