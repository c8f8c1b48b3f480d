"""What the evidence benchmarks share: channel cells cached per image, their calibrated image
read-out (a logistic regression on the cells pooled per image), its figures, and their mean and
sd over splits (``evidence_casia.py``, ``forensic_fullsize.py``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from sklearn import metrics
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from _results import write_results
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.inference.evidence import CHANNELS, CellGrid, Evidence
from hyperimage.inference.evidence.learned import LearnedChannel
from hyperimage.storage import WEIGHTS
from hyperimage.training.evidence_stage2 import balanced_threshold

#: The parts of a split, in the order the read-outs use them.
PARTS = ("train", "val", "test")


def channel_cells(
    records: Sequence[ImageRecord],
    channels: Sequence[str],
    cache: Path,
    root: Path,
    grid: CellGrid,
    every: int = 200,
    learned_model: Path | None = None,
) -> dict[Path, np.ndarray]:
    """Every record's cells of every channel ``(D, U, V)``, each channel cached once per image
    under ``cache`` (``cache/CHANNEL/<path relative to root>.npy``), so that a rerun or a run
    cut short reads what was done; a progress line every ``every`` images.
    ``learned_model``: the forgery model folder whose stage 1 the ``learned`` channel reads
    (:class:`~hyperimage.inference.evidence.learned.LearnedChannel`; default the shipped one),
    cached as ``learned@<first 12 hex digits of its weights' SHA-256>``."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    unknown = [c for c in channels if c not in CHANNELS.available()]
    if unknown:
        raise ValueError(f"unknown evidence channel(s) {unknown}; known: {', '.join(CHANNELS.available())}")
    readers = {name: CHANNELS.get(name) for name in channels}
    folders = {name: name for name in channels}
    if learned_model is not None and "learned" in readers:
        readers["learned"] = LearnedChannel(learned_model)
        folders["learned"] = "learned@" + hashlib.sha256((learned_model / WEIGHTS).read_bytes()).hexdigest()[:12]
    out = {}
    for n, r in enumerate(records):
        parts = []
        evidence = None
        for name in channels:
            file = cache / folders[name] / r.path.resolve().relative_to(root.resolve()).with_suffix(".npy")
            if not file.is_file():
                evidence = evidence or Evidence.read(r.path)
                file.parent.mkdir(parents=True, exist_ok=True)
                np.save(file, readers[name](evidence, grid))
            parts.append(np.load(file))
        out[r.path] = np.concatenate(parts, axis=2).transpose(2, 0, 1)
        if (n + 1) % every == 0:
            print(f"  evidence of {n + 1}/{len(records)} images", flush=True)
    return out


def pooled(hyper: np.ndarray) -> np.ndarray:
    """A hyper-image ``(D, U, V)`` pooled per feature: mean, maximum, minimum."""
    flat = hyper.reshape(hyper.shape[0], -1)
    return np.concatenate([flat.mean(1), flat.max(1), flat.min(1)])


def image_figures(scores: np.ndarray, labels: np.ndarray, kinds: Sequence[str | None], val_scores: np.ndarray, val_labels: np.ndarray) -> dict:
    """AUC (all tampered, and each kind of tampering against all authentic images as
    ``auc_<kind>``), accuracy at the threshold of best balanced accuracy on the validation
    images, detection at 5% false alarms.

    Scores grow with "authentic" (label 1)."""
    best = balanced_threshold(val_scores, val_labels)
    tampered = labels <= 0.5
    flagged = scores < np.quantile(scores[~tampered], 0.05)  # 5% of authentic flagged
    figures = {
        "auc": float(metrics.roc_auc_score(~tampered, scores)),
        "accuracy": float(np.mean((scores >= best) == ~tampered)),
        "detection_at_5pc": float(flagged[tampered].mean()),
        "authentic_flagged_at_threshold": float((scores[~tampered] < best).mean()),
    }
    for kind in sorted({k for k, t in zip(kinds, tampered) if t and k}):
        keep = ~tampered | np.array([k == kind for k in kinds])
        figures[f"auc_{kind}"] = float(metrics.roc_auc_score(~tampered[keep], scores[keep]))
    return figures


def pooled_readout(features: dict[str, np.ndarray], labels: dict[str, np.ndarray], kinds: Sequence[str | None]) -> dict:
    """The calibrated read-out of pooled cells: a logistic regression (standardised, classes
    balanced) fitted on ``features["train"]`` ``(n, F)``, its :func:`image_figures` on the
    test images with the threshold of the validation images. ``kinds``: the test images' kinds."""
    missing = [p for p in PARTS if p not in features or p not in labels]
    if missing:
        raise ValueError(f"the read-out needs features and labels of {', '.join(PARTS)}; missing {', '.join(missing)}")
    reader = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))
    reader.fit(features["train"], labels["train"])
    return image_figures(
        reader.decision_function(features["test"]), labels["test"], kinds, reader.decision_function(features["val"]), labels["val"]
    )


def mean_sd(values: list) -> object:
    """Mean, sample sd (0 for one value) and the values of every figure over the splits, for
    figures nested in dicts alike in each split (a key missing in some splits: those that have it)."""
    if isinstance(values[0], dict):
        return {k: mean_sd([v[k] for v in values if k in v]) for k in values[0]}
    arr = np.array(values, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "values": arr.tolist()}


def split_results(
    out: Path, splits: int, settings: dict, run: Callable[[int], dict], report: Callable[[int, dict], None]
) -> list[dict]:
    """Each split's results, ``out/splitK.json`` for K < ``splits``: read back where a run with
    the same ``settings`` wrote it, else ``run(K)`` written there (with ``settings``) and
    ``report``-ed; so a rerun, or a run cut short at a session's end, loses at most one split."""
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for split in range(splits):
        file = out / f"split{split}.json"
        if file.is_file():
            saved = json.loads(file.read_text())
            if all(saved.get(k) == v for k, v in settings.items()):
                done.append(saved)
                continue
        result = {**settings, **run(split)}
        write_results(file, result)
        done.append(result)
        report(split, result)
    return done
