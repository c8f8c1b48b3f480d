"""The JPEG history channel (:mod:`hyperimage.inference.evidence.jpeg_history`)."""

from __future__ import annotations

from pathlib import Path

import jpeglib
import numpy as np
import pytest
from PIL import Image
from skimage import data

from hyperimage.inference.evidence import CellGrid, Evidence, analyse, available
from hyperimage.inference.evidence.jpeg_history import FEATURES, JpegUnreadable, jpeg_history

NOT_JPEG = FEATURES.index("not_jpeg")
ADQ = FEATURES.index("adq")

#: The pasted block, in cells of 64 px: rows 2-3, columns 3-4 of a 384 x 512 photo (6 x 8 cells).
PASTED = (slice(2, 4), slice(3, 5))


def save_jpeg(pixels: np.ndarray, path: Path, quality: int, **options) -> Path:
    Image.fromarray(pixels).save(path, format="JPEG", quality=quality, subsampling="4:2:0", **options)
    return path


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """scikit-image's coffee, 384 x 512 (the cup and saucer)."""
    return data.coffee()[:384, :512]


@pytest.fixture(scope="module")
def forged(photo, tmp_path_factory) -> Path:
    """The photo saved at quality 60 (the camera), a 128-px block of another photo (never
    compressed) pasted on the 8x8 grid, saved again at quality 90: aligned double compression
    everywhere but the block."""
    folder = tmp_path_factory.mktemp("forged")
    camera = np.asarray(Image.open(save_jpeg(photo, folder / "camera.jpg", 60))).copy()
    camera[128:256, 192:320] = data.astronaut()[100:228, 100:228]
    return save_jpeg(camera, folder / "forged.jpg", 90)


def test_the_channel_is_registered():
    assert "jpeg" in available()


def test_a_block_pasted_into_a_double_compressed_photo_stands_out(forged):
    evidence = Evidence.read(forged)
    cells = analyse(evidence, ["jpeg"])
    assert cells.shape == (6, 8, len(FEATURES)) and cells.dtype == np.float32
    pasted = np.zeros((6, 8), bool)
    pasted[PASTED] = True
    adq = cells[..., ADQ]
    assert adq[pasted].min() > 0.9 and np.abs(adq[~pasted]).max() < 0.35 and np.median(np.abs(adq[~pasted])) < 0.05
    primary = cells[..., FEATURES.index("primary")]
    assert primary[pasted].min() > 0.3 > 0.1 > primary[~pasted].max()
    assert (cells[..., NOT_JPEG] == 0).all() and evidence.notes == []
    history = jpeg_history(forged)
    assert history.primary[0, 1] == 9 and history.primary[1, 0] == 10  # quality 60: 11 * 0.8 and 12 * 0.8, rounded
    assert 0.05 < history.share_single < 0.2  # the block is 1/12 of the photo


def test_a_block_pasted_on_a_shifted_grid_shows_non_aligned_double_compression(photo, tmp_path):
    camera = np.asarray(Image.open(save_jpeg(photo, tmp_path / "camera.jpg", 70))).copy()
    donor = np.asarray(Image.open(save_jpeg(data.astronaut(), tmp_path / "donor.jpg", 70)))
    camera[128:256, 192:320] = donor[99:227, 109:237]  # the donor's grid lands 5 rows and 3 columns off
    cells = analyse(Evidence.read(save_jpeg(camera, tmp_path / "forged.jpg", 95)), ["jpeg"])
    nadq = cells[..., FEATURES.index("nadq")]
    pasted = np.zeros((6, 8), bool)
    pasted[PASTED] = True
    assert nadq[pasted].min() > nadq[~pasted].max() and nadq[pasted].mean() > 0.3


def test_a_singly_compressed_photo_gives_no_contrast(photo, tmp_path):
    cells = analyse(Evidence.read(save_jpeg(photo, tmp_path / "once.jpg", 80)), ["jpeg"])
    assert (cells[..., [ADQ, FEATURES.index("nadq"), FEATURES.index("primary")]] == 0).all()
    assert (cells[..., NOT_JPEG] == 0).all()


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_file_that_is_not_a_jpeg_gives_zeros_a_flag_and_a_note(photo, tmp_path, suffix):
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(photo[:100, :130]).save(path)
    evidence = Evidence.read(path)
    cells = analyse(evidence, ["jpeg"], CellGrid(32))
    assert cells.shape == (4, 5, len(FEATURES))
    assert (cells[..., NOT_JPEG] == 1).all() and (np.delete(cells, NOT_JPEG, axis=2) == 0).all()
    assert evidence.notes == [f"{path}: not a JPEG; the JPEG channel gives zeros"]


def test_pixels_without_a_file_give_zeros_and_say_so(photo):
    evidence = Evidence(photo[:70, :90])
    cells = analyse(evidence, ["jpeg"])
    assert cells.shape == (2, 2, len(FEATURES)) and (cells[..., NOT_JPEG] == 1).all()
    assert len(evidence.notes) == 1 and "not a JPEG file" in evidence.notes[0]


def test_a_file_held_in_memory_is_read_as_its_file(forged):
    """An upload's bytes give the file's coefficients, without a file on disk; bytes that are
    no JPEG give zeros and a note naming the upload."""
    from_file = analyse(Evidence.read(forged), ["jpeg"])
    held = Evidence.decode(forged.read_bytes(), name="upload.jpg")
    np.testing.assert_array_equal(analyse(held, ["jpeg"]), from_file)
    assert held.notes == []
    png = Evidence.decode(_png_bytes(np.asarray(Image.open(forged))), name="upload.png")
    assert (analyse(png, ["jpeg"])[..., NOT_JPEG] == 1).all()
    assert png.notes == ["upload.png: not a JPEG; the JPEG channel gives zeros"]


def _png_bytes(pixels: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def bad_jpegs(photo: np.ndarray, folder: Path) -> dict[str, Path]:
    """JPEGs the coefficient reader refuses, by the phrase its line carries."""
    whole = save_jpeg(photo, folder / "whole.jpg", 85).read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    Image.fromarray(photo).convert("CMYK").save(folder / "cmyk.jpg", format="JPEG", quality=85)
    with jpeglib.version("9e"):  # the default libjpeg 6b cannot write arithmetic coding
        jpeglib.from_spatial(photo).write_spatial(str(folder / "arithmetic.jpg"), qt=85, flags=["+ARITH_CODE"])
    (folder / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(64))
    return {name: folder / f"{name}.jpg" for name in ("truncated", "cmyk", "arithmetic", "garbage")}


def test_bad_jpegs_give_one_clear_line_each_and_the_batch_goes_on(photo, tmp_path):
    reasons = {"truncated": "truncated JPEG", "cmyk": "CMYK", "arithmetic": "arithmetic-coded", "garbage": "JPEG"}
    for name, path in bad_jpegs(photo[:64, :96], tmp_path).items():
        evidence = Evidence(photo[:64, :96], path)
        cells = analyse(evidence, ["jpeg"])
        assert (cells[..., NOT_JPEG] == 1).all() and (np.delete(cells, NOT_JPEG, axis=2) == 0).all(), name
        assert len(evidence.notes) == 1 and "\n" not in evidence.notes[0], name
        assert evidence.notes[0].startswith(f"{path}: ") and reasons[name] in evidence.notes[0], evidence.notes
        with pytest.raises(JpegUnreadable):
            jpeg_history(path)


def test_pixels_of_another_size_than_the_file_are_refused(photo, tmp_path):
    path = save_jpeg(photo[:64, :96], tmp_path / "small.jpg", 90)
    evidence = Evidence(photo[:72, :96], path)
    assert (analyse(evidence, ["jpeg"])[..., NOT_JPEG] == 1).all()
    assert "64 x 96" in evidence.notes[0]


def test_progressive_grey_and_odd_sizes_are_read_on_their_block_grid(photo, forged, tmp_path):
    pixels = np.asarray(Image.open(forged))
    baseline = analyse(Evidence.read(forged), ["jpeg"])
    progressive = save_jpeg(pixels, tmp_path / "progressive.jpg", 90, progressive=True)
    again = analyse(Evidence.read(forged), ["jpeg"])
    np.testing.assert_array_equal(again, baseline)  # deterministic
    # A progressive file holds the same quantised coefficients as a baseline one of the same pixels.
    resaved = save_jpeg(pixels, tmp_path / "baseline.jpg", 90)
    np.testing.assert_array_equal(analyse(Evidence.read(progressive), ["jpeg"]), analyse(Evidence.read(resaved), ["jpeg"]))
    grey = tmp_path / "grey.jpg"
    Image.fromarray(photo[:101, :133, 1]).save(grey, quality=75)
    for grid in (CellGrid(), CellGrid(16)):
        evidence = Evidence.read(grey)
        cells = analyse(evidence, ["jpeg"], grid)
        assert cells.shape == (*grid.shape(101, 133), len(FEATURES)) and np.isfinite(cells).all()
        assert evidence.notes == []
