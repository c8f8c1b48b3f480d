"""`benchmark iqa` on a tiny LIVE In the Wild folder: the in-the-wild protocol and its rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hyperimage.evaluation.benchmark import Variant, iqa
from hyperimage.evaluation.protocol import REAL_IQA_SPLIT
from hyperimage.training import Recipe

N = 30


@pytest.fixture
def tiny_livec(tmp_path, make_livec):
    names = [f"t{i}.bmp" for i in range(1, 8)] + [f"{100 + i}.bmp" for i in range(N)]
    rng = np.random.default_rng(0)
    noise = np.concatenate([np.zeros(7), np.linspace(0.0, 0.5, N)])
    images = [np.clip(0.5 + rng.normal(0, 0.02 + s, (64, 64, 3)), 0, 1) for s in noise]
    return make_livec(tmp_path, names, 90 - 150 * noise, images=images)


def test_livec_runs_the_80_20_protocol_with_a_registered_baseline(tiny_livec, monkeypatch):
    seen = []

    def noise_level(train, val, test, seed, budget):
        seen.append((len(train), len(val), len(test), {r.path for r in train} & {r.path for r in test}))
        return [-float(np.std(np.asarray(__import__("PIL.Image").Image.open(r.path)))) for r in test]

    monkeypatch.setitem(iqa.BASELINES._items, "noise", noise_level)
    budget = iqa.Budget(
        splits=1,
        photos="builtin",
        recipe=replace(Recipe.cpu(1, 2, 4, stage2_patience=2, stage2_batch=4), stage2_augment=["flips"]),
        baselines=("noise",),
    )
    results = iqa.run(tiny_livec, budget, seed=0, log=lambda s: None)
    assert results["layout"] == "livec" and results["split_fractions"] == list(REAL_IQA_SPLIT)
    assert seen == [(21, 3, 6, set())]  # 70/10/20 of 30 images, disjoint
    summary = results["summary"]["all"]
    assert set(summary) == {"cnn", "two-stage", "noise"}  # no selective row without references
    assert summary["noise"]["srocc"]["median"] > 0.9  # the baseline's scores reach the metrics
    assert summary["two-stage"]["srocc"]["n"] == 1
    text = iqa.table(results)
    assert "cnn+selective  n/a: selective patch training needs a pristine reference" in text
    assert "published in-set LIVE-C SROCC: BRISQUE 0.629" in text


def test_an_official_split_gives_one_run_unless_random_splits_are_asked(tmp_path, make_koniq, monkeypatch):
    root = make_koniq(tmp_path, sets=["training", "training", "training", "validation", "test", "test"])
    seen, logged = [], []
    monkeypatch.setattr(iqa, "_cnn_rows", lambda *args: {})
    monkeypatch.setitem(iqa.BASELINES._items, "mos", lambda train, val, test, seed, budget: seen.append(len(test)) or [r.target for r in test])
    budget = iqa.Budget(splits=3, photos="builtin", baselines=("mos",))
    results = iqa.run(root, budget, log=logged.append)
    assert seen == [2] and results["budget"]["splits"] == 1
    assert "official one" in logged[0]
    seen.clear()
    iqa.run(root, budget, log=logged.append, fixed_splits=False)
    assert seen == [1, 1, 1]  # 20% of 6 images, three random splits


def test_classic_rows_rank_noisy_photos_below_clean_ones(tmp_path, make_livec, seed, learned):
    from hyperimage.data.photos import builtin_photos

    photo = dict(builtin_photos())["coffee"][:200, :200]
    levels = np.linspace(0.0, 0.2, 54)
    rng = np.random.default_rng(1 + seed)
    images = [photo] * 7 + [np.clip(photo + rng.normal(0, s, photo.shape), 0, 1) for s in levels]
    names = [f"t{i}.bmp" for i in range(1, 8)] + [f"{100 + i}.bmp" for i in range(len(levels))]
    root = make_livec(tmp_path, names, np.concatenate([np.zeros(7), 90 - 300 * levels]), images=images)
    budget = iqa.Budget(splits=1, photos="builtin").only(["brisque+svr", "niqe"])
    results = iqa.run(root, budget, seed=seed, log=lambda s: None)
    for row in ("brisque+svr", "niqe"):
        # measured brisque+svr 0.987 +- 0.022 (worst 0.945, 9 spreads); niqe 0.953 +- 0.031 (worst 0.900, 5 spreads)
        learned(f"{row} SROCC", results["summary"]["all"][row]["srocc"]["mean"], above=0.8)


def test_rows_are_chosen_by_name():
    budget = iqa.WILD.only(["two-stage", "niqe"])
    assert budget.cnn and budget.baselines == ("niqe",)
    assert not iqa.WILD.only(["brisque+svr"]).cnn
    with pytest.raises(ValueError, match="unknown row.s. brisk"):
        iqa.WILD.only(["brisk"])


def test_variants_train_the_cnn_rows_once_each_on_the_same_split(tiny_livec):
    tiny = replace(Recipe.cpu(1, 2, 4, stage2_patience=2, stage2_batch=4), stage2_augment=["flips"])
    cells = replace(tiny, phases=[replace(tiny.phases[0], args={"images_per_batch": 4})])
    budget = iqa.Budget(
        splits=1,
        photos="builtin",
        variants=(Variant("scratch", tiny), Variant("imagenet", cells, preset="livec-imagenet")),
    )
    results = iqa.run(tiny_livec, budget, seed=0, log=lambda s: None)
    summary = results["summary"]["all"]
    assert set(summary) == {"cnn [scratch]", "two-stage [scratch]", "cnn [imagenet]", "two-stage [imagenet]"}
    assert all(s["srocc"]["n"] == 1 for s in summary.values())
    assert set(results["not_applicable"]) == {"cnn+selective [scratch]", "cnn+selective [imagenet]"}
    assert results["budget"]["variants"][1]["preset"] == "livec-imagenet"
    assert "recipe" not in results["budget"] and "preset" not in results["budget"]  # no row trained with them
    assert "two-stage [imagenet]" in iqa.table(results)


def test_fewer_labels_keep_a_seeded_share_of_the_training_images_only():
    from hyperimage.data.datasets.records import ImageRecord

    records = [ImageRecord(path=Path(f"{i}.png"), target=float(i), split=("train", "val", "test", "train")[i % 4]) for i in range(40)]
    fewer = iqa.fewer_labels(records, 0.25, seed=3)
    assert sum(r.split == "train" for r in fewer) == 5  # a quarter of 20
    assert [r.split for r in fewer if r.split in ("val", "test")] == [r.split for r in records if r.split in ("val", "test")]
    assert {r.path for r in fewer if r.split == "train"} <= {r.path for r in records if r.split == "train"}
    assert iqa.fewer_labels(records, 0.25, seed=3) == fewer and iqa.fewer_labels(records, 1.0, seed=3) == records
    with pytest.raises(ValueError):
        iqa.fewer_labels(records, 0.0, seed=3)


def test_a_train_fraction_reaches_every_row(tiny_livec, monkeypatch):
    seen = []
    monkeypatch.setitem(iqa.BASELINES._items, "count", lambda train, val, test, seed, budget: seen.append(len(train)) or [0.0] * len(test))
    budget = iqa.Budget(splits=1, photos="builtin", baselines=("count",), cnn=False, train_fraction=0.5)
    iqa.run(tiny_livec, budget, seed=0, log=lambda s: None)
    assert seen == [10]  # half of the 21 training images, rounded
