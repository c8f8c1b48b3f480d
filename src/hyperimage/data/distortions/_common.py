"""Helpers shared by the distortion families: input checks, colour space, codecs, filters.

Images are float32 arrays in [0, 1], (H, W) gray or (H, W, 3) RGB. Parameters that the
published generators give in 8-bit units are converted with :data:`EIGHT_BIT`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

#: One 8-bit grey step on the [0, 1] scale.
EIGHT_BIT = 1.0 / 255.0

#: Pixels of a TID2013 image (512 x 384); counts of pasted patches are given for this size.
TID_AREA = 512 * 384

# Full-range ITU-R BT.601 (the JPEG/JFIF definition): rows give Y, Cb - 1/2, Cr - 1/2.
_RGB_TO_YCBCR = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
    dtype=np.float64,
)
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)
_CHROMA_OFFSET = np.array([0.0, 0.5, 0.5])


def check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as float32 after checking it is (H, W) or (H, W, 3), finite, in [0, 1].

    Raises
    ------
    ValueError
        Naming the bad shape, dtype or value range.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"image must have shape (H, W) or (H, W, 3), got {image.shape}")
    if image.dtype.kind != "f":
        raise ValueError(f"image must be a float array in [0, 1], got dtype {image.dtype}")
    if image.size == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError("image holds NaN or infinity")
    lo, hi = float(image.min()), float(image.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"image values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
    return image.astype(np.float32, copy=False)


def check_min_size(image: np.ndarray, size: int, what: str) -> None:
    """Raise ValueError when ``image`` is smaller than ``size`` pixels on a side."""
    h, w = image.shape[:2]
    if h < size or w < size:
        raise ValueError(f"{what} needs an image of at least {size}x{size} pixels, got {w}x{h}")


def finish(image: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and cast to float32: the last step of every distortion."""
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def ycbcr_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """Full-range YCbCr (JPEG/JFIF, chroma centred on 1/2) of an (H, W, 3) RGB image in [0, 1]."""
    return rgb.astype(np.float64) @ _RGB_TO_YCBCR.T + _CHROMA_OFFSET


def rgb_from_ycbcr(ycbcr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`ycbcr_from_rgb` (not clipped)."""
    return (ycbcr - _CHROMA_OFFSET) @ _YCBCR_TO_RGB.T


def luminance(image: np.ndarray) -> np.ndarray:
    """(H, W) luma Y of an RGB image; a gray image is its own luminance."""
    return image if image.ndim == 2 else ycbcr_from_rgb(image)[..., 0]


def spatial(image: np.ndarray, value: float) -> tuple[float, ...]:
    """A per-axis filter parameter that acts on rows and columns but not across channels."""
    return (value, value) if image.ndim == 2 else (value, value, 0)


def gaussian_blur(image: np.ndarray, sigma: float, radius: int | None = None) -> np.ndarray:
    """Gaussian low-pass per channel with mirrored borders (MATLAB's ``'symmetric'``).

    ``radius`` cuts the kernel at that many pixels (default: 4 sigma).
    """
    return ndimage.gaussian_filter(
        image, sigma=spatial(image, sigma), mode="reflect", radius=None if radius is None else spatial(image, radius)
    )


def filtered_noise(
    shape: tuple[int, ...], rng: np.random.Generator, response: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """White Gaussian noise passed through a linear filter and rescaled to unit variance.

    ``response`` maps an array to its filtered version; its gain is measured on an impulse,
    so the output has unit variance whatever the filter, and a level's variance stays the
    variance actually added.
    """
    impulse = np.zeros((65, 65))
    impulse[32, 32] = 1.0
    gain = math.sqrt(float(np.sum(response(impulse) ** 2)))
    return response(rng.standard_normal(shape)) / gain


def scaled_count(count: int, shape: tuple[int, ...]) -> int:
    """``count`` (given for a 512 x 384 TID2013 image) scaled to this image's area, at least 1."""
    return max(1, round(count * shape[0] * shape[1] / TID_AREA))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round a [0, 1] image to 8 bits, as every stored image is."""
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def encode(image: np.ndarray, fmt: str, **options) -> bytes:
    """Compress an image in memory with Pillow (``fmt`` e.g. ``"JPEG"``, ``"JPEG2000"``)."""
    buf = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buf, fmt, **options)
    return buf.getvalue()


def decode(data: bytes, channels: int) -> np.ndarray:
    """Decode an in-memory image to float32 in [0, 1] with ``channels`` (1 or 3) channels.

    Raises
    ------
    OSError
        When Pillow cannot decode ``data`` (e.g. a damaged code stream).
    """
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("L" if channels == 1 else "RGB")
        return np.asarray(img, dtype=np.float32) / 255.0


def channels(image: np.ndarray) -> int:
    """1 for (H, W), 3 for (H, W, 3)."""
    return 1 if image.ndim == 2 else image.shape[2]


def jpeg_options(quality: int) -> dict:
    """Pillow JPEG settings of the IJG/MATLAB encoder: given quality, 4:2:0 chroma."""
    return {"quality": int(quality), "subsampling": 2}


def jpeg2000_options(image: np.ndarray, ratio: float) -> dict:
    """Pillow/OpenJPEG JPEG2000 settings: one quality layer at compression ``ratio``, 9/7 wavelet.

    The colour transform (``mct``) applies to RGB only.
    """
    return {
        "quality_mode": "rates",
        "quality_layers": [float(ratio)],
        "irreversible": True,
        "mct": 1 if image.ndim == 3 else 0,
    }


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Compress with JPEG at ``quality`` and decode, all in memory."""
    return decode(encode(image, "JPEG", **jpeg_options(quality)), channels(image))


def jpeg2000_roundtrip(image: np.ndarray, ratio: float) -> np.ndarray:
    """Compress with JPEG2000 at compression ``ratio`` and decode, all in memory."""
    return decode(encode(image, "JPEG2000", **jpeg2000_options(image, ratio)), channels(image))
