"""Tests of the IQA benchmark built from real photos (hyperimage.data.generators.iqa_photos)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from hyperimage.data import datasets
from hyperimage.data.datasets import folder
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.distortions import RANKIQA_TYPES, masks
from hyperimage.data.generators.iqa_photos import (
    DEFAULT_TYPES, LABEL, NON_UNIFORM, UNIFORM_TYPES, make_iqa_dataset, select,
)
from hyperimage.data.generators.proxy_labels import TOP_SCORE
from hyperimage.data.io import load_image, save_image
from hyperimage.data.photos import CATALOGUE, builtin_photos
from hyperimage.evaluation.level_check import level_srocc
from hyperimage.photo_packages import gather_photos

SIZE = (96, 128)
#: One uniform type applied through masks (blur) and one native local type (block-wise).
TYPES = (8, 15)
LEVELS = (2, 4)
COLUMNS = ["image", "score", "group", "reference", "distortion", "level", "region", "area", "mask", "ssim"]


@pytest.fixture(scope="module")
def photos() -> list[tuple[str, np.ndarray]]:
    found = builtin_photos(size=SIZE)
    assert len(found) >= 2, "scikit-image's astronaut and coffee should be installed"
    return found[:2]


@pytest.fixture(scope="module")
def built(photos, tmp_path_factory) -> tuple[Path, list[ImageRecord]]:
    out = tmp_path_factory.mktemp("iqa")
    return out, make_iqa_dataset(photos, out, types=TYPES, levels=LEVELS, seed=3)


def read_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_writes_folder_dataset(photos, built):
    out, records = built
    rows = read_rows(out)
    assert list(rows[0]) == COLUMNS
    # per photo: the reference, blur x 2 levels x (uniform + localized), blocks x 2 levels
    assert len(rows) == len(records) == 2 * (1 + 2 * 2 + 2)
    names = {name for name, _ in photos}
    assert {row["group"] for row in rows} == names
    for row in rows:
        assert (out / row["image"]).is_file()
        assert row["reference"] == f"references/{row['group']}.png"
        assert load_image(out / row["image"]).shape == (*SIZE, 3)
        assert 0.0 <= float(row["score"]) <= TOP_SCORE
    references = [row for row in rows if row["distortion"] == "none"]
    assert sorted(row["group"] for row in references) == sorted(names)
    for row in references:
        assert row["image"] == row["reference"] and row["level"] == "0" and row["region"] == "none"
        assert float(row["score"]) == TOP_SCORE
    for row in rows:
        if row["distortion"] != "none":
            assert float(row["score"]) < TOP_SCORE and row["level"] in ("2", "4")
    regions = {(row["distortion"], row["region"]) for row in rows}
    assert ("8", "uniform") in regions and ("15", "native") in regions
    assert {r for d, r in regions if d == "8"} - {"uniform"} <= set(masks.MASK_KINDS)

    meta = json.loads((out / "meta.json").read_text())
    assert meta["task"] == "iqa" and meta["label"] == LABEL and "not a human MOS" in meta["label"]
    assert meta["higher_is_better"] is True and meta["types"] == list(TYPES) and meta["seed"] == 3
    assert meta["n_images"] == len(rows)


def test_folder_loaders_read_it(built):
    out, records = built
    assert datasets.detect(out) == "folder"
    loaded = folder.load(out)
    assert loaded == records == datasets.load(out)
    reference = next(r for r in loaded if r.distortion == "none")
    assert reference.target == TOP_SCORE and reference.level == 0 and reference.reference == reference.path
    localized = [r for r in loaded if r.mask is not None]
    assert localized and all(r.extra["region"] in masks.MASK_KINDS for r in localized)
    assert {"region", "area", "ssim"} <= set(loaded[1].extra)


def test_localized_images_differ_only_inside_their_region(built):
    out, _ = built
    rows = read_rows(out)
    uniform = {(r["group"], r["distortion"], r["level"]): r for r in rows if r["region"] == "uniform"}
    local = [r for r in rows if r["mask"]]
    assert len(local) == 2 * len(LEVELS)
    for row in local:
        image, reference = load_image(out / row["image"]), load_image(out / row["reference"])
        inside = load_image(out / row["mask"], mode="L") > 0.5
        assert 0.1 - 0.01 <= inside.mean() <= 0.4 + 0.01
        assert float(row["area"]) == pytest.approx(inside.mean(), abs=1e-4)
        np.testing.assert_array_equal(image[~inside], reference[~inside])
        assert np.abs(image[inside] - reference[inside]).max() > 0
        # inside the region: the very pixels of the uniform version of that type and level
        whole = load_image(out / uniform[(row["group"], row["distortion"], row["level"])]["image"])
        np.testing.assert_array_equal(image[inside], whole[inside])
        assert float(row["score"]) > float(uniform[(row["group"], row["distortion"], row["level"])]["score"])


def test_one_mask_per_series_across_levels(built):
    out, _ = built
    rows = [r for r in read_rows(out) if r["mask"]]
    for group in {r["group"] for r in rows}:
        series = [r for r in rows if r["group"] == group]
        assert len({r["mask"] for r in series}) == 1 and len({r["region"] for r in series}) == 1


def test_native_types_are_applied_as_they_are(built):
    out, _ = built
    for row in read_rows(out):
        if row["distortion"] == "15":
            assert row["region"] == "native" and row["mask"] == ""
            changed = np.any(load_image(out / row["image"]) != load_image(out / row["reference"]), axis=-1)
            assert float(row["area"]) == pytest.approx(changed.mean(), abs=1e-4) and 0 < changed.mean() < 1


def test_deterministic_and_seeded(photos, built, tmp_path):
    out, _ = built
    again = tmp_path / "again"
    make_iqa_dataset(photos, again, types=TYPES, levels=LEVELS, seed=3)
    assert (again / "labels.csv").read_bytes() == (out / "labels.csv").read_bytes()
    for path in sorted((out / "images").iterdir()) + sorted((out / "masks").iterdir()):
        assert (again / path.relative_to(out)).read_bytes() == path.read_bytes(), path.name
    other = tmp_path / "other"
    make_iqa_dataset(photos, other, types=TYPES, levels=LEVELS, seed=4)
    assert (other / "labels.csv").read_bytes() != (out / "labels.csv").read_bytes()


def test_other_photos_do_not_change_a_photos_images(photos, built, tmp_path):
    out, _ = built
    (first, image), (second, other) = photos
    changed = tmp_path / "changed"
    # the other photo altered and listed first
    make_iqa_dataset([(second, other[::-1].copy()), (first, image)], changed, types=TYPES, levels=LEVELS, seed=3)
    for path in sorted((out / "images").glob(f"{first}_*")):
        assert (changed / "images" / path.name).read_bytes() == path.read_bytes(), path.name
    assert (changed / "images" / f"{second}_08_2_uniform.png").read_bytes() != (
        out / "images" / f"{second}_08_2_uniform.png"
    ).read_bytes()


def test_reads_a_folder_with_manifest(tmp_path):
    def no_fetch(package: str, version: str, workdir: Path) -> Path:
        raise AssertionError("the installed scikit-image files should be used")

    chosen = [p for p in CATALOGUE if p.name in ("astronaut", "camera")]
    gather_photos(tmp_path / "photos", size=SIZE, catalogue=chosen, fetchers={"pypi": no_fetch})
    records = make_iqa_dataset(tmp_path / "photos", tmp_path / "out", types=(10,), levels=(1,), localized=0)
    assert [(r.group, r.distortion) for r in records] == [
        ("astronaut", "none"), ("astronaut", "10"), ("camera", "none"), ("camera", "10")
    ]  # fmt: skip
    assert load_image(records[-1].path).shape == (*SIZE, 3)  # the gray photo became RGB
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["photos"][0]["package"] == "scikit-image" and "licence" in meta["photos"][0]


def test_reads_a_folder_of_pngs_and_resizes(photos, tmp_path):
    (tmp_path / "photos").mkdir()
    for name, image in photos:
        save_image(tmp_path / "photos" / f"{name}.png", image)
    (tmp_path / "photos" / "notes.txt").write_text("not a photo")
    records = make_iqa_dataset(tmp_path / "photos", tmp_path / "out", types=(1,), levels=(3,), size=(48, 64))
    assert len(records) == 2 * 3
    assert all(load_image(r.path).shape == (48, 64, 3) for r in records)


def test_type_sets(photos, tmp_path):
    records = make_iqa_dataset(photos[:1], tmp_path / "a", types="live", levels=(1,), localized=0)
    assert sorted(int(r.distortion) for r in records if r.distortion != "none") == sorted(UNIFORM_TYPES)
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["types"] == list(UNIFORM_TYPES)
    records = make_iqa_dataset(photos[:1], tmp_path / "b", types=("jpeg", 14), levels=(1,), localized=2)
    regions = [r.extra["region"] for r in records]
    assert regions[:2] == ["none", "uniform"] and regions[-1] == "native"
    assert set(regions[2:4]) <= set(masks.MASK_KINDS) and regions[2] != regions[3]  # series cycle through the kinds
    assert DEFAULT_TYPES == UNIFORM_TYPES + NON_UNIFORM and len(RANKIQA_TYPES) == 17


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"types": (99,)}, "unknown distortion"),
        ({"types": "nope"}, "unknown type set"),
        ({"levels": (0, 1)}, "levels"),
        ({"levels": (2, 2)}, "levels"),
        ({"regions": ("stars",)}, "regions"),
        ({"area_range": (0.5, 0.2)}, "area_range"),
        ({"uniform": False, "localized": 0}, "uniform=True or localized"),
        ({"saliency": 2.0}, "saliency"),
    ],
)
def test_bad_parameters(photos, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_iqa_dataset(photos, tmp_path, **kwargs)


def test_bad_photos_and_folder(photos, tmp_path):
    image = photos[0][1]
    with pytest.raises(ValueError, match="unique"):
        make_iqa_dataset([("a", image), ("a", image)], tmp_path / "x")
    with pytest.raises(ValueError, match="names"):
        make_iqa_dataset([("../a", image)], tmp_path / "x")
    with pytest.raises(ValueError, match="shape"):
        make_iqa_dataset([("a", image[..., :2])], tmp_path / "x")
    with pytest.raises(ValueError, match="no PNG"):
        make_iqa_dataset(tmp_path, tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        make_iqa_dataset(photos, tmp_path / "full")


def test_level_srocc_on_a_built_dataset(built):
    _, records = built
    result = level_srocc(records, [r.target for r in records])
    assert result["sets"] == 2 * 3 and result["images"] == len(records)
    # where only the strength changes between levels, the proxy labels fall with the level;
    # #15 places its blocks anew at each level, so they may land somewhere that matters less
    masked = {k: v for k, v in result["by_region"].items() if k != "native"}
    assert "uniform" in masked and set(masked.values()) == {1.0}
    assert result["srocc"] > 0.5


def test_select_subsets(built):
    _, records = built
    def kinds(subset: list[ImageRecord]) -> set[tuple[str, str]]:
        return {(r.distortion, r.extra["region"]) for r in subset if r.distortion != "none"}

    assert kinds(select(records, "uniform")) == {("8", "uniform")}
    assert kinds(select(records, "uniform+nonuniform")) == {("8", "uniform"), ("15", "native")}
    assert select(records, "localized") == select(records, "all") == records
    for subset in ("uniform", "uniform+nonuniform", "localized", "all"):
        assert sum(r.distortion == "none" for r in select(records, subset)) == 2
    with pytest.raises(ValueError, match="unknown subset"):
        select(records, "tid")
