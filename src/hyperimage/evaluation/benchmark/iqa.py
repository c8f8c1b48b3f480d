"""Table 2 (experiments 2-3): NR-IQA, plain CNN vs CNN + selective patch training vs two-stage.

Rows, all with the Kang et al. (2014) stage 1 of Table 5 on LCN'd 32x32 patches:

* ``cnn``: every patch inherits its image's score (Kang et al.), image score = mean of
  patch scores;
* ``cnn+selective``: selective patch training (low-SSIM patches of distorted images, all
  patches of references, balanced), patch averaging;
* ``two-stage``: the same selective stage 1 (shared with the row above, so the comparison
  isolates stage 2) followed by the "TID stage 2" (or "LIVE stage 2") network.

Data: a folder of a published layout (LIVE, TID2013, KADID-10k) or a folder data set, or by
default the photo benchmark that :mod:`hyperimage.data.generators.iqa_photos` builds from real
photographs with the project's distortion library. Its labels are a full-reference proxy
(centre-weighted SSIM mapped to 0-9), not human opinion scores. Splits are random 60/20/20
by reference image; figures are means and standard deviations over splits, per subset of
the test images (uniform types only, uniform + the two non-uniform types #14/#15, all), and
the label-free check (SROCC of the score against the distortion level).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hyperimage import presets
from hyperimage.data import datasets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.generators import iqa_photos
from hyperimage.data.io import load_image
from hyperimage.distributed import SINGLE, World
from hyperimage.evaluation.baselines.brisque import BrisqueSVR, brisque_features
from hyperimage.evaluation.baselines.end_to_end import EndToEndCNN
from hyperimage.evaluation.baselines.niqe import NiqeModel
from hyperimage.evaluation.baselines.trunk_ridge import TrunkRidge
from hyperimage.evaluation.benchmark import Variant, budget_record, row_name, stamp_run
from hyperimage.evaluation.level_check import level_srocc
from hyperimage.evaluation.protocol import correlations, random_split, split_for, summarise
from hyperimage.inference.model import HyperImageModel
from hyperimage.inference.scoring import score_files
from hyperimage.registry import Registry
from hyperimage.training import Recipe, TrainConfig, patch_average_of, recipe, train

#: Table 2 of the paper (SROCC, PLCC), TID2013, 100 splits.
PAPER = {
    "all": {"cnn": (0.6618, 0.6907), "cnn+selective": (0.761, 0.7627), "two-stage": (0.7875, 0.7738)},
    "uniform": {"cnn+selective": (0.92, 0.921), "two-stage": (0.932, 0.932)},
    "uniform+nonuniform": {"cnn+selective": (0.625, None), "two-stage": (0.76, 0.755)},
}
ROWS = ("cnn", "cnn+selective", "two-stage")
PHOTO_SUBSETS = ("uniform", "uniform+nonuniform", "all")


@dataclass(frozen=True)
class EndToEndBudget:
    """Input size, width and training of the end-to-end rows on a CPU: LIVE-C's 500 x 500
    photos resized isotropically to 256 x 256, a quarter of Table 4's filters (1/16 of the
    multiply-adds), up to 10 epochs (the paper: 384 x 512 TID2013 images, full widths)."""

    size: tuple[int, int] = (256, 256)
    conv_width: float = 0.25
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, patience=4, batch_size=16))



@dataclass
class Budget:
    """Data, splits and CPU training budget of one run."""

    splits: int
    photos: str
    recipe: Recipe = field(default_factory=Recipe)
    baselines: tuple[str, ...] = ()
    end_to_end: EndToEndBudget = field(default_factory=EndToEndBudget)
    cnn: bool = True
    preset: str | None = None
    """The CNN rows' preset (:mod:`hyperimage.presets`); ``None``: the data set layout's."""
    variants: tuple[Variant, ...] = ()
    """Train the CNN rows once per variant instead of once with ``recipe`` and ``preset``."""
    train_fraction: float = 1.0
    """Share of each split's training images whose labels every row may use (the others sit
    out; validation and test stay whole): how a row fares with fewer labels."""

    def only(self, rows: Sequence[str]) -> "Budget":
        """This budget restricted to ``rows``: the CNN rows (trained together, sharing stage 1)
        if any of them is named, and the named baselines. Splits depend only on the seed, so
        rows run separately with one seed see the same splits."""
        known = (*ROWS, *BASELINES.available())
        if unknown := [r for r in rows if r not in known]:
            raise ValueError(f"unknown row(s) {', '.join(unknown)}; rows are {', '.join(known)}")
        return replace(self, cnn=any(r in ROWS for r in rows), baselines=tuple(r for r in rows if r in BASELINES))


FULL = Budget(
    splits=5,
    photos="pypi",
    recipe=recipe.get("iqa-full"),
)
#: LIVE-C / KonIQ-10k: the community's 10 splits, the FULL training budget, every baseline row.
WILD = replace(FULL, splits=10, baselines=("brisque+svr", "niqe", "imagenet+ridge", "shallow-end-to-end", "deep-end-to-end"))
QUICK = Budget(
    splits=1,
    photos="builtin",
    recipe=recipe.get("iqa-quick"),
)


def build_photo_benchmark(folder: Path, photos: str = "builtin", seed: int = 0) -> Path:
    """Write (once) the photo benchmark into ``folder``; ``photos`` is builtin, pypi or debian."""
    data = folder / f"iqa-{photos}-seed{seed}"
    if (data / "labels.csv").is_file():
        return data
    if photos == "builtin":
        from hyperimage.data.photos import builtin_photos

        source: object = builtin_photos(size=(384, 512))  # as `hyperimage make-iqa OUT` does
    else:
        from hyperimage.photo_packages import gather_photos

        source = folder / f"photos-{photos}"
        if not (source / "manifest.json").is_file():
            gather_photos(source, sources=("pypi", "debian") if photos == "debian" else ("pypi",))
    iqa_photos.make_iqa_dataset(source, data, seed=seed)
    return data


def _is_photo_benchmark(records: list[ImageRecord]) -> bool:
    return all("region" in r.extra for r in records)


#: Why a row has no figure on a data set without pristine references.
NO_REFERENCE = "n/a: selective patch training needs a pristine reference, which authentic distortions lack"

#: A baseline row: (training, validation and test records, seed, budget) -> scores of the test records.
Baseline = Callable[[list[ImageRecord], list[ImageRecord], list[ImageRecord], int, "Budget"], Sequence[float]]
#: Baseline rows by name, run beside the CNN rows on the same splits (see :func:`register_baseline`).
BASELINES: Registry[Baseline] = Registry("baseline row")
register_baseline = BASELINES.register


@lru_cache(maxsize=None)
def _brisque_of(path: Path, stamp: int) -> np.ndarray:
    """BRISQUE features of an image file (``stamp``, its modification time, keys the cache)."""
    return brisque_features(load_image(path))


def _brisque(records: Sequence[ImageRecord]) -> np.ndarray:
    return np.stack([_brisque_of(r.path, r.path.stat().st_mtime_ns) for r in records])


@register_baseline("brisque+svr")
def brisque_svr(train: list[ImageRecord], val: list[ImageRecord], test: list[ImageRecord], seed: int, budget: Budget) -> np.ndarray:
    """Table 2 exp. 1's classic row: BRISQUE's 36 natural-scene statistics, an RBF SVR fitted
    on the training images, C and gamma chosen on the validation images."""
    targets = {name: np.array([r.target for r in rs]) for name, rs in (("train", train), ("val", val))}
    svr = BrisqueSVR(seed=seed).fit(_brisque(train), targets["train"], _brisque(val), targets["val"])
    return svr.predict(_brisque(test))


@register_baseline("niqe")
def niqe(train: list[ImageRecord], val: list[ImageRecord], test: list[ImageRecord], seed: int, budget: Budget) -> np.ndarray:
    """NIQE, no training: the distance to the shipped pristine model, negated so that higher
    is better like the data sets' MOS (a DMOS set's correlations then come out negative)."""
    model = NiqeModel.load()
    return -np.array([model.score(load_image(r.path)) for r in test])


def _end_to_end(network: str) -> Baseline:
    def row(train: list[ImageRecord], val: list[ImageRecord], test: list[ImageRecord], seed: int, budget: Budget) -> np.ndarray:
        e2e = budget.end_to_end
        cnn = EndToEndCNN(size=e2e.size, conv_width=e2e.conv_width, seed=seed, network=network, loss="mae")
        cnn.fit([(r.path, r.target) for r in train], [(r.path, r.target) for r in val], e2e.train)
        return cnn.predict([r.path for r in test])

    row.__doc__ = f"Table 2 exp. 4: the {network} CNN of Table 4 trained from scratch on whole images (MAE)."
    return row


@register_baseline("imagenet+ridge")
def imagenet_ridge(train: list[ImageRecord], val: list[ImageRecord], test: list[ImageRecord], seed: int, budget: Budget) -> np.ndarray:
    """The pre-trained-trunk baseline: the frozen ImageNet EfficientNet-Lite0's blocks 10, 14,
    15 and head, mean- and deviation-pooled over each whole image, then a ridge regression
    (penalty chosen on the validation images)."""
    return TrunkRidge().fit(train, val).predict(test)


register_baseline("shallow-end-to-end")(_end_to_end("iqa-shallow-end-to-end"))
register_baseline("deep-end-to-end")(_end_to_end("iqa-deep-end-to-end"))


def in_the_wild(root: Path) -> bool:
    """True for the data sets of authentic distortions evaluated with the 80/20 protocol."""
    return datasets.layout(root).in_the_wild


def fewer_labels(records: list[ImageRecord], fraction: float, seed: int) -> list[ImageRecord]:
    """``records`` with only a seeded random ``fraction`` (at least one) of the training images
    left in ``train``; the others get no split, so no row trains on them."""
    if not 0 < fraction <= 1:
        raise ValueError(f"train fraction must be in (0, 1], got {fraction}")
    train = [i for i, r in enumerate(records) if r.split == "train"]
    if fraction == 1 or not train:
        return records
    keep = set(np.random.default_rng(seed).permutation(train)[: max(1, round(fraction * len(train)))].tolist())
    return [r if r.split != "train" or i in keep else replace(r, split=None) for i, r in enumerate(records)]


def _cnn_rows(
    recs: list[ImageRecord], base, budget: Budget, seed: int, progress: bool, world: World
) -> dict[str, HyperImageModel]:
    """The CNN rows of one split. With references: Kang's CNN, the same CNN with selective patch
    training, and the two-stage model on that selective stage 1. Without (authentic
    distortions): the preset's stage 1 is Kang's CNN, shared by its patch average and stage 2."""
    two_stage, result = train(recs, replace(base, method="two-stage"), budget.recipe, seed=seed, progress=progress, world=world)
    shared = patch_average_of(two_stage, result)
    if base.window_labels != "selective":
        return {"cnn": shared, "two-stage": two_stage}
    plain_config = replace(base, method="patch-average", window_labels="image", window_label_args={})
    plain, _ = train(recs, plain_config, budget.recipe, seed=seed, progress=progress, world=world)
    return {"cnn": plain, "cnn+selective": shared, "two-stage": two_stage}


def run(
    data: Path,
    budget: Budget = FULL,
    seed: int = 0,
    log: Callable[[str], None] = print,
    progress: bool = False,
    fixed_splits: bool = True,
    world: World = SINGLE,
) -> dict:
    """Train every row on ``budget.splits`` splits of ``data``; per-subset metrics.

    Splits are random 60/20/20 by reference (the paper's protocol), or for LIVE-C and
    KonIQ-10k the community's 80/20 by image (:data:`~hyperimage.evaluation.protocol.REAL_IQA_SPLIT`).
    Images with a fixed split (KonIQ-10k's official one) keep it, so a single run is made on
    it; ``fixed_splits=False`` ignores such splits and draws random ones.
    """
    started = time.time()
    records = datasets.load(data)
    if not fixed_splits:
        records = [replace(r, split=None) for r in records]
    if all(r.split is not None for r in records) and budget.splits > 1:
        log("every image has a fixed split (the data set's official one): one run on it")
        budget = replace(budget, splits=1)
    layout = datasets.layout(data)
    photo = _is_photo_benchmark(records)
    subsets = PHOTO_SUBSETS if photo else ("all",)
    fractions = split_for(layout)
    variants = budget.variants or (Variant("", budget.recipe, budget.preset),)
    higher_is_better = layout.higher_is_better
    bases = []
    default_preset = layout.preset or "tid"  # a folder of photos without a meta.json preset: TID2013's design
    for variant in variants if budget.cnn else ():
        base = presets.get(variant.preset or default_preset)
        bases.append((variant, replace(base, score=replace(base.score, higher_is_better=higher_is_better))))
    cnn_rows = [
        row_name(r, v) for v, base in bases for r in ROWS if r != "cnn+selective" or base.window_labels == "selective"
    ]
    rows = cnn_rows + list(budget.baselines)
    stamped = stamp_run([v for v, _ in bases], bool(budget.variants), default_preset)  # the code as the run starts
    runs: dict[str, dict[str, list[dict]]] = {s: {row: [] for row in rows} for s in (*subsets, "level")}
    for split in range(budget.splits):
        t0 = time.time()
        recs = fewer_labels(random_split(records, seed=seed * 1000 + split, fractions=fractions), budget.train_fraction, seed + split)
        parts = {name: [r for r in recs if r.split == name] for name in ("train", "val", "test")}
        test = parts["test"]
        scores: dict[str, list[float | None]] = {}
        models = {
            row_name(row, v): model
            for v, base in bases
            for row, model in _cnn_rows(recs, base, replace(budget, recipe=v.recipe), seed + split, progress, world).items()
        }
        for row, model in models.items():
            scores[row] = [p.score for p in score_files(model, [r.path for r in test])]
        for row in budget.baselines:
            scores[row] = list(BASELINES.get(row)(parts["train"], parts["val"], test, seed + split, budget))
        chosen = {subset: {r.path for r in (iqa_photos.select(test, subset) if photo else test)} for subset in subsets}
        for row, pred in scores.items():
            for subset in subsets:
                pairs = [(p, r.target) for p, r in zip(pred, test) if r.path in chosen[subset] and p is not None]
                runs[subset][row].append(correlations([p for p, _ in pairs], [t for _, t in pairs]))
            if photo:
                lev = level_srocc(test, pred, higher_is_better=higher_is_better)
                runs["level"][row].append({"srocc": lev["srocc"]})
        log(
            f"split {split + 1}/{budget.splits} ({time.time() - t0:.0f} s, {len(parts['train'])} train / "
            f"{len(parts['val'])} val / {len(test)} test): "
            + ", ".join(f"{row} SROCC {runs[subsets[-1]][row][-1]['srocc']:.4f}" for row in scores)
        )
    return {
        "data": str(data),
        "layout": layout.name,
        "in_the_wild": layout.in_the_wild,
        "photo_benchmark": photo,
        "split_fractions": list(fractions),
        "not_applicable": {
            row_name("cnn+selective", v): NO_REFERENCE for v, base in bases if base.window_labels != "selective"
        },
        "budget": budget_record(budget),
        "seed": seed,
        "splits": runs,
        "summary": {s: {row: summarise(r) for row, r in rows.items() if r} for s, rows in runs.items() if any(rows.values())},
        "wall_seconds": time.time() - started,
        "provenance": stamped,
    }


@dataclass(frozen=True)
class Published:
    """In-set SROCC the papers report on a data set, for orientation (not measured here)."""

    data: str
    srocc: dict[str, float]


#: LIVE-C in-set SROCC over 10 random 80/20 splits, as published (DBCNN and HyperIQA use
#: ImageNet-pretrained backbones).
PUBLISHED_LIVEC = {"BRISQUE": 0.629, "WaDIQaM": 0.682, "DBCNN": 0.851, "HyperIQA": 0.859}

#: Published figures by data-set layout.
PUBLISHED = {"livec": Published("LIVE-C", PUBLISHED_LIVEC)}


def table(results: dict) -> str:
    """Table 2 as text: ours (mean +- std and median over splits) beside the paper's TID2013
    figures, or for LIVE-C the published in-set figures."""
    lines = [f"Table 2 rows on {results['data']} ({results['budget']['splits']} split(s), mean +- std [median])"]
    if results["photo_benchmark"]:
        lines.append(f"labels: {iqa_photos.LABEL}; the paper's figures are human MOS on TID2013, for orientation only")
    lines.append("")
    named = [*results.get("not_applicable", {}), *(row for rows in results["summary"].values() for row in rows)]
    width = max([15] + [len(row) + 2 for row in named])
    lines.append(f"{'test subset':<20}{'row':<{width}}{'SROCC':>26}{'PLCC':>26}{'KROCC':>17}   paper (SROCC, PLCC)")
    for subset, rows in results["summary"].items():
        for row, s in rows.items():
            cells = "".join(
                f"{s[m]['mean']:>10.4f} +-{s[m]['std']:.3f}" + (f" [{s[m]['median']:.4f}]" if m != "krocc" else "")
                if m in s
                else f"{'':>26}"
                for m in ("srocc", "plcc", "krocc")
            )
            label = "level (label-free)" if subset == "level" else subset
            paper = None if results.get("in_the_wild") else PAPER.get(subset, {}).get(row)
            ref = "" if paper is None else ", ".join("-" if v is None else f"{v:.4f}" for v in paper)
            lines.append(f"{label:<20}{row:<{width}}{cells}   {ref}")
        if subset != "level":
            lines += [f"{subset:<20}{row:<{width}}{why}" for row, why in results.get("not_applicable", {}).items()]
    if published := PUBLISHED.get(results.get("layout")):
        lines.append("")
        lines.append(f"published in-set {published.data} SROCC: " + ", ".join(f"{k} {v:.3f}" for k, v in published.srocc.items()))
    lines.append("")
    lines.append(f"wall time {results['wall_seconds'] / 60:.1f} min")
    return "\n".join(lines)
