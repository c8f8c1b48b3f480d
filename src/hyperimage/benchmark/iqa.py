"""Table 2 (experiments 2-3): NR-IQA, plain CNN vs CNN + selective patch training vs two-stage.

Rows, all with the Kang et al. (2014) stage 1 of Table 5 on LCN'd 32x32 patches:

* ``cnn``: every patch inherits its image's score (Kang et al.), image score = mean of
  patch scores;
* ``cnn+selective``: selective patch training (low-SSIM patches of distorted images, all
  patches of references, balanced), patch averaging;
* ``two-stage``: the same selective stage 1 (shared with the row above, so the comparison
  isolates stage 2) followed by the "TID stage 2" (or "LIVE stage 2") network.

Data: a folder of a published layout (LIVE, TID2013, KADID-10k) or a folder data set, or by
default the photo benchmark that :mod:`hyperimage.datasets.iqa_photos` builds from real
photographs with the project's distortion library. Its labels are a full-reference proxy
(centre-weighted SSIM mapped to 0-9), not human opinion scores. Splits are random 60/20/20
by reference image; figures are means and standard deviations over splits, per subset of
the test images (uniform types only, uniform + the two non-uniform types #14/#15, all), and
the label-free check (SROCC of the score against the distortion level).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from .. import datasets, presets
from ..datasets import iqa_photos
from ..datasets.records import ImageRecord
from ..pipeline import PipelineConfig, patch_average_of, train
from ..protocol import random_split, summarise
from ..scoring import evaluate_records, score_files

#: Table 2 of the paper (SROCC, PLCC), TID2013, 100 splits.
PAPER = {
    "all": {"cnn": (0.6618, 0.6907), "cnn+selective": (0.761, 0.7627), "two-stage": (0.7875, 0.7738)},
    "uniform": {"cnn+selective": (0.92, 0.921), "two-stage": (0.932, 0.932)},
    "uniform+nonuniform": {"cnn+selective": (0.625, None), "two-stage": (0.76, 0.755)},
}
ROWS = ("cnn", "cnn+selective", "two-stage")
PHOTO_SUBSETS = ("uniform", "uniform+nonuniform", "all")


@dataclass
class Budget:
    """Data, splits and CPU training budget of one run."""

    splits: int
    photos: str
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)


FULL = Budget(
    splits=5,
    photos="pypi",
    pipeline=replace(PipelineConfig.cpu(10, 30, 64, stage2_patience=8, stage2_batch=16), stage2_flips=True),
)
QUICK = Budget(
    splits=1,
    photos="builtin",
    pipeline=replace(PipelineConfig.cpu(4, 15, 32, stage2_patience=10, stage2_batch=16), stage2_flips=True),
)


def build_photo_benchmark(folder: Path, photos: str = "builtin", seed: int = 0) -> Path:
    """Write (once) the photo benchmark into ``folder``; ``photos`` is builtin, pypi or debian."""
    data = folder / f"iqa-{photos}-seed{seed}"
    if (data / "labels.csv").is_file():
        return data
    if photos == "builtin":
        from ..photos import builtin_photos

        source: object = builtin_photos(size=(384, 512))  # as `hyperimage make-iqa OUT` does
    else:
        from ..photos import gather_photos

        source = folder / f"photos-{photos}"
        if not (source / "manifest.json").is_file():
            gather_photos(source, sources=("pypi", "debian") if photos == "debian" else ("pypi",))
    iqa_photos.make_iqa_dataset(source, data, seed=seed)
    return data


def _is_photo_benchmark(records: list[ImageRecord]) -> bool:
    return all("region" in r.extra for r in records)


def _preset(root: Path) -> str:
    return "live" if datasets.detect(root) == "live" else "tid"


def run(
    data: Path,
    budget: Budget = FULL,
    seed: int = 0,
    log: Callable[[str], None] = print,
    progress: bool = False,
) -> dict:
    """Train the three rows on ``budget.splits`` splits of ``data``; per-subset metrics."""
    started = time.time()
    records = datasets.load(data)
    photo = _is_photo_benchmark(records)
    subsets = PHOTO_SUBSETS if photo else ("all",)
    base = presets.get(_preset(data))
    base.score = replace(base.score, higher_is_better=datasets.higher_is_better(data))
    runs: dict[str, dict[str, list[dict]]] = {s: {row: [] for row in ROWS} for s in (*subsets, "level")}
    for split in range(budget.splits):
        t0 = time.time()
        recs = random_split(records, seed=seed * 1000 + split)
        test = [r for r in recs if r.split == "test"]
        plain, _ = train(recs, replace(base, method="patch-average", window_labels="image", window_label_args={}),
                         budget.pipeline, seed=seed + split, progress=progress)
        two_stage, result = train(recs, replace(base, method="two-stage"), budget.pipeline, seed=seed + split, progress=progress)
        models = {"cnn": plain, "cnn+selective": patch_average_of(two_stage, result), "two-stage": two_stage}
        for row, model in models.items():
            for subset in subsets:
                chosen = iqa_photos.select(test, subset) if photo else test
                ev = evaluate_records(model, chosen)
                runs[subset][row].append({k: ev[k] for k in ("srocc", "plcc", "krocc")})
            if photo:
                preds = [p.score for p in score_files(model, [r.path for r in test])]
                lev = iqa_photos.level_srocc(test, preds, higher_is_better=model.config.score.higher_is_better)
                runs["level"][row].append({"srocc": lev["srocc"]})
        log(
            f"split {split + 1}/{budget.splits} ({time.time() - t0:.0f} s): "
            + ", ".join(f"{row} SROCC {runs[subsets[-1]][row][-1]['srocc']:.4f}" for row in ROWS)
        )
    return {
        "data": str(data),
        "photo_benchmark": photo,
        "budget": asdict(budget),
        "seed": seed,
        "splits": runs,
        "summary": {s: {row: summarise(r) for row, r in rows.items() if r} for s, rows in runs.items() if any(rows.values())},
        "wall_seconds": time.time() - started,
    }


def table(results: dict) -> str:
    """Table 2 as text: ours (mean +- std over splits) beside the paper's TID2013 figures."""
    lines = [f"Table 2 rows on {results['data']} ({results['budget']['splits']} split(s), mean +- std)"]
    if results["photo_benchmark"]:
        lines.append(f"labels: {iqa_photos.LABEL}; the paper's figures are human MOS on TID2013, for orientation only")
    lines.append("")
    lines.append(f"{'test subset':<20}{'row':<15}{'SROCC':>17}{'PLCC':>17}{'KROCC':>17}   paper (SROCC, PLCC)")
    for subset, rows in results["summary"].items():
        for row in ROWS:
            if row not in rows:
                continue
            s = rows[row]
            cells = "".join(
                f"{s[m]['mean']:>10.4f} +-{s[m]['std']:.3f}" if m in s else f"{'':>17}" for m in ("srocc", "plcc", "krocc")
            )
            label = "level (label-free)" if subset == "level" else subset
            paper = PAPER.get(subset, {}).get(row)
            ref = "" if paper is None else ", ".join("-" if v is None else f"{v:.4f}" for v in paper)
            lines.append(f"{label:<20}{row:<15}{cells}   {ref}")
    lines.append("")
    lines.append(f"wall time {results['wall_seconds'] / 60:.1f} min")
    return "\n".join(lines)
