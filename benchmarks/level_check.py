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

``--types other-implementations`` (or ``held-out-a``, one leave-one-implementation-out fold's) scores each family (JPEG, blur, noise) with the code that the
project's TID2013 types are not (:mod:`hyperimage.data.distortions.implementations`: OpenCV's
JPEG, 4:4:4 JPEG, Pillow's and box and disc and motion blurs, luminance, linear-light and shot
noise): a model ranked on the project's #1, #8 and #10 never trained on any of them, so this is
its leave-one-implementation-out check. ``--pool held-out`` keeps, of folders with a manifest,
only the photos no training touches (:mod:`hyperimage.data.photo_pools`); every photo is first
scaled to at most ``--max-side`` px (the size the model looks at, so that a level's blur radius
or noise is what the model sees).

Beside it, for a two-stage model, patch averaging over the same stage 1 (the mean of its cell
scores: the paper's baseline, which sees no more than stage 2 starts from), and BRISQUE + SVR (Table 2 exp. 1) trained on ``--brisque-data`` (default: the same
LIVE-C folder, 80/20 by image with seed 0), when that folder exists.

Usage::

    python benchmarks/level_check.py --model MODEL [--photos DIR ...] [--pool held-out] [--types 1,8,10|other-implementations]
        [--brisque-data data/real/ChallengeDB_release]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from hyperimage import api
from hyperimage.data import datasets, distortions, photo_pools
from hyperimage.data.distortions.implementations import family_types
from hyperimage.data.generators import iqa_photos
from hyperimage.data.photos import builtin_photos
from hyperimage.evaluation.benchmark.iqa import brisque_svr
from hyperimage.evaluation.level_check import level_srocc
from hyperimage.evaluation.protocol import REAL_IQA_SPLIT, random_split

from _results import write_results

TYPES = (1, 8, 10)
"""TID2013 #1 additive Gaussian noise, #8 Gaussian blur, #10 JPEG compression."""


def resolve_types(spec: str) -> tuple[int, ...]:
    """``"1,8,10"`` (numbers or names); ``"other-implementations"``: every type of a family
    (:data:`~hyperimage.data.distortions.implementations.FAMILIES`) made by other code than the
    project's; ``"held-out-a"``: those leave-one-implementation-out fold ``a`` trains without
    (:data:`~hyperimage.data.distortions.implementations.HELD_OUT`)."""
    if spec.startswith("held-out-"):
        return family_types(spec.removeprefix("held-out-"), held_out=True)
    if spec == "other-implementations":
        return tuple(n for n in family_types() if distortions.get(n).implementation != "hyperimage")
    return tuple(distortions.get(int(t) if t.strip().isdigit() else t).number for t in spec.split(","))


def scaled_photos(folders: list[Path], pool: str, max_side: int) -> list[tuple[str, np.ndarray]]:
    """The colour photos of ``folders`` (of ``pool``: ``all`` or ``held-out``), each scaled
    (Lanczos) to at most ``max_side`` px, as (name, float image in [0, 1])."""
    images, names = [], []
    for part in ("training", "held-out") if pool == "all" else ("held-out",):  # a folder without a manifest is all "training"
        more, more_names = photo_pools.load_pool(folders, part)
        images, names = images + more, names + more_names
    out = []
    for name, image in zip(names, images):
        pil = Image.fromarray(image)
        pil.thumbnail((max_side, max_side), Image.LANCZOS)
        out.append((name, np.asarray(pil, dtype=np.float32) / 255.0))
    return out


def family_means(by_distortion: dict[str, float]) -> dict[str, float]:
    """The mean SROCC of each family over its types."""
    groups: dict[str, list[float]] = {}
    for kind, value in by_distortion.items():
        family = distortions.get(int(kind)).family
        if family is not None:
            groups.setdefault(family, []).append(value)
    return {family: float(np.mean(v)) for family, v in groups.items()}


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
    result["by_family"] = family_means(result["by_distortion"])
    by_type = ", ".join(f"{distortions.get(int(k)).name} {v:.3f}" for k, v in result["by_distortion"].items())
    by_region = ", ".join(f"{k} {v:.3f}" for k, v in result["by_region"].items())
    by_family = ", ".join(f"{k} {v:.3f}" for k, v in result["by_family"].items())
    print(
        f"{name:<24} mean SROCC vs level {result['srocc']:.3f} over {result['sets']} sets (whole image {result['whole']:.3f}, "
        f"inside regions {result['inside_regions']:.3f}); by family: {by_family}; by type: {by_type}; by region: {by_region}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped quality model)")
    parser.add_argument("--photos", type=Path, nargs="+", default=None, help="folders of photos (default: the 5 built-in photos)")
    parser.add_argument("--pool", choices=("all", "held-out"), default="all", help="of folders with a manifest, all photos or the held-out pool's")
    parser.add_argument("--max-side", type=int, default=512, help="photos are scaled to at most this many px first (default 512)")
    parser.add_argument("--types", default=",".join(map(str, TYPES)), help="distortion numbers or names, other-implementations, or held-out-a / held-out-b (default 1,8,10)")
    parser.add_argument("--brisque-data", type=Path, default=Path("data/real/ChallengeDB_release"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (and their provenance) to this file")
    args = parser.parse_args()
    model = api.load_model(args.model) if args.model else api.default_model()
    photos = scaled_photos(args.photos, args.pool, args.max_side) if args.photos else builtin_photos(size=(384, 512))
    types = resolve_types(args.types)
    with tempfile.TemporaryDirectory() as tmp:
        records = iqa_photos.make_iqa_dataset(photos, Path(tmp) / "levels", types=types, localized=1, seed=args.seed)
        print(f"{len(records)} images of {len(photos)} photos: {len(types)} types x 5 levels, whole image and one region each, and the pristine photos")
        scores = np.array([p.score for p in api.score(model, [r.path for r in records])], dtype=float)
        figures = {
            "images": len(records), "photos_used": len(photos), "seed": args.seed, "model": str(args.model or "shipped iqa"),
            "photos": [str(p) for p in args.photos] if args.photos else "builtin", "pool": args.pool,
            "types": {str(t): distortions.get(t).name for t in types},
        }
        higher = model.config.score.higher_is_better
        figures["model_levels"] = report(f"model ({model.config.preset})", records, scores, higher)
        if model.stage2 is not None:
            average = np.array([p.score for p in api.score(model.patch_average(), [r.path for r in records])], dtype=float)
            figures["patch_average_levels"] = report("patch averaging", records, average, higher)
        brisque = brisque_scores(args.brisque_data, records)
        if brisque is not None:
            figures["brisque_svr_levels"] = report(f"BRISQUE + SVR ({args.brisque_data.name})", records, brisque, True)
    write_results(args.json, figures, preset=model.config.preset)


if __name__ == "__main__":
    main()
