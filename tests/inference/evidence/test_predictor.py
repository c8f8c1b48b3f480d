"""A forensic model through ``hyperimage.load`` (:mod:`hyperimage.inference.evidence.predictor`)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import hyperimage
from hyperimage.data.io import ImageError
from hyperimage.inference.evidence import CHANNELS, CellGrid
from hyperimage.inference.evidence.model import ForensicModel, given_tampered
from hyperimage.inference.evidence.predictor import ForensicPredictor, evidence_of
from hyperimage.inference.explain import panel_figure

CHANNELS_USED = ["noise", "jpeg"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    torch.manual_seed(0)
    depth = sum(len(CHANNELS.get(n).features) for n in CHANNELS_USED)
    out = tmp_path_factory.mktemp("forensic") / "model"
    ForensicModel(CHANNELS_USED, (np.zeros(depth), np.ones(depth)), threshold=0.3, width=8).save(out)
    return out


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 100 x 140 JPEG turned by its EXIF tag: the evidence keeps the stored layout."""
    rng = np.random.default_rng(0)
    pixels = np.clip(rng.normal(128, 30, (100, 140, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6
    path = tmp_path_factory.mktemp("photo") / "photo.jpg"
    image.save(path, quality=85, exif=exif)
    return path


def test_load_gives_a_predictor_used_like_the_shipped_ones(folder, photo):
    forensic = hyperimage.load(folder)
    assert isinstance(forensic, ForensicPredictor)
    shipped = hyperimage.load("forgery").info
    info = forensic.info
    assert (info.score_name, info.range, info.higher_is_better, info.task) == (shipped.score_name, shipped.range, True, shipped.task)
    assert info.threshold == 0.3 and info.folder == folder and "noise, jpeg" in info.description
    score = forensic.score(photo)
    assert 0.0 <= score <= 1.0 and forensic(photo) == score
    assert forensic.score([photo, photo.read_bytes(), io.BytesIO(photo.read_bytes())]) == pytest.approx([score] * 3, abs=1e-6)
    with pytest.raises(ValueError, match="a forensic evidence model computes in float32 only, not bfloat16$"):
        hyperimage.load(folder, precision="bfloat16")


def test_pixels_without_their_file_read_the_same_but_lose_the_jpeg_channel(folder, photo):
    forensic = hyperimage.load(folder)
    stored = np.asarray(Image.open(photo))  # as stored: PIL does not turn it
    from_array = forensic.explain(stored)
    from_file = forensic.explain(photo)
    assert from_file.notes == () and from_file.image.shape == (100, 140, 3)
    np.testing.assert_array_equal(from_array.channels["noise"], from_file.channels["noise"])
    assert len(from_array.notes) == 1 and "not a JPEG file; the JPEG channel gives zeros" in from_array.notes[0]
    assert from_array.evidence.readings[1].figures()["max"]["not_jpeg"] == 1.0
    assert forensic.score(Image.open(photo)) == pytest.approx(from_array.score, abs=1e-6)


def test_explain_returns_each_channel_map_and_the_combined_one(folder, photo):
    forensic = hyperimage.load(folder)
    e = forensic.explain(photo, channels="all")
    assert list(e.channels) == [name for name, _ in CHANNELS.items()]
    assert all(m.shape == (2, 3) for m in e.channels.values()) and e.cells.shape == (2, 3)
    assert e.heat.shape == (100, 140) and e.score == pytest.approx(forensic.score(photo), abs=1e-6)
    assert ((0 <= e.cells) & (e.cells <= 1)).all() and e.authentic == (e.score >= 0.3)
    panels = e.panels
    assert len(panels) == len(CHANNELS.available()) + 2
    assert panels[0].title == CHANNELS.get("copy-move").legend and panels[-1].scale.high == 1.0
    assert panels[-2].title.startswith("combined") and panels[-1].title.startswith("where, if tampered")
    figure = panel_figure(panels, e.title)
    assert len([ax for ax in figure.axes if ax.get_title()]) == len(panels)
    assert forensic.explain(photo).channels.keys() == set(CHANNELS_USED)  # by default the model's own


def test_bad_inputs_are_one_line(folder, tmp_path):
    forensic = hyperimage.load(folder)
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(ImageError, match="cut.jpg"):
        forensic.score(tmp_path / "cut.jpg")
    with pytest.raises(ImageError, match="input 1 \\(array\\): array of shape"):
        forensic.score([np.zeros((8, 8, 3), np.uint8), np.zeros((2, 8, 8, 3))])
    with pytest.raises(ValueError, match="unknown evidence channel 'x'"):
        forensic.explain(np.zeros((8, 8, 3), np.uint8), channels="x")


def test_evidence_of_reads_as_stored_at_native_size(photo):
    evidence = evidence_of(photo)
    assert evidence.path == photo and evidence.size == (100, 140)
    held = evidence_of(photo.read_bytes(), "upload.jpg")
    assert held.data == photo.read_bytes() and held.name == "upload.jpg"
    np.testing.assert_array_equal(held.pixels, evidence.pixels)
    floats = evidence_of(evidence.pixels.astype(np.float32) / 255)
    np.testing.assert_array_equal(floats.pixels, evidence.pixels)
    assert CellGrid().spread(np.arange(6.0).reshape(2, 3), 100, 140)[99, 139] == 5.0


def test_the_map_given_tampered_is_the_cells_over_the_probability_of_tampering():
    cells = np.array([[0.05, 0.2], [0.4, 0.01]], np.float32)
    np.testing.assert_allclose(given_tampered(0.6, cells), [[0.125, 0.5], [1.0, 0.025]], rtol=1e-6)  # P(tampered) 0.4; 0.4 / 0.4 = 1
    assert given_tampered(1.0, cells).max() == 1.0 and given_tampered(0.0, cells).tolist() == cells.tolist()
