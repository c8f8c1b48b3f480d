"""Does a quality model's score fall as a distortion gets stronger, on photos it never saw?

Builds the photo benchmark (:func:`hyperimage.data.generators.iqa_photos.make_iqa_dataset`) from
photos outside every training set here (default: the 5 built-in scikit-image / matplotlib
photos; ``--photos DIR`` for any folder, e.g. ``hyperimage photos --debian``), with blur
(TID2013 #8), noise (#1) and JPEG (#10) over the whole image and inside a region, levels
1-5, and reports the label-free check (:func:`~hyperimage.evaluation.level_check.level_srocc`):
per (photo, type, region) set, the SROCC of the score against the level, sign-flipped so
that +1 means "falls as the damage grows", averaged per distortion, per region and overall.
No label is needed, so it checks a model trained on human MOS (LIVE-C) against distortions
nobody rated.

Beside it, BRISQUE + SVR (Table 2 exp. 1) trained on ``--brisque-data`` (default: the same
LIVE-C folder, 80/20 by image with seed 0), when that folder exists.

Usage::

    python benchmarks/level_check.py --model MODEL [--photos DIR] [--brisque-data data/real/ChallengeDB_release]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from hyperimage import api
from hyperimage.data import datasets
from hyperimage.data.generators import iqa_photos
from hyperimage.data.photos import builtin_photos
from hyperimage.evaluation.benchmark.iqa import brisque_svr
from hyperimage.evaluation.level_check import level_srocc
from hyperimage.evaluation.protocol import REAL_IQA_SPLIT, random_split

from _results import write_results

TYPES = (1, 8, 10)
"""TID2013 #1 additive Gaussian noise, #8 Gaussian blur, #10 JPEG compression."""


def brisque_scores(train_root: Path, records: list) -> np.ndarray | None:
    """BRISQUE + SVR fitted on ``train_root``'s 70/10 training and validation parts, scoring ``records``."""
    if not train_root.is_dir():
        return None
    split = random_split(datasets.load(train_root), seed=0, fractions=REAL_IQA_SPLIT)
    parts = {name: [r for r in split if r.split == name] for name in ("train", "val")}
    return np.asarray(brisque_svr(parts["train"], parts["val"], records, 0, None))


def report(name: str, records: list, scores: np.ndarray, higher_is_better: bool) -> dict:
    """Print and return the mean SROCC of score against level, by type and by region."""
    result = level_srocc(records, scores, higher_is_better=higher_is_better)
    by_type = ", ".join(f"{k} {v:.3f}" for k, v in result["by_distortion"].items())
    by_region = ", ".join(f"{k} {v:.3f}" for k, v in result["by_region"].items())
    print(f"{name:<24} mean SROCC vs level {result['srocc']:.3f} over {result['sets']} sets; by type: {by_type}; by region: {by_region}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped quality model)")
    parser.add_argument("--photos", type=Path, default=None, help="folder of photos (default: the 5 built-in photos)")
    parser.add_argument("--brisque-data", type=Path, default=Path("data/real/ChallengeDB_release"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (and their provenance) to this file")
    args = parser.parse_args()
    model = api.load_model(args.model) if args.model else api.default_model()
    photos = args.photos if args.photos else builtin_photos(size=(384, 512))
    with tempfile.TemporaryDirectory() as tmp:
        records = iqa_photos.make_iqa_dataset(photos, Path(tmp) / "levels", types=TYPES, localized=1, seed=args.seed)
        print(f"{len(records)} images: {len(TYPES)} types x 5 levels, whole image and one region each, and the pristine photos")
        scores = np.array([p.score for p in api.score(model, [r.path for r in records])], dtype=float)
        figures = {"images": len(records), "seed": args.seed, "model": str(args.model or "shipped iqa"), "photos": str(args.photos or "builtin")}
        figures["model_levels"] = report(f"model ({model.config.preset})", records, scores, model.config.score.higher_is_better)
        brisque = brisque_scores(args.brisque_data, records)
        if brisque is not None:
            figures["brisque_svr_levels"] = report(f"BRISQUE + SVR ({args.brisque_data.name})", records, brisque, True)
    write_results(args.json, figures, preset=model.config.preset)


if __name__ == "__main__":
    main()
