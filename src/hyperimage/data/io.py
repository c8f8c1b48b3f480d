"""Reading images safely.

Every image that enters hyperimage goes through :func:`load_image` (a file, or an open
binary stream such as an upload held in memory), which turns whatever Pillow can decode into
a float32 array in [0, 1] and refuses, with one line naming the file, anything it cannot
trust: missing, empty, unreadable or truncated files, images larger than a
decompression-bomb limit, and images smaller than a minimum size.

The conversion itself is :func:`image_array`, shared by files and Pillow images a caller
already holds (:mod:`hyperimage.inference.predictor`), so both are read alike: the EXIF
orientation is applied (a phone photo stored sideways is turned upright); 16-bit images are
scaled from their full range; palette, RGBA, LA and CMYK images are converted to the
requested mode (alpha is composited over white).
"""

from __future__ import annotations

import os
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

Mode = Literal["L", "RGB"]

#: Largest image accepted, in pixels (16k x 16k); larger files are refused as possible
#: decompression bombs before they are decoded. This, not Pillow's own 89.5-megapixel
#: guard, is the limit: :func:`load_image` sets Pillow's to it while it reads a file.
MAX_PIXELS = 1 << 28

#: EXIF tag of the orientation (1: stored upright; 2-8: mirrored and / or rotated).
ORIENTATION = 0x0112

#: What :func:`load_image` reads: a file's path, or an open binary stream (e.g. ``io.BytesIO``).
Source = str | os.PathLike | BinaryIO

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".ppm", ".pgm")


class ImageError(ValueError):
    """An image that cannot be used; ``str(err)`` is one line naming the file (or, for an image
    held in memory, what the caller calls it, e.g. ``input 2 (array)``); ``reason`` is the line
    without the name."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _to_mode(img: Image.Image, mode: Mode) -> np.ndarray:
    """Convert a decoded Pillow image to a float32 (H, W) or (H, W, 3) array in [0, 1]."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / top, 0.0, 1.0).astype(np.float32)
        return arr if mode == "L" else np.repeat(arr[..., None], 3, axis=2)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ValueError("float image holds NaN or infinity")
        hi = float(arr.max()) if arr.size else 1.0
        arr = np.clip(arr / (255.0 if hi > 1.0 else 1.0), 0.0, 1.0)
        return arr if mode == "L" else np.repeat(arr[..., None], 3, axis=2)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
    img = img.convert(mode)
    return np.asarray(img, dtype=np.float32) / 255.0


def upright(img: Image.Image) -> Image.Image:
    """``img`` turned as its EXIF orientation says (``PIL.ImageOps.exif_transpose``), else ``img`` itself.

    Cameras store a portrait photo as landscape pixels plus an orientation tag; without it a
    heat map would lie on its side and the model would see the photo turned. Unreadable EXIF
    counts as no tag: the image is used as stored, as before orientation was read.
    """
    try:
        orientation = img.getexif().get(ORIENTATION, 1)
    except Exception:  # a damaged EXIF block must not make a good image unreadable
        return img
    return ImageOps.exif_transpose(img) if orientation in range(2, 9) else img


def _unreadable(name: str | os.PathLike, err: BaseException) -> "ImageError":
    msg = " ".join(str(err).split()) or type(err).__name__
    return ImageError(name, f"unreadable or truncated image ({msg})")


def image_array(
    img: Image.Image, mode: Mode = "RGB", min_size: tuple[int, int] = (1, 1), name: str | os.PathLike = "image",
    orient: bool = True,
) -> np.ndarray:
    """A Pillow image as float32 in [0, 1], upright: the conversion of every image hyperimage reads.

    :func:`load_image` applies it to each file; a Pillow image that a caller opened or made
    itself goes through it too, so it is read exactly as the file it came from would be.

    Parameters
    ----------
    img : any mode Pillow has (``L``, ``RGB``, ``RGBA``, ``P``, ``CMYK``, ``I;16``, ``F`` ...);
        a lazily opened image is decoded here.
    mode : ``"L"`` gives (H, W); ``"RGB"`` gives (H, W, 3).
    min_size : smallest accepted (height, width), after the EXIF orientation is applied.
    name : what errors name (the file, or e.g. ``"input 2 (PIL image)"``).
    orient : apply the EXIF orientation (:func:`upright`); forensic evidence reads the pixels
        as stored instead, where they sit on the file's own JPEG 8x8 block grid.

    Raises
    ------
    ImageError
        One line naming ``name``: unreadable or truncated pixels, NaN in a float image, or an
        image smaller than ``min_size``.
    """
    try:
        img.load()
        arr = _to_mode(upright(img) if orient else img, mode)
    except (OSError, SyntaxError, ValueError) as err:
        raise _unreadable(name, err) from None
    return check_size(arr, min_size, name)


def check_size(arr: np.ndarray, min_size: tuple[int, int], name: str | os.PathLike = "image") -> np.ndarray:
    """``arr`` ((H, W[, C])) itself if it is at least ``min_size`` (height, width), else an
    :class:`ImageError` naming ``name`` and both sizes."""
    if arr.shape[0] < min_size[0] or arr.shape[1] < min_size[1]:
        raise ImageError(
            name, f"{arr.shape[1]}x{arr.shape[0]} image is smaller than one {min_size[1]}x{min_size[0]} patch"
        )
    return arr


_PILLOW_LIMIT = threading.Lock()


@contextmanager
def _pillow_limit(max_pixels: int):
    """Pillow's bomb guard (``Image.MAX_IMAGE_PIXELS``, one global) at ``max_pixels`` for the
    block, restored after; the lock keeps threads reading images through here from racing
    on it (other Pillow users in the process see the change only during such a block)."""
    with _PILLOW_LIMIT:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _name_of(source: Source, name: str | os.PathLike | None) -> str | os.PathLike:
    """What an error about ``source`` names: ``name``, else the path, else the stream's ``name``."""
    if name is not None:
        return name
    if isinstance(source, (str, os.PathLike)):
        return source
    return getattr(source, "name", None) or "image stream"


@contextmanager
def opened_image(source: Source, max_pixels: int, name: str | os.PathLike | None = None) -> Iterator[Image.Image]:
    """Open an image file or binary stream lazily (header only) and refuse it, as an
    :class:`ImageError` naming ``name`` (default: the path), if it is missing, empty, not an
    image or over ``max_pixels`` (Pillow's own bomb guard, set to ``max_pixels`` while it reads
    the header); errors while the caller decodes it (truncated, unreadable) become an
    :class:`ImageError` too. A stream is read from its start."""
    label = _name_of(source, name)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(label, "no such file")
        if path.stat().st_size == 0:
            raise ImageError(label, "empty file")
        fp: Path | BinaryIO = path
    else:
        fp = source
        if fp.seek(0, os.SEEK_END) == 0:
            raise ImageError(label, "empty file")
        fp.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _pillow_limit(max_pixels):
                img = Image.open(fp)  # Pillow checks the size against its limit here
            with img:
                yield img
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(label, f"refused as a possible decompression bomb ({err})") from None
    except UnidentifiedImageError:
        raise ImageError(label, "not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise _unreadable(label, err) from None


def load_image(
    path: Source,
    mode: Mode = "RGB",
    min_size: tuple[int, int] = (1, 1),
    max_pixels: int = MAX_PIXELS,
    name: str | os.PathLike | None = None,
    orient: bool = True,
) -> np.ndarray:
    """Read one image file (or binary stream) as float32 in [0, 1], upright unless ``orient``
    is false (:func:`image_array`).

    Parameters
    ----------
    path : file to read, or an open binary stream (e.g. an upload in an ``io.BytesIO``).
    mode : ``"L"`` gives (H, W); ``"RGB"`` gives (H, W, 3).
    min_size : smallest accepted (height, width), e.g. one patch of the model's grid.
    max_pixels : larger images (width x height) are refused as possible decompression bombs;
        Pillow's own guard is set to the same limit while the file is read.
    name : what errors name (default: the path, or the stream's ``name``).

    Raises
    ------
    ImageError
        One line naming the file and what is wrong with it.
    """
    label = _name_of(path, name)
    with opened_image(path, max_pixels, label) as img:
        return image_array(img, mode, min_size, label, orient)


def image_size(path: Source, max_pixels: int = MAX_PIXELS, name: str | os.PathLike | None = None) -> tuple[int, int]:
    """(height, width) of an image file (or binary stream) from its header, without decoding it.

    A cheap first check, e.g. with a tighter ``max_pixels`` than :func:`load_image` uses,
    before an image is decoded; refuses missing, empty and non-image files and decompression
    bombs with :func:`load_image`'s messages (:class:`ImageError`). The size is as stored,
    before any EXIF orientation turns it.
    """
    with opened_image(path, max_pixels, name) as img:
        return img.size[1], img.size[0]


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a float image in [0, 1] ((H, W) or (H, W, 3)) as 8-bit, format from the suffix."""
    arr = np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)


def walk_images(root: str | os.PathLike) -> Iterator[Path]:
    """Image files under ``root`` (recursively, by suffix), one at a time, in sorted order.

    A lazy walk for archives of any size: each folder is read with one ``os.scandir`` and
    sorted by name, and its sub-folders are walked when their turn comes, so the first
    file comes at once and memory holds one folder's names per level, never the whole
    tree. Depth first with names sorted per folder is the order of sorting all the paths
    (paths compare part by part). Links to folders are not followed (as ``Path.rglob``).
    """
    with os.scandir(root) as entries:
        ordered = sorted(entries, key=lambda e: e.name)
    for entry in ordered:
        if entry.is_dir(follow_symlinks=False):
            yield from walk_images(entry.path)
        elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
            yield Path(entry.path)

