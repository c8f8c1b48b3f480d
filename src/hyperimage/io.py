"""Reading images safely.

Every image that enters hyperimage goes through :func:`load_image`, which turns whatever
Pillow can decode into a float32 array in [0, 1] and refuses, with one line naming the
file, anything it cannot trust: missing, empty, unreadable or truncated files, images
larger than a decompression-bomb limit, and images smaller than a minimum size.
16-bit images are scaled from their full range; palette, RGBA, LA and CMYK images are
converted to the requested mode (alpha is composited over white).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

Mode = Literal["L", "RGB"]

#: Largest image accepted, in pixels (about 16k x 16k); larger files are refused as
#: possible decompression bombs before they are decoded.
MAX_PIXELS = 1 << 28

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".ppm", ".pgm")


class ImageError(ValueError):
    """An image file that cannot be used; ``str(err)`` is one line naming the file."""

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


def load_image(
    path: str | os.PathLike,
    mode: Mode = "RGB",
    min_size: tuple[int, int] = (1, 1),
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Read one image file as float32 in [0, 1].

    Parameters
    ----------
    path : file to read.
    mode : ``"L"`` gives (H, W); ``"RGB"`` gives (H, W, 3).
    min_size : smallest accepted (height, width), e.g. one patch of the model's grid.
    max_pixels : larger images are refused as possible decompression bombs.

    Raises
    ------
    ImageError
        One line naming the file and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(path, "no such file")
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageError(path, f"{w}x{h} image exceeds the {max_pixels}-pixel limit (decompression bomb?)")
                img.load()
                arr = _to_mode(img, mode)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(path, f"refused as a possible decompression bomb ({err})") from None
    except UnidentifiedImageError:
        raise ImageError(path, "not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as err:
        msg = " ".join(str(err).split()) or type(err).__name__
        raise ImageError(path, f"unreadable or truncated image ({msg})") from None
    if arr.shape[0] < min_size[0] or arr.shape[1] < min_size[1]:
        raise ImageError(
            path, f"{arr.shape[1]}x{arr.shape[0]} image is smaller than one {min_size[1]}x{min_size[0]} patch"
        )
    return arr


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

