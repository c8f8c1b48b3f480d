"""Colour and intensity distortions of TID2013: #16-#18, #22 and #23.

Parameters follow RankIQA's published TID2013 generator (Liu, van de Weijer & Bagdanov,
ICCV 2017); where it gives four levels (TID2013's levels 2-5), level 1 is a milder value of
our choosing. TID2013 (Ponomarenko et al., Signal Processing: Image Communication 30,
2015) shifts the mean and changes the contrast in both directions, so #16 and #17 draw the
direction from the ``rng``. #18, #22 and #23 exist only for RGB images.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from hyperimage.data.distortions._common import (
    EIGHT_BIT, finish, gaussian_blur, rgb_from_ycbcr, to_uint8, ycbcr_from_rgb,
)
from hyperimage.data.distortions._registry import register


@register(16, "mean_shift", (8, 15, 30, 45, 60))
def mean_shift(image: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """#16: add or subtract (sign drawn from ``rng``) ``shift`` 8-bit grey levels everywhere."""
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return finish(image + sign * shift * EIGHT_BIT)


@register(17, "contrast_change", ((0.9, 1.1), (0.85, 1.2), (0.7, 1.4), (0.55, 1.6), (0.4, 1.8)))
def contrast_change(image: np.ndarray, factors: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """#17: scale deviations from the image mean by a factor below or above 1.

    ``factors`` is (decrease, increase); one is drawn from ``rng`` with equal odds, so a
    level's strength is the same either way. RankIQA's factors, but applied about the mean
    (RankIQA multiplies the raw values, which also darkens or brightens the image).
    """
    factor = factors[0] if rng.random() < 0.5 else factors[1]
    mean = float(image.mean())
    return finish(mean + factor * (image - mean))


@register(18, "colour_saturation_change", (0.7, 0.4, 0.0, -0.4, -0.8), colour_only=True)
def colour_saturation_change(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """#18: scale the chroma (Cb, Cr about neutral) by ``factor``, luminance kept.

    1 would leave the image as it is, 0 makes it gray, negative factors swap hues for their
    complements, as in RankIQA's ladder. Deterministic; RGB only.
    """
    ycc = ycbcr_from_rgb(image)
    ycc[..., 1:] = 0.5 + factor * (ycc[..., 1:] - 0.5)
    return finish(rgb_from_ycbcr(ycc))


@register(22, "colour_quantization_dither", (64, 32, 16, 8, 4), colour_only=True)
def colour_quantization_dither(image: np.ndarray, colours: int, rng: np.random.Generator) -> np.ndarray:
    """#22: reduce to a palette of ``colours`` colours with Floyd-Steinberg error diffusion.

    The palette comes from Pillow's median cut, then the image is mapped to it with
    dithering (MATLAB's ``rgb2ind`` used by RankIQA also dithers by default).
    Deterministic; RGB only.
    """
    pil = Image.fromarray(to_uint8(image))
    palette = pil.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    dithered = pil.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).convert("RGB")
    return np.asarray(dithered, dtype=np.float32) / 255.0


@register(23, "chromatic_aberration", (1, 2, 6, 10, 14), colour_only=True)
def chromatic_aberration(image: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """#23: red and blue shifted horizontally against green, ``shift`` pixels apart, then a slight blur.

    Red moves ``shift / 2`` pixels right and blue ``shift / 2`` left (linear interpolation,
    borders repeated), giving colour fringes at vertical edges; a 3 x 3 Gaussian (sigma 0.5)
    follows, as in RankIQA's generator. Deterministic; RGB only.
    """
    out = image.astype(np.float64)
    for channel, direction in ((0, 1.0), (2, -1.0)):
        out[..., channel] = ndimage.shift(out[..., channel], (0.0, direction * shift / 2), order=1, mode="nearest")
    return finish(gaussian_blur(out, 0.5, radius=1))
