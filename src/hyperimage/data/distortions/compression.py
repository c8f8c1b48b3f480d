"""Blur, restoration and compression distortions of TID2013: #8-#11, #20, #21 and #24.

JPEG and JPEG2000 run through Pillow (libjpeg and its bundled OpenJPEG) in memory.
Parameters of #8-#11 follow RankIQA's published TID2013 generator (Liu, van de Weijer &
Bagdanov, ICCV 2017), whose four levels match TID2013's levels 2-5; level 1 is a milder
value of our choosing, as TID2013 (Ponomarenko et al., Signal Processing: Image
Communication 30, 2015) added a mild first level to TID2008's four. RankIQA does not
generate #20, #21 and #24: they are re-implemented from TID2013's description, with
parameters of our choosing whose PSNR falls at every level (on skimage's astronaut at
512 x 384: #20 about 30 to 23 dB, #21 33 to 26 dB, #24 32 to 16 dB).
"""

from __future__ import annotations

import numpy as np
from scipy import fft
from skimage.restoration import denoise_nl_means

from hyperimage.data.distortions import _common
from hyperimage.data.distortions._common import channels, finish, jpeg2000_roundtrip, jpeg_roundtrip
from hyperimage.data.distortions._registry import register
from hyperimage.data.distortions.noise import NOISE_VARIANCE

#: Iterations of the sparse reconstruction of #24.
SPARSE_ITERATIONS = 30


@register(8, "gaussian_blur", (5, 7, 15, 39, 91), family="blur")
def gaussian_blur(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """#8: Gaussian blur with a ``size`` x ``size`` kernel of sigma ``size / 6``.

    MATLAB's ``fspecial('gaussian', size, size / 6)`` with mirrored borders, as RankIQA's
    generator uses. Deterministic.
    """
    return finish(_common.gaussian_blur(image, size / 6.0, radius=(size - 1) // 2))


@register(9, "image_denoising", NOISE_VARIANCE)
def image_denoising(image: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """#9: what a denoiser leaves of white Gaussian noise of ``variance``.

    The noisy image is denoised by non-local means (Buades, Coll & Morel, CVPR 2005;
    scikit-image, 5x5 patches, search distance 6, filter strength 0.8 sigma, the noise sigma
    known). TID2013 and RankIQA use BM3D, which is not available in the project's
    dependencies; NL-means is the closest patch-based denoiser at hand and leaves the same
    kind of residue (smoothed texture, blotches).
    """
    sigma = float(np.sqrt(variance))
    noisy = np.clip(image + sigma * rng.standard_normal(image.shape), 0.0, 1.0)
    denoised = denoise_nl_means(
        noisy,
        patch_size=5,
        patch_distance=6,
        h=0.8 * sigma,
        sigma=sigma,
        fast_mode=True,
        channel_axis=-1 if image.ndim == 3 else None,
    )
    return finish(denoised.reshape(image.shape))  # scikit-image drops a length-1 row axis


@register(10, "jpeg", (75, 43, 12, 7, 4), family="jpeg")
def jpeg(image: np.ndarray, quality: int, rng: np.random.Generator) -> np.ndarray:
    """#10: JPEG compression at IJG ``quality`` (4:2:0 chroma for RGB). Deterministic."""
    return jpeg_roundtrip(image, quality)


@register(11, "jpeg2000", (24.0, 24 / 0.46, 24 / 0.16, 24 / 0.07, 24 / 0.04))
def jpeg2000(image: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """#11: JPEG2000 compression (9/7 wavelet, one layer) at compression ``ratio``.

    RankIQA's ratios are 24 / bpp for 0.46, 0.16, 0.07 and 0.04 bits per RGB pixel; level 1
    is 1 bit per pixel. Gray images get the same ratio (the same bits per sample).
    Deterministic.
    """
    return jpeg2000_roundtrip(image, ratio)


@register(20, "comfort_noise", (60, 35, 20, 12, 7))
def comfort_noise(image: np.ndarray, quality: int, rng: np.random.Generator) -> np.ndarray:
    """#20: lossy compression followed by comfort noise that replaces the lost detail.

    The image is JPEG-compressed at ``quality``; Gaussian noise whose local standard
    deviation equals that of the removed detail (the compression residual, averaged in a
    Gaussian window of sigma 4 px) is then added, as decoders do to make smoothed texture
    look natural again. The detail comes back as noise of the right strength but random.
    """
    decoded = jpeg_roundtrip(image, quality)
    local_power = _common.gaussian_blur((image - decoded).astype(np.float64) ** 2, 4.0)
    return finish(decoded + np.sqrt(local_power) * rng.standard_normal(image.shape))


@register(21, "noisy_image_compression", ((0.0005, 60), (0.001, 45), (0.002, 30), (0.004, 20), (0.008, 12)))
def noisy_image_compression(
    image: np.ndarray, noise_and_quality: tuple[float, int], rng: np.random.Generator
) -> np.ndarray:
    """#21: lossy compression of a noisy image.

    White Gaussian noise of the given variance is added, then the image is JPEG-compressed
    at the given quality; the coarse quantization removes part of the noise and part of
    the detail, as when noisy photos are stored compressed.
    """
    variance, quality = noise_and_quality
    noisy = np.clip(image + np.sqrt(variance) * rng.standard_normal(image.shape), 0.0, 1.0)
    return jpeg_roundtrip(noisy, quality)


@register(24, "sparse_sampling_reconstruction", (0.6, 0.4, 0.25, 0.15, 0.08))
def sparse_sampling_reconstruction(image: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """#24: keep a random ``fraction`` of the pixels and reconstruct the rest from them.

    The kept pixels (the same in all channels) seed a normalized-convolution interpolation
    (Knutsson & Westin, CVPR 1993), which is refined by iterative hard thresholding in the
    2-D DCT domain with a falling threshold while the kept pixels are held fixed, the
    sparse-prior reconstruction of compressed sensing. Coarser sampling leaves blur and
    ringing.
    """
    h, w = image.shape[:2]
    known = rng.random((h, w)) < fraction
    if image.ndim == 3:
        known = np.repeat(known[..., None], channels(image), axis=2)
    weight = known.astype(np.float32)
    spread = 1.0 / np.sqrt(fraction)
    filled = _common.gaussian_blur(image * weight, spread) / np.maximum(_common.gaussian_blur(weight, spread), 1e-12)
    estimate = np.where(known, image, filled)
    top = float(np.abs(fft.dctn(estimate, axes=(0, 1), norm="ortho")).max())
    for threshold in np.geomspace(top / 4, top / 10_000, SPARSE_ITERATIONS):
        coefficients = fft.dctn(estimate, axes=(0, 1), norm="ortho")
        coefficients[np.abs(coefficients) < threshold] = 0.0
        estimate = np.where(known, image, fft.idctn(coefficients, axes=(0, 1), norm="ortho"))
    return finish(estimate)
