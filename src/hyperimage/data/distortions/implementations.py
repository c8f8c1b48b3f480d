"""Other code for the damage the level check scores: JPEG, blur and noise, each made several ways.

TID2013's #10 (JPEG through Pillow, 4:2:0 chroma), #8 (a Gaussian kernel through SciPy) and #1
(white Gaussian noise added to each sRGB channel) are one implementation each, and the RankIQA
rankings the quality models pre-train on were made with them. A model can learn the code instead
of the damage (one encoder's blocks, one kernel's profile): the shipped quality model's score
fell with the level of JPEG, blur and noise made by code independent of the project at a mean
SROCC of 0.781 (issue 33), against 0.947 for the project's own. Here each family has further
implementations, each a type of its own (numbers after TID2013's 24), so that rankings can mix
them and the level check can score a family with an implementation no training used
(leave-one-implementation-out):

- **jpeg**: OpenCV's encoder (its own libjpeg-turbo build, 4:2:0), and Pillow at 4:4:4 (no
  chroma subsampling);
- **blur**: Pillow's Gaussian (three box passes), OpenCV's box filter, a defocus disc, and a
  straight motion blur at an angle drawn from ``rng``;
- **noise**: Gaussian noise in luminance only (the same in every channel), Gaussian noise
  added in linear light (IEC 61966-2-1's sRGB curve; stronger in the shadows once encoded),
  and Poisson shot noise (a sensor's photon count, signal-dependent).

Their levels run from mild to strong over about the range of the held-out check of issue 33
(JPEG quality 60 to 7, blur radius 1 to 6 px, noise 6 to 40 grey levels at mid-grey).
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageFilter

from hyperimage.data.distortions._common import channels, decode, encode, finish, to_uint8
from hyperimage.data.distortions._registry import available, get, register

#: The families with more than one implementation, as ``Distortion.family`` names them.
FAMILIES = ("jpeg", "blur", "noise")

JPEG_QUALITY = (60, 35, 20, 12, 7)


def srgb_to_linear(image: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear light (IEC 61966-2-1)."""
    return np.where(image <= 0.04045, image / 12.92, ((image + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] to sRGB-encoded values (IEC 61966-2-1)."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def _filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``image`` convolved with ``kernel`` per channel (OpenCV), borders mirrored."""
    return finish(cv2.filter2D(image.astype(np.float32), -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101))


@register(25, "jpeg_opencv", JPEG_QUALITY, family="jpeg", implementation="opencv")
def jpeg_opencv(image: np.ndarray, quality: int, rng: np.random.Generator) -> np.ndarray:
    """JPEG at ``quality`` through OpenCV's encoder and decoder (4:2:0 chroma). Deterministic."""
    pixels = to_uint8(image)
    bgr = pixels if pixels.ndim == 2 else pixels[..., ::-1]
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not encode a JPEG at quality {quality}")
    decoded = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE if pixels.ndim == 2 else cv2.IMREAD_COLOR)
    return (decoded if decoded.ndim == 2 else decoded[..., ::-1]).astype(np.float32) / 255.0


@register(26, "jpeg_444", JPEG_QUALITY, family="jpeg", implementation="pillow-444")
def jpeg_444(image: np.ndarray, quality: int, rng: np.random.Generator) -> np.ndarray:
    """JPEG at ``quality`` through Pillow with full-resolution chroma (4:4:4). Deterministic."""
    return decode(encode(image, "JPEG", quality=int(quality), subsampling=0), channels(image))


@register(27, "blur_pillow", (1.0, 1.8, 2.8, 4.2, 6.0), family="blur", implementation="pillow")
def blur_pillow(image: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Pillow's ``GaussianBlur(radius)`` (an extended box blur, three passes), on the 8-bit image. Deterministic."""
    blurred = Image.fromarray(to_uint8(image)).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(blurred, dtype=np.float32) / 255.0


@register(28, "blur_box", (3, 5, 9, 13, 19), family="blur", implementation="opencv-box")
def blur_box(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """OpenCV's ``blur``: the mean of a ``size`` x ``size`` box. Deterministic."""
    return finish(cv2.blur(image.astype(np.float32), (size, size), borderType=cv2.BORDER_REFLECT_101))


@register(29, "defocus_blur", (1.5, 2.5, 4.0, 6.0, 9.0), family="blur", implementation="disc")
def defocus_blur(image: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """An out-of-focus lens: a uniform disc of ``radius`` pixels (edges anti-aliased by 4 x 4
    supersampling). Deterministic."""
    half = int(np.ceil(radius))
    offsets = (np.arange(4) + 0.5) / 4 - 0.5
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    inside = sum((((y + dy) ** 2 + (x + dx) ** 2) <= radius**2).astype(np.float64) for dy in offsets for dx in offsets)
    return _filter(image, inside / inside.sum())


@register(30, "motion_blur", (5, 9, 15, 23, 33), family="blur", implementation="motion")
def motion_blur(image: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Camera shake along a straight line of ``length`` pixels at an angle drawn from ``rng``
    (an anti-aliased line kernel)."""
    angle = rng.uniform(0.0, np.pi)
    kernel = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    ends = [(round((c - s * c * np.cos(angle)) * 16), round((c - s * c * np.sin(angle)) * 16)) for s in (1, -1)]
    cv2.line(kernel, ends[0], ends[1], 1.0, 1, cv2.LINE_AA, shift=4)  # end points in 1/16 px
    return _filter(image, kernel / kernel.sum())


#: Noise standard deviations (of [0, 1] values) of the luminance-noise levels: 6 to 40 grey levels.
NOISE_STD = (6 / 255, 11 / 255, 18 / 255, 27 / 255, 40 / 255)


@register(31, "luminance_noise", NOISE_STD, family="noise", implementation="luminance")
def luminance_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise of ``std``, one value per pixel added to every channel (grey grain)."""
    noise = std * rng.standard_normal(image.shape[:2])
    return finish(image + (noise if image.ndim == 2 else noise[..., None]))


@register(32, "linear_light_noise", (0.022, 0.04, 0.065, 0.1, 0.145), family="noise", implementation="linear-light")
def linear_light_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise of ``std`` in linear light, per channel, encoded back to sRGB: the
    same noise is stronger in the shadows than in the highlights once encoded."""
    return finish(linear_to_srgb(srgb_to_linear(image.astype(np.float64)) + std * rng.standard_normal(image.shape)))


@register(33, "shot_noise", (450, 135, 50, 22, 10), family="noise", implementation="poisson")
def shot_noise(image: np.ndarray, full_well: float, rng: np.random.Generator) -> np.ndarray:
    """Photon shot noise: each channel's linear light as a Poisson count of at most
    ``full_well`` photons, encoded back to sRGB (noise grows with the signal, as on a sensor)."""
    linear = srgb_to_linear(image.astype(np.float64))
    return finish(linear_to_srgb(rng.poisson(linear * full_well) / full_well))


#: Leave-one-implementation-out folds: per fold, the implementation of each family that its
#: training leaves out, for the level check to score the family with.
HELD_OUT = {
    "a": ("jpeg_opencv", "blur_pillow", "linear_light_noise"),
    "b": ("jpeg_444", "blur_box", "shot_noise"),
}


def family_types(fold: str | None = None, held_out: bool = False) -> tuple[int, ...]:
    """The types of every family (the project's #1, #8, #10 and the others here), by number:
    with ``fold``, those its training may use (less the fold's :data:`HELD_OUT`), or with
    ``held_out`` those it leaves out. ValueError for an unknown fold."""
    if fold is not None and fold not in HELD_OUT:
        raise ValueError(f"unknown leave-one-implementation-out fold {fold!r}: {', '.join(HELD_OUT)}")
    left_out = {get(name).number for name in HELD_OUT[fold]} if fold is not None else set()
    if held_out:
        return tuple(sorted(left_out))
    return tuple(d.number for d in available() if d.family is not None and d.number not in left_out)
