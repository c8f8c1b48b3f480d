"""Noise distortions of TID2013: #1-#7 and #19.

Parameters follow the generator that RankIQA published for TID2013-like data (Liu, van de
Weijer & Bagdanov, "RankIQA: Learning from Rankings for No-reference Image Quality
Assessment", ICCV 2017), which gives four levels matching TID2013's levels 2-5. TID2013
(Ponomarenko et al., "Image database TID2013: Peculiarities, results and perspectives",
Signal Processing: Image Communication 30, 2015) added a milder first level (PSNR near
33 dB) to TID2008's four, so each ladder here starts with a milder value of our choosing.
Types RankIQA does not generate (#3, #4) reuse the variances of #1. Variances are on the
[0, 1] scale (MATLAB ``imnoise`` convention).
"""

from __future__ import annotations

import numpy as np

from hyperimage.data.distortions._common import (
    EIGHT_BIT, filtered_noise, finish, gaussian_blur, luminance, rgb_from_ycbcr, ycbcr_from_rgb,
)
from hyperimage.data.distortions._registry import register

#: Noise variance of levels 1-5 of #1, #3, #4, #5 and #9 (RankIQA's four, after 0.0005).
NOISE_VARIANCE = (0.0005, 0.001, 0.005, 0.01, 0.05)

#: Noise standard deviation in luminance relative to that in the chroma channels (#2).
LUMA_TO_CHROMA_STD = 0.5


@register(1, "additive_gaussian_noise", NOISE_VARIANCE, family="noise")
def additive_gaussian_noise(image: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """#1: white Gaussian noise of ``variance``, independent in every pixel and channel."""
    return finish(image + np.sqrt(variance) * rng.standard_normal(image.shape))


@register(2, "colour_component_noise", (0.007, 0.014, 0.0198, 0.0343, 0.0524), colour_only=True)
def colour_component_noise(image: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """#2: additive noise stronger in the colour components than in luminance.

    White Gaussian noise is added in full-range YCbCr: ``variance`` in Cb and Cr (RankIQA's
    values), and a standard deviation :data:`LUMA_TO_CHROMA_STD` times as large in Y (RankIQA
    adds equal noise to all three, which does not match TID2013's definition). RGB only.
    """
    std = np.sqrt(variance) * np.array([LUMA_TO_CHROMA_STD, 1.0, 1.0])
    return finish(rgb_from_ycbcr(ycbcr_from_rgb(image) + std * rng.standard_normal(image.shape)))


@register(3, "spatially_correlated_noise", NOISE_VARIANCE)
def spatially_correlated_noise(image: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """#3: Gaussian noise low-pass filtered (Gaussian kernel, sigma 1 px) to correlate neighbours.

    The filtered noise is rescaled so that ``variance`` is the variance actually added.
    """
    noise = filtered_noise(image.shape, rng, lambda x: gaussian_blur(x, 1.0))
    return finish(image + np.sqrt(variance) * noise)


@register(4, "masked_noise", NOISE_VARIANCE)
def masked_noise(image: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """#4: noise whose strength follows local image activity, so texture masks it.

    The noise standard deviation at each pixel is proportional to the local standard
    deviation of luminance (Gaussian window, sigma 2 px), scaled so that its mean power is
    ``variance``: busy regions get much noise, flat ones little. A flat image, having no
    activity to follow, gets uniform noise.
    """
    y = luminance(image).astype(np.float64)
    mean = gaussian_blur(y, 2.0)
    activity = np.sqrt(np.maximum(gaussian_blur(y * y, 2.0) - mean * mean, 0.0))
    rms = float(np.sqrt(np.mean(activity**2)))
    weight = activity / rms if rms > 1e-6 else np.ones_like(activity)
    if image.ndim == 3:
        weight = weight[..., None]
    return finish(image + np.sqrt(variance) * weight * rng.standard_normal(image.shape))


@register(5, "high_frequency_noise", NOISE_VARIANCE)
def high_frequency_noise(image: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """#5: Gaussian noise high-pass filtered (white minus its Gaussian low-pass, sigma 1 px).

    Rescaled so that ``variance`` is the variance actually added.
    """
    noise = filtered_noise(image.shape, rng, lambda x: x - gaussian_blur(x, 1.0))
    return finish(image + np.sqrt(variance) * noise)


@register(6, "impulse_noise", (0.0025, 0.005, 0.01, 0.05, 0.1))
def impulse_noise(image: np.ndarray, density: float, rng: np.random.Generator) -> np.ndarray:
    """#6: salt-and-pepper noise: a ``density`` fraction of samples set to 0 or 1 (half each).

    Each channel of each pixel is hit independently, as MATLAB's ``imnoise``.
    """
    u = rng.random(image.shape)
    return finish(np.where(u < density / 2, 0.0, np.where(u < density, 1.0, image)))


@register(7, "quantization_noise", (20, 27, 39, 55, 76))
def quantization_noise(image: np.ndarray, step: int, rng: np.random.Generator) -> np.ndarray:
    """#7: uniform quantization of every channel with a ``step`` given in 8-bit grey levels.

    RankIQA derives its number of thresholds as 255 / step for steps 27, 39, 55 and 76
    (uniform quantization with them gives about 30, 27, 24 and 21 dB, TID2008's ladder);
    step 20 adds TID2013's milder 33 dB level. Deterministic: ``rng`` is not used.
    """
    q = step * EIGHT_BIT
    return finish(np.round(image / q) * q)


@register(19, "multiplicative_gaussian_noise", (0.03, 0.05, 0.09, 0.13, 0.2))
def multiplicative_gaussian_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """#19: speckle ``image * (1 + std * n)`` with standard normal ``n`` per pixel and channel."""
    return finish(image * (1.0 + std * rng.standard_normal(image.shape)))
