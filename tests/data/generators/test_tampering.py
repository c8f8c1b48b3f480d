"""Tests of the synthetic forgery benchmark (hyperimage.data.generators.tampering)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from hyperimage.data.generators.tampering import (
    CASIA2_TAMPERED_FRACTION, KINDS, SEAMS, TamperConfig, make_tampering_dataset, tamper_image,
)
from hyperimage.data.io import save_image

SIZE = (48, 64)


def smooth_photo(seed: int, shape: tuple[int, int] = (96, 128)) -> np.ndarray:
    """A smooth random colour image with some texture, unlike any other seed's."""
    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.random((*shape, 3)), sigma=(6, 6, 0))
    texture = ndimage.gaussian_filter(rng.random((*shape, 3)), sigma=(1, 1, 0))
    image = 0.7 * (base - base.min()) / np.ptp(base) + 0.3 * texture
    return np.clip(image, 0.0, 1.0).astype(np.float32)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [smooth_photo(seed) for seed in range(3)]


def read_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_writes_folder_dataset(photos, tmp_path):
    records = make_tampering_dataset(photos, tmp_path, n_images=12, seed=1, size=SIZE)
    rows = read_rows(tmp_path)
    assert list(rows[0]) == ["image", "label", "group", "mask", "kind", "reference"]
    assert len(rows) == len(records) == 12
    n_tampered = round(12 * CASIA2_TAMPERED_FRACTION)
    assert sum(row["label"] == "0" for row in rows) == n_tampered == 5
    for row, record in zip(rows, records, strict=True):
        image = np.asarray(Image.open(tmp_path / row["image"]))
        assert image.shape == (*SIZE, 3)
        assert record.path == tmp_path / row["image"] and record.target == float(row["label"])
        assert record.group == row["group"]
        if row["label"] == "1":
            assert row["kind"] == "authentic" and row["mask"] == "" and record.mask is None
        else:
            assert row["kind"] in KINDS and record.distortion == row["kind"]
            mask = np.asarray(Image.open(tmp_path / row["mask"]))
            assert record.mask == tmp_path / row["mask"]
            assert mask.shape == SIZE and set(np.unique(mask)) == {0, 255}
    assert len(list((tmp_path / "masks").iterdir())) == n_tampered
    assert (tmp_path / "meta.json").is_file()


def test_without_a_size_every_image_is_its_whole_photo(tmp_path):
    photos = [smooth_photo(0, (72, 104)), smooth_photo(1, (96, 128)), smooth_photo(2, (80, 88))]
    records = make_tampering_dataset(photos, tmp_path, n_images=9, seed=0, size=None, tampered_fraction=0.5, names=["a", "b", "c"])
    shapes = {"a": (72, 104), "b": (96, 128), "c": (80, 88)}
    for record in records:
        with Image.open(record.path) as image:
            assert image.size[::-1] == shapes[record.extra["host"]]
        if record.mask is not None:
            with Image.open(record.mask) as mask:
                assert mask.size[::-1] == shapes[record.extra["host"]]
    assert {r.extra["host"] for r in records} == set(shapes)  # each photo used, each at its own size
    assert sum(r.target == 0.0 for r in records) == 4 and json.loads((tmp_path / "meta.json").read_text())["size"] is None


def test_writes_the_source_of_every_tampered_image(photos, tmp_path):
    kwargs = dict(n_images=8, seed=10, size=SIZE, tampered_fraction=0.5, config=TamperConfig(png_probability=0.5))
    records = make_tampering_dataset(photos, tmp_path / "on", **kwargs)
    rows = read_rows(tmp_path / "on")
    assert {r.extra["format"].split(":")[0] for r in records if r.target == 0.0} == {"png", "jpeg"}
    for row, record in zip(rows, records, strict=True):
        if row["label"] == "1":
            assert row["reference"] == "" and record.reference is None
            continue
        assert record.reference == tmp_path / "on" / row["reference"]
        assert row["reference"].startswith("sources/") and Path(row["reference"]).suffix == record.path.suffix
        image, source = np.asarray(Image.open(record.path)), np.asarray(Image.open(record.reference))
        mask = np.asarray(Image.open(record.mask)) > 0
        if record.extra["format"] == "png":  # lossless: the source is the image outside the mask
            np.testing.assert_array_equal(source[~mask], image[~mask])
            assert (source[mask] != image[mask]).any()
        else:  # same JPEG quality: far from the mask the two share their 8x8 blocks
            far = ~ndimage.binary_dilation(mask, iterations=32)
            assert np.abs(source.astype(int) - image.astype(int))[far].max() <= 2
    assert len(list((tmp_path / "on" / "sources").iterdir())) == 4
    make_tampering_dataset(photos, tmp_path / "off", **kwargs, write_sources=False)
    assert list(read_rows(tmp_path / "off")[0]) == ["image", "label", "group", "mask", "kind"]
    assert not (tmp_path / "off" / "sources").exists()
    for name in ("images", "masks"):  # the sources draw nothing from the random streams
        for path in (tmp_path / "off" / name).iterdir():
            assert path.read_bytes() == (tmp_path / "on" / name / path.name).read_bytes()


@pytest.mark.parametrize("fraction, expected", [(0.0, 0), (0.5, 6), (1.0, 12)])
def test_class_balance_follows_fraction(photos, tmp_path, fraction, expected):
    records = make_tampering_dataset(photos, tmp_path, n_images=12, seed=2, size=SIZE, tampered_fraction=fraction)
    assert sum(r.target == 0.0 for r in records) == expected


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seam", SEAMS)
def test_tampering_changes_only_inside_mask(photos, kind, seam):
    weights = tuple(float(s == seam) for s in SEAMS)
    config = TamperConfig(seam_weights=weights, inpaint="biharmonic")
    host = photos[0][: SIZE[0], : SIZE[1]]
    rng = np.random.default_rng(7)
    result = tamper_image(host, kind, rng, donor=photos[1], config=config)
    assert result.image.shape == host.shape and result.image.dtype == np.float32
    assert result.mask.any() and result.mask.mean() < 0.4
    np.testing.assert_array_equal(result.image[~result.mask], host[~result.mask])
    assert np.abs(result.image - host)[result.mask].mean() >= config.min_change
    assert result.info["kind"] == kind and result.info["seam"].split(":")[0] == seam


def test_region_area_within_range(photos):
    config = TamperConfig(seam_weights=(1.0, 0.0, 0.0), area_range=(0.05, 0.06), transform_probability=0.0)
    host = photos[0][: SIZE[0], : SIZE[1]]
    for seed in range(5):
        result = tamper_image(host, "copy_move", np.random.default_rng(seed), config=config)
        # A hard seam marks the rasterised region itself: its area is the one drawn, to rounding.
        assert 0.04 <= result.mask.mean() <= 0.07


def test_inpainting_methods(photos):
    host = photos[2][: SIZE[0], : SIZE[1]]
    config = TamperConfig(inpaint="biharmonic")
    result = tamper_image(host, "removal", np.random.default_rng(0), config=config)
    assert result.info["inpaint"] == "biharmonic"
    assert tamper_image(host, "removal", np.random.default_rng(0)).info["inpaint"] == "biharmonic"
    with pytest.raises(ValueError, match="inpaint"):
        tamper_image(host, "removal", np.random.default_rng(0), config=TamperConfig(inpaint="magic"))


def jpeg_tables(quality: int) -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="JPEG", quality=quality, subsampling="4:2:0")
    return Image.open(buffer).quantization


def test_every_image_goes_through_the_same_resave(photos, tmp_path):
    config = TamperConfig(png_probability=0.3)
    records = make_tampering_dataset(photos, tmp_path, n_images=16, seed=3, size=SIZE, config=config)
    allowed = [jpeg_tables(q) for q in range(70, 96)]
    for record in records:
        with Image.open(record.path) as img:
            if record.extra["format"] == "png":
                assert img.format == "PNG" and record.path.suffix == ".png"
            else:
                quality = int(record.extra["format"].split(":")[1])
                assert img.format == "JPEG" and record.path.suffix == ".jpg"
                assert img.quantization == jpeg_tables(quality) and img.quantization in allowed
    for png_probability, suffix in ((0.0, ".jpg"), (1.0, ".png")):
        out = tmp_path / suffix[1:]
        config = TamperConfig(png_probability=png_probability)
        records = make_tampering_dataset(
            photos, out, n_images=6, seed=4, size=SIZE, tampered_fraction=0.5, config=config
        )
        for label in (0.0, 1.0):
            assert {r.path.suffix for r in records if r.target == label} == {suffix}


def test_deterministic(photos, tmp_path):
    make_tampering_dataset(photos, tmp_path / "a", n_images=10, seed=5, size=SIZE)
    make_tampering_dataset(photos, tmp_path / "b", n_images=10, seed=5, size=SIZE)
    make_tampering_dataset(photos, tmp_path / "c", n_images=10, seed=6, size=SIZE)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "labels.csv").read_bytes() != (tmp_path / "c" / "labels.csv").read_bytes()


def test_groups_keep_each_photo_in_one_group(tmp_path):
    photos = [smooth_photo(seed) for seed in range(5)]
    config = TamperConfig(kind_weights=(1.0, 0.0, 0.0))
    records = make_tampering_dataset(photos, tmp_path, n_images=20, seed=8, size=SIZE, config=config)
    group_of_photo: dict[str, str] = {}
    for record in records:
        used = [record.extra["host"]] + ([record.extra["donor"]] if "donor" in record.extra else [])
        if record.target == 0.0:
            assert record.extra["donor"] != record.extra["host"]
        for name in used:
            assert name in record.group.split("+")
            assert group_of_photo.setdefault(name, record.group) == record.group
    groups = set(group_of_photo.values())
    assert len(groups) == 2  # families of 2 photos, the odd one joining the last
    assert sorted(n for g in groups for n in g.split("+")) == [f"photo{i:03d}" for i in range(5)]


def test_accepts_files_and_names_groups_by_stem(photos, tmp_path):
    paths = []
    for name, photo in zip(("alpha", "beta", "gamma"), photos, strict=True):
        paths.append(tmp_path / f"{name}.png")
        save_image(paths[-1], photo)
    records = make_tampering_dataset(paths, tmp_path / "out", n_images=4, seed=0, size=SIZE)
    assert {n for r in records for n in r.group.split("+")} <= {"alpha", "beta", "gamma"}


def test_bad_input(photos, tmp_path):
    with pytest.raises(ValueError, match="smaller"):
        make_tampering_dataset(photos, tmp_path / "a", n_images=4, seed=0, size=(200, 64))
    gray = photos[0].mean(axis=2)
    with pytest.raises(ValueError, match="gray"):
        make_tampering_dataset([gray, *photos[1:]], tmp_path / "b", n_images=4, seed=0, size=SIZE)
    with pytest.raises(ValueError, match="splicing"):
        make_tampering_dataset(photos[:1], tmp_path / "c", n_images=4, seed=0, size=SIZE)
    with pytest.raises(ValueError, match="n_images"):
        make_tampering_dataset(photos, tmp_path / "d", n_images=0, seed=0, size=SIZE)
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "old.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        make_tampering_dataset(photos, tmp_path / "e", n_images=4, seed=0, size=SIZE)
    host = photos[0][: SIZE[0], : SIZE[1]]
    with pytest.raises(ValueError, match="donor"):
        tamper_image(host, "splicing", np.random.default_rng(0))
    with pytest.raises(ValueError, match="kind"):
        tamper_image(host, "morphing", np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        tamper_image(host[..., 0], "removal", np.random.default_rng(0))


def test_a_region_moved_on_a_grid_shift_lands_that_far_off_the_block_grid(photos):
    host = photos[0][:64, :96]
    config = TamperConfig(seam_weights=(1.0, 0.0, 0.0), area_range=(0.05, 0.06))
    for shift in ((3, 5), (0, 1), (7, 0)):
        result = tamper_image(host, "copy_move", np.random.default_rng(sum(shift)), config=config, grid_shift=shift)
        assert result.info["grid_shift"] == f"{shift[0]}:{shift[1]}" and result.info["scale"] == "1.0000"
        rows, cols = np.nonzero(result.mask)
        moves = [  # every whole-pixel move that reproduces the region exactly from the host
            (dy, dx) for dy in range(-63, 64) for dx in range(-95, 96)
            if (0 <= rows - dy).all() and (rows - dy < 64).all() and (0 <= cols - dx).all() and (cols - dx < 96).all()
            and np.array_equal(result.image[rows, cols], host[rows - dy, cols - dx])
        ]  # fmt: skip
        assert [(dy % 8, dx % 8) for dy, dx in moves if (dy, dx) != (0, 0)] == [shift]


def test_double_compression_mode_records_each_chain_and_saves_both_classes_alike(tmp_path):
    from skimage import data

    from hyperimage.data.generators.tampering import DOUBLE_JPEG_COLUMNS, DoubleJpeg
    from hyperimage.inference.evidence.jpeg_history import jpeg_history

    photos = [data.coffee()[:256, :320] / 255.0, data.astronaut()[:256, :320] / 255.0, data.chelsea()[:256, :320] / 255.0]
    config = TamperConfig(double_jpeg=DoubleJpeg(quality=(60, 90), min_gap=10))
    records = make_tampering_dataset(photos, tmp_path, n_images=16, seed=2, size=(128, 192), tampered_fraction=0.5, config=config)
    rows = read_rows(tmp_path)
    assert list(rows[0]) == ["image", "label", "group", "mask", "kind", "reference", *DOUBLE_JPEG_COLUMNS]
    orders = {"0": set(), "1": set()}
    for row, record in zip(rows, records, strict=True):
        q1, q2 = int(row["camera_quality"]), int(row["final_quality"])
        assert 60 <= min(q1, q2) and max(q1, q2) <= 90 and abs(q1 - q2) >= 10
        orders[row["label"]].add(q1 < q2)
        with Image.open(record.path) as image:  # every image, authentic or not, is a JPEG at its Q2
            assert image.format == "JPEG" and image.quantization == jpeg_tables(q2)
        if row["label"] == "1":
            assert row["grid"] == row["grid_shift"] == "" and record.extra["format"] == f"jpeg:{q2}"
        else:
            assert row["grid"] in ("aligned", "shifted")
            assert (row["grid_shift"] == "0:0") == (row["grid"] == "aligned")
            assert row["grid"] == "aligned" or row["kind"] != "removal"
            with Image.open(record.reference) as source:  # the host before tampering: the camera JPEG, saved alike
                assert source.quantization == jpeg_tables(q2)
    assert orders == {"0": {True, False}, "1": {True, False}}
    assert {r["grid"] for r in rows if r["label"] == "0"} == {"aligned", "shifted"}
    # The camera's compression is in the file: an authentic image saved again at a much higher
    # quality shows the quantisation step of its quality Q1.
    authentic = next(r for r in records if r.target == 1.0 and int(r.extra["final_quality"]) - int(r.extra["camera_quality"]) >= 20)
    assert jpeg_history(authentic.path).primary[0, 1] == jpeg_tables(int(authentic.extra["camera_quality"]))[0][1]
