import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from hyperimage.data.io import MAX_PIXELS, ImageError, image_array, image_size, load_image, save_image


def _png(tmp_path, arr, mode=None, name="a.png"):
    path = tmp_path / name
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def test_reads_gray_and_rgb_in_unit_range(tmp_path):
    arr = (np.arange(48 * 40) % 256).astype(np.uint8).reshape(48, 40)
    path = _png(tmp_path, arr)
    gray = load_image(path, mode="L")
    rgb = load_image(path, mode="RGB")
    assert gray.shape == (48, 40) and rgb.shape == (48, 40, 3)
    assert gray.dtype == np.float32 and gray.max() <= 1.0
    np.testing.assert_allclose(gray * 255, arr, atol=1e-4)


def test_sixteen_bit_is_scaled_from_full_range(tmp_path):
    arr = np.array([[0, 32768], [65535, 1000]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    out = load_image(path, mode="L")
    np.testing.assert_allclose(out, arr / 65535.0, atol=1e-6)


def test_rgba_palette_and_cmyk_are_converted(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:4, :, 3] = 255  # top opaque red, bottom transparent -> white
    out = load_image(_png(tmp_path, rgba, name="rgba.png"))
    assert out[0, 0].tolist() == [1.0, 0.0, 0.0] and out[7, 7].tolist() == [1.0, 1.0, 1.0]
    pal = Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).convert("P")
    pal.save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (8, 8, 3)
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(tmp_path / "c.jpg")
    assert load_image(tmp_path / "c.jpg").min() > 0.9  # no ink -> white


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(b"this is not an image"), "not an image"),
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path, make, reason):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(ImageError) as err:
        load_image(path)
    msg = str(err.value)
    assert str(path) in msg and reason in msg and "\n" not in msg


def test_truncated_file(tmp_path):
    path = _png(tmp_path, np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated"):
        load_image(path)


def test_too_small_and_decompression_bomb(tmp_path):
    path = _png(tmp_path, np.zeros((20, 30), np.uint8))
    with pytest.raises(ImageError, match="smaller than one 32x32 patch"):
        load_image(path, min_size=(32, 32))
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(path, max_pixels=100)


def test_image_size_reads_the_header_and_refuses_like_load_image(tmp_path):
    path = _png(tmp_path, np.zeros((20, 30), np.uint8))
    assert image_size(path) == (20, 30)
    with pytest.raises(ImageError, match=r"refused as a possible decompression bomb \(Image size \(600 pixels\) exceeds limit of 599"):
        image_size(path, max_pixels=599)
    assert image_size(path, max_pixels=600) == (20, 30)
    (tmp_path / "bad.png").write_bytes(b"this is not an image")
    with pytest.raises(ImageError, match="not an image"):
        image_size(tmp_path / "bad.png")


def test_save_round_trip(tmp_path):
    arr = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    save_image(tmp_path / "x.png", arr)
    np.testing.assert_allclose(load_image(tmp_path / "x.png", "L"), np.rint(arr * 255) / 255, atol=1e-6)


def _png_header(path, width, height):
    """A PNG whose header claims ``width`` x ``height`` gray pixels but holds no pixel data."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b""))
    return path


def test_the_bomb_limit_is_max_pixels_not_pillows(tmp_path, monkeypatch):
    assert Image.MAX_IMAGE_PIXELS < 12000 * 12000 < MAX_PIXELS < 20000 * 20000
    under = _png_header(tmp_path / "under.png", 12000, 12000)  # over Pillow's default guard, under ours
    with pytest.raises(ImageError, match="truncated"):  # read up to its missing pixels: not refused by size
        load_image(under)
    over = _png_header(tmp_path / "over.png", 20000, 20000)
    with pytest.raises(ImageError, match=f"decompression bomb .*exceeds limit of {MAX_PIXELS} pixels"):
        load_image(over)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # another user's Pillow setting...
    path = _png(tmp_path, np.zeros((20, 30), np.uint8))
    assert load_image(path, mode="L").shape == (20, 30)  # ...does not decide for load_image
    assert Image.MAX_IMAGE_PIXELS == 100  # and is left as it was


def test_the_bomb_limit_at_both_sides_of_the_exact_size(tmp_path):
    path = _png(tmp_path, np.zeros((20, 30), np.uint8))
    assert load_image(path, mode="L", max_pixels=600).shape == (20, 30)
    with pytest.raises(ImageError, match=f"^{path}: refused as a possible decompression bomb .*600 pixels"):
        load_image(path, max_pixels=599)


def _oriented(arr, orientation, path):
    """``arr`` saved as PNG with an EXIF orientation tag."""
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(path, exif=exif)
    return path


def test_exif_orientation_turns_the_image_upright(tmp_path):
    upright = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    # orientation 6: the stored pixels must be turned 90 degrees clockwise to be upright
    stored = np.rot90(upright, k=1)  # upright turned counter-clockwise, as a sideways camera stores it
    path = _oriented(np.ascontiguousarray(stored), 6, tmp_path / "sideways.png")
    assert image_size(path) == (30, 20)  # the header's size, as stored
    out = load_image(path)
    assert out.shape == (20, 30, 3)
    np.testing.assert_array_equal(np.rint(out * 255).astype(np.uint8), upright)
    with Image.open(path) as img:  # the same conversion for an image already open
        np.testing.assert_array_equal(image_array(img), out)


def test_sixteen_bit_with_an_orientation_tag(tmp_path):
    arr = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 3  # turned 180 degrees
    img.save(tmp_path / "deep.png", exif=exif)
    np.testing.assert_allclose(load_image(tmp_path / "deep.png", mode="L"), arr[::-1, ::-1] / 65535.0, atol=1e-6)


def test_a_stream_is_read_like_its_file_and_errors_name_it(tmp_path):
    import io

    path = _png(tmp_path, np.random.default_rng(1).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    buf = io.BytesIO(path.read_bytes())
    np.testing.assert_array_equal(load_image(buf), load_image(path))
    assert image_size(buf) == (40, 50)
    with pytest.raises(ImageError, match="^upload.png: empty file$"):
        load_image(io.BytesIO(b""), name="upload.png")
    with pytest.raises(ImageError, match="^image stream: not an image Pillow can read$"):
        load_image(io.BytesIO(b"nonsense"))
    with pytest.raises(ImageError, match="^held: 50x40 image is smaller than one 64x64 patch$"):
        with Image.open(path) as img:
            image_array(img, min_size=(64, 64), name="held")
