"""Evaluation protocol: correlation metrics and grouped random splits.

IQA convention followed by the paper (section "No-reference image quality assessment"):
random 60/20/20 train/validation/test splits, repeated, disjoint by reference image (the
``group`` of a record), reporting the mean (and here also the spread) of SROCC, PLCC and
KROCC over splits. PLCC is computed on raw predictions (no logistic fitting).

Forgery classification (section "Image forgery classification"): splits of 2/3 train, 1/6
validation and 1/6 test, disjoint by source photo; the paper reports accuracy, and
:func:`classification_metrics` adds balanced accuracy, ROC AUC and F1, which stay honest
when the classes are unbalanced (CASIA-2 is 59% authentic), and the detection rate at 5%
false alarms that forgery benchmarks quote. Where tampered images carry masks,
:func:`localisation_metrics` scores the model's heat maps against them, pixel by pixel.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from scipy import stats

from hyperimage.data.datasets.layout import Layout
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.io import ImageError
from hyperimage.evaluation.localisation import best_threshold, centre_map, threshold_f1, truth_mask
from hyperimage.inference.evidence import Evidence
from hyperimage.inference.evidence.model import ForensicModel, given_tampered
from hyperimage.inference.explain import heat_map
from hyperimage.inference.model import HyperImageModel, read_image
from hyperimage.inference.scoring import score_files
from hyperimage.storage import SPLITS_FILE  # noqa: F401  (the model folder's splits file, named here for its readers)


def correlations(pred: Sequence[float], target: Sequence[float]) -> dict[str, float]:
    """SROCC, PLCC and KROCC between predictions and targets (NaN for constant inputs)."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"predictions {p.shape} and targets {t.shape} must be 1-D and equal in length")
    if len(p) < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return {"srocc": float("nan"), "plcc": float("nan"), "krocc": float("nan")}
    return {
        "srocc": float(stats.spearmanr(p, t).statistic),
        "plcc": float(stats.pearsonr(p, t).statistic),
        "krocc": float(stats.kendalltau(p, t).statistic),
    }


#: Train / validation / test shares of the paper's IQA and forgery protocols.
IQA_SPLIT = (0.6, 0.2, 0.2)
#: The community protocol of the in-the-wild IQA sets (LIVE-C, KonIQ-10k): random 80/20
#: train/test splits by image, the validation set for early stopping carved from the training
#: 80% (one eighth of it).
REAL_IQA_SPLIT = (0.7, 0.1, 0.2)
FORGERY_SPLIT = (2 / 3, 1 / 6, 1 / 6)
#: The share of authentic images a detector may flag at which :func:`classification_metrics`
#: reports its detection rate (key ``detection_at_5pc``).
FALSE_ALARMS = 0.05


def detection_rate(scores: np.ndarray, authentic: np.ndarray, false_alarms: float = FALSE_ALARMS) -> float:
    """The share of class-0 (tampered) ``scores`` below the ``false_alarms`` quantile of the
    class-1 (``authentic``) ones (numpy's linear quantile): what a detector finds when its
    threshold is set to flag that share of authentic images, whatever its scores' scale;
    NaN unless both classes are present."""
    if authentic.all() or not authentic.any():
        return float("nan")
    return float(np.mean(scores[~authentic] < np.quantile(scores[authentic], false_alarms)))


def classification_metrics(scores: Sequence[float], labels: Sequence[float], threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, balanced accuracy, ROC AUC and F1 of a binary classifier (scikit-learn), and
    its detection rate at 5% false alarms (:func:`detection_rate`, key ``detection_at_5pc``).

    ``scores`` grow with class 1 (for forgery: authentic) and an image is called class 1
    above ``threshold`` (0.5 for probabilities, 0 for an SVM's decision value). F1 is that of
    class 0, the one a detector looks for (tampered); AUC and the detection rate are NaN if
    ``labels`` hold one class.
    """
    from sklearn import metrics

    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64) > 0.5
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores {s.shape} and labels {y.shape} must be 1-D and equal in length")
    called = s > threshold
    return {
        "accuracy": float(metrics.accuracy_score(y, called)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y, called)) if len(np.unique(y)) == 2 else float("nan"),
        "auc": float(metrics.roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan"),
        "f1": float(metrics.f1_score(~y, ~called, zero_division=0.0)),
        "detection_at_5pc": detection_rate(s, y),
    }


def chance_auc_spread(positives: int, negatives: int) -> float:
    """The standard deviation of the ROC AUC of scores that know nothing of the labels, on a
    test set of ``positives`` and ``negatives``: how far from 0.5 the draw of the test images
    alone moves an uninformative score. The Mann-Whitney null, ``sqrt((n1 + n0 + 1) / (12 n1
    n0))``, for untied scores; ties (a lookup that gives many images one value) only narrow it,
    so a bound made of it errs towards calling an AUC chance."""
    if positives < 1 or negatives < 1:
        raise ValueError(f"an AUC needs both classes, got {positives} positive and {negatives} negative")
    return float(np.sqrt((positives + negatives + 1) / (12.0 * positives * negatives)))


#: The metrics and the default split (train, val, test fractions) of each task
#: (:mod:`hyperimage.inference.tasks`): correlations for a score, classification figures and
#: the paper's forgery split for a class.
METRICS = {"regression": correlations, "classification": classification_metrics}
SPLITS = {"regression": IQA_SPLIT, "classification": FORGERY_SPLIT}


def split_for(layout: Layout, task: str = "regression") -> tuple[float, float, float]:
    """The split protocol of a data set: :data:`REAL_IQA_SPLIT` for photos with authentic
    distortions (:attr:`Layout.in_the_wild <hyperimage.data.datasets.layout.Layout.in_the_wild>`),
    else the ``task``'s default (:data:`SPLITS`)."""
    return REAL_IQA_SPLIT if layout.in_the_wild else SPLITS[task]


def evaluate_records(model: HyperImageModel, records: Sequence[ImageRecord], batch_size: int = 16) -> dict:
    """Metrics of a model on records; unreadable images are listed, not scored.

    SROCC / PLCC / KROCC for a regression model; accuracy, balanced accuracy, ROC AUC and F1
    (:func:`classification_metrics`) for a classifier.
    """
    preds = list(score_files(model, [r.path for r in records], batch_size))
    pairs = [(p.score, r.target) for p, r in zip(preds, records) if p.score is not None]
    metrics = METRICS[model.config.task]([p for p, _ in pairs], [t for _, t in pairs]) if len(pairs) > 1 else {}
    return {
        **metrics,
        "n": len(pairs),
        "errors": [p.error for p in preds if p.error is not None],
        "higher_is_better": model.config.score.higher_is_better,
    }


def tampered_with_masks(records: Iterable[ImageRecord]) -> list[ImageRecord]:
    """The tampered records (label 0) that carry a mask: those a heat map can be scored on."""
    return [r for r in records if r.mask is not None and r.target < 0.5]


def _heat_maps(
    model: HyperImageModel, records: Iterable[ImageRecord]
) -> tuple[dict[Path, tuple[np.ndarray, np.ndarray]], list[str]]:
    """``(heat map, true mask)`` on the map's frame by image path, one image at a time
    (:func:`~hyperimage.inference.explain.heat_map`: larger looks tampered, NaN outside the
    grid), and one line for each image or mask that could not be read (left out)."""
    found, errors = {}, []
    for record in records:
        try:
            x = read_image(record.path, model.config, model.grid)[None]
            truth = truth_mask(record, tuple(x.shape[2:]))
        except ImageError as err:
            errors.append(str(err))
            continue
        with torch.no_grad():
            found[record.path] = heat_map(model, x.to(model.device))[0, 0].cpu().numpy(), truth
    return found, errors


def localisation_metrics(
    model: HyperImageModel, val_records: Sequence[ImageRecord], test_records: Sequence[ImageRecord], split: str = "test"
) -> dict:
    """Pixel F1 and IoU of ``model``'s heat maps against the true masks of the tampered
    ``test_records`` that have one, beside the centred box's (:func:`pixel_figures`; the maps
    of :func:`~hyperimage.inference.explain.heat_map`)."""
    model.eval()
    val, test = tampered_with_masks(val_records), tampered_with_masks(test_records)
    read, errors = _heat_maps(model, {r.path: r for r in [*val, *test]}.values())  # an image of both read once
    return pixel_figures(read, val, test, errors, split)


def pixel_figures(
    read: dict[Path, tuple[np.ndarray, np.ndarray]], val: Sequence[ImageRecord], test: Sequence[ImageRecord],
    errors: list[str], split: str = "test",
) -> dict:
    """Pixel F1 and IoU of the maps ``read`` (``(map, true mask)`` by image path, larger looks
    tampered) of the ``test`` records, beside the centred box's.

    The one definition of :mod:`~hyperimage.evaluation.localisation`: each map is flagged
    above one threshold, chosen by :func:`~hyperimage.evaluation.localisation.best_threshold`
    on the ``val`` records' maps (so no test image tunes it), then
    :func:`~hyperimage.evaluation.localisation.threshold_f1`; the centred box
    (:func:`~hyperimage.evaluation.localisation.centre_map`) gets its own threshold the same
    way, so a reader sees what a map that knows nothing of the image scores. Where no
    validation map was read, the threshold is chosen on the test images themselves and
    ``threshold_from`` says so (``split``, the name of the test records' split, instead of
    ``"val"``). Returns ``f1``, ``iou``, ``threshold``, ``threshold_from``, ``images`` (test
    images scored), ``centred_box`` (its ``f1`` and ``iou``) and ``errors`` (one line per image
    or mask that could not be read; NaN figures if no test image could).
    """

    def maps_and_masks(records: Sequence[ImageRecord]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        kept = [read[r.path] for r in records if r.path in read]
        return [m for m, _ in kept], [t for _, t in kept]

    maps, masks = maps_and_masks(test)
    val_maps, val_masks = maps_and_masks(val)
    source = "val" if val_maps else split
    if not val_maps:
        val_maps, val_masks = maps, masks
    found = {"threshold_from": source, "images": len(maps), "errors": errors}
    if not maps:
        nan = float("nan")
        return {"f1": nan, "iou": nan, "threshold": nan, "centred_box": {"f1": nan, "iou": nan}, **found}
    threshold = best_threshold(val_maps, val_masks)
    centre = best_threshold([centre_map(t.shape) for t in val_masks], val_masks)
    return {
        **threshold_f1(maps, masks, threshold),
        "threshold": threshold,
        "centred_box": threshold_f1([centre_map(t.shape) for t in masks], masks, centre),
        **found,
    }


def evaluate_forensic(
    model: ForensicModel, val_records: Sequence[ImageRecord], test_records: Sequence[ImageRecord], split: str = "test"
) -> dict:
    """The figures of a forensic evidence model on ``test_records``, each image read once (its
    channels at its own size, as stored): :func:`classification_metrics` at the model's own
    threshold and, where tampered images carry masks, ``pixel`` (:func:`pixel_figures` of its
    map, each cell's probability of being tampered drawn at the image's size) and
    ``pixel_given_tampered`` (the same of its map given that the image is tampered,
    :func:`~hyperimage.inference.evidence.model.given_tampered`, what ``explain`` draws as
    "where, if tampered"), thresholds chosen on the tampered ``val_records`` with masks.
    Unreadable images are listed in ``errors``, not scored."""
    val, test = tampered_with_masks(val_records), tampered_with_masks(test_records)
    wanted = {r.path: r for r in [*test_records, *val]}
    read, errors = {}, []
    for record in wanted.values():
        try:
            evidence = Evidence.read(record.path)
            truth = truth_mask(record, evidence.size) if record.mask is not None and record.target < 0.5 else None
        except ImageError as err:
            errors.append(str(err))
            continue
        (score,), (cells,) = model.predict([model.hyper_image(evidence)])
        read[record.path] = float(score), cells, truth
    pairs = [(read[r.path][0], r.target) for r in test_records if r.path in read]
    metrics = classification_metrics([p for p, _ in pairs], [t for _, t in pairs], model.threshold) if len(pairs) > 1 else {}
    result = {**metrics, "n": len(pairs), "errors": errors, "higher_is_better": True}
    if test:
        for key, draw in (("pixel", lambda score, cells: cells), ("pixel_given_tampered", given_tampered)):
            maps = {path: (model.grid.interpolate(draw(score, cells), *truth.shape), truth)
                    for path, (score, cells, truth) in read.items() if truth is not None}
            figures = pixel_figures(maps, val, test, [], split)
            figures.pop("errors")  # each image was read once, its errors are the result's
            result[key] = figures
    return result


def random_split(
    records: Sequence[ImageRecord], seed: int, fractions: tuple[float, float, float] = IQA_SPLIT
) -> list[ImageRecord]:
    """Assign ``train`` / ``val`` / ``test`` by shuffling groups (so a group stays together).

    The fractions apply to the number of groups (e.g. reference images, as in IQA).
    Records that already carry a split keep it.
    """
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    keys = sorted({r.group_key for r in records if r.split is None})
    order = np.random.default_rng(seed).permutation(len(keys))
    n_train = int(round(fractions[0] * len(keys)))
    n_val = int(round(fractions[1] * len(keys)))
    names = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * (len(keys) - n_train - n_val))
    assign = {keys[i]: str(names[rank]) for rank, i in enumerate(order)}
    return [r if r.split is not None else replace(r, split=assign[r.group_key]) for r in records]




def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def save_splits(path: str | Path, records: Sequence[ImageRecord], root: str | Path) -> None:
    """Write the split of each record (``image,split`` rows, paths relative to ``root``) to a CSV.

    A model folder keeps the split it was trained with, so that it can be evaluated on the
    same test images later (:func:`apply_saved_splits`).
    """
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "split"])
        writer.writerows((_relative(r.path, Path(root)), r.split) for r in records)


def apply_saved_splits(records: Sequence[ImageRecord], path: str | Path, root: str | Path) -> list[ImageRecord]:
    """``records`` of the data set in ``root``, those without a split given the one saved in ``path``."""
    with open(path, newline="") as f:
        known = {row["image"]: row["split"] for row in csv.DictReader(f)}
    return [r if r.split is not None else replace(r, split=known.get(_relative(r.path, Path(root)))) for r in records]


def summarise(runs: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation and median of each metric over runs (splits); the in-the-wild
    IQA protocol reports the median of 10 splits."""
    keys = runs[0].keys() if runs else []
    out = {}
    for k in keys:
        values = np.array([r[k] for r in runs], dtype=np.float64)
        with warnings.catch_warnings():  # a metric that is NaN on every split stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            out[k] = {
                "mean": float(np.nanmean(values)),
                "std": float(np.nanstd(values)),
                "median": float(np.nanmedian(values)),
                "n": int(len(values)),
            }
    return out
