"""The proxy quality label of the photo IQA benchmark: a full-reference SSIM map pooled with a
centre bias, mapped to TID2013's 0-9 scale (9 = pristine, higher is better).

The benchmark of :mod:`hyperimage.data.generators.iqa_photos` has no human opinion scores;
:func:`proxy_quality` labels each of its images against its pristine photo so that *where* the
damage is matters. **A proxy, not a human MOS.**
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity
from skimage.transform import resize

#: Top of the label scale, given to the pristine references (TID2013's 0-9, higher is better).
TOP_SCORE = 9.0

#: Standard deviation of the centre-bias Gaussian, as a fraction of each side.
CENTRE_SIGMA = 0.25

#: Pooled dissimilarity ``1 - s`` that :func:`proxy_quality` scores as pristine.
D_MIN = 0.002

#: BT.601 luma weights, for the saliency estimate.
_LUMA = np.array([0.299, 0.587, 0.114])

#: Width the spectral residual is computed at (Hou & Zhang 2007).
_SALIENCY_WIDTH = 64


def centre_bias(shape: tuple[int, ...], sigma: float = CENTRE_SIGMA) -> np.ndarray:
    """Anisotropic Gaussian centred on the image, standard deviation ``sigma`` times each side.

    Observers look at the centre of a picture more than at its borders, whatever it shows
    (Tatler 2007); a Gaussian centre prior alone predicts fixations about as well as many
    saliency models (Judd et al. 2009).

    Parameters
    ----------
    shape : (H, W) or (H, W, C); only H and W are used.
    sigma : standard deviation as a fraction of the height (vertically) and width (horizontally).

    Returns
    -------
    np.ndarray
        (H, W) float64, 1 at the centre.

    References
    ----------
    B. W. Tatler, "The central fixation bias in scene viewing", Journal of Vision 7(14), 2007.
    T. Judd, K. Ehinger, F. Durand, A. Torralba, "Learning to predict where humans look",
    ICCV 2009.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    h, w = shape[:2]
    y = (np.arange(h) + 0.5 - h / 2) / (sigma * h)
    x = (np.arange(w) + 0.5 - w / 2) / (sigma * w)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))


def spectral_residual(image: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang 2007), in [0, 1], at the image's size.

    As the authors' code: the luminance is resized to 64 pixels wide, the log amplitude
    spectrum minus its 3x3 average is recombined with the phase, the squared inverse transform
    is smoothed by a Gaussian (sigma 2.5 at that width), scaled to [0, 1] and resized back.
    It favours isolated detail and, through the FFT's wrap-around, the image borders. A
    constant image has no salient place: its map is all ones.

    Parameters
    ----------
    image : (H, W) gray or (H, W, 3) RGB in [0, 1].

    References
    ----------
    X. Hou, L. Zhang, "Saliency detection: a spectral residual approach", CVPR 2007.
    """
    gray = image @ _LUMA if image.ndim == 3 else np.asarray(image, dtype=np.float64)
    h, w = gray.shape
    if np.ptp(gray) == 0:
        return np.ones((h, w))
    small = resize(gray, (max(round(_SALIENCY_WIDTH * h / w), 1), _SALIENCY_WIDTH), order=1, anti_aliasing=True)
    spectrum = np.fft.fft2(small)
    log_amplitude = np.log(np.abs(spectrum) + 1e-12)
    residual = log_amplitude - ndimage.uniform_filter(log_amplitude, 3, mode="nearest")
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = ndimage.gaussian_filter(saliency, 2.5, mode="nearest")
    span = saliency.max() - saliency.min()
    saliency = (saliency - saliency.min()) / span if span > 0 else np.ones_like(saliency)
    return resize(saliency, (h, w), order=1)


def _check_pair(distorted: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    distorted, reference = np.asarray(distorted, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if distorted.shape != reference.shape:
        raise ValueError(f"distorted {distorted.shape} and reference {reference.shape} differ in shape")
    if reference.ndim not in (2, 3) or (reference.ndim == 3 and reference.shape[2] != 3):
        raise ValueError(f"images must be (H, W) or (H, W, 3), got {reference.shape}")
    if min(reference.shape[:2]) < 11:
        raise ValueError(f"images must be at least 11x11 (the SSIM window), got {reference.shape[:2]}")
    return distorted, reference


def ssim_map(distorted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """SSIM map (H, W) of Wang et al. (2004), averaged over the RGB channels.

    scikit-image's :func:`~skimage.metrics.structural_similarity` with the paper's settings
    (11x11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1), per channel: a
    luminance-only SSIM would call a pure colour change (TID2013 #18, #22, #23) pristine.
    """
    distorted, reference = _check_pair(distorted, reference)
    _, full = structural_similarity(
        reference,
        distorted,
        data_range=1.0,
        channel_axis=-1 if reference.ndim == 3 else None,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    return full.mean(axis=-1) if full.ndim == 3 else full


def pooling_weights(reference: np.ndarray, saliency: float = 0.0, centre_sigma: float = CENTRE_SIGMA) -> np.ndarray:
    """The weights ``w`` (H, W) of :func:`proxy_quality`'s pooling, with mean 1."""
    weight = centre_bias(reference.shape, centre_sigma)
    weight /= weight.mean()
    if saliency > 0:
        salient = spectral_residual(np.asarray(reference, dtype=np.float64))
        weight = (1.0 - saliency) * weight + saliency * salient / salient.mean()
    return weight


def _to_score(similarity: np.ndarray, weight: np.ndarray, d_min: float) -> float:
    """``9 * clip(log(1 - s) / log(d_min), 0, 1)`` with ``s`` the weighted mean of the SSIM map."""
    pooled = float(np.sum(weight * similarity) / np.sum(weight))
    dissimilarity = float(np.clip(1.0 - pooled, d_min, 1.0))
    return TOP_SCORE * max(math.log(dissimilarity) / math.log(d_min), 0.0)


def _check_proxy(saliency: float, d_min: float) -> None:
    if not 0.0 <= saliency <= 1.0:
        raise ValueError(f"saliency weight must lie in [0, 1], got {saliency}")
    if not 0.0 < d_min < 1.0:
        raise ValueError(f"d_min must lie in (0, 1), got {d_min}")


def proxy_quality(
    distorted: np.ndarray,
    reference: np.ndarray,
    *,
    saliency: float = 0.0,
    centre_sigma: float = CENTRE_SIGMA,
    d_min: float = D_MIN,
) -> float:
    """A MOS-like 0-9 quality label from a full-reference SSIM map pooled by a centre bias.

    **A proxy, not a human opinion score.** With ``M`` the RGB-mean SSIM map (:func:`ssim_map`),
    ``G`` the centre bias (:func:`centre_bias`) and ``S`` the spectral-residual saliency of the
    *reference* (:func:`spectral_residual`)::

        w = (1 - saliency) * G / mean(G) + saliency * S / mean(S)
        s = sum(w * M) / sum(w)
        q = 9 * clip(log(1 - s) / log(d_min), 0, 1)

    The same damage therefore costs more in the centre than at the borders, as in TID2013's
    example of Fig. 1(a) of the paper. The saliency blend is off by default: on the photos here
    the spectral residual mostly marks image borders and isolated detail.

    The mapping counts the pooled dissimilarity ``1 - s`` in decades: with ``d_min`` = 0.002,
    ``s`` = 0.9 scores 3.3, 0.99 scores 6.7, 0.998 and above 9, 0 and below 0; it is monotone
    (a lower ``s`` never scores higher). SSIM crowds mild distortions just under 1, and a
    power of ``s`` (``9 * ((s - s_min) / (1 - s_min)) ** gamma``) left a quarter of the
    default data set of :func:`~hyperimage.data.generators.iqa_photos.make_iqa_dataset` above 8; this log scale spreads its
    distorted images over 0.1-8.8 (quartiles 2.1, 3.4 and 4.9, mean 3.6; TID2013's MOS of
    distorted images run from 0.2 to 7.2). Pooled dissimilarities below ``d_min`` do occur: in
    the 17-type ``types="rankiqa"`` set, 6 of 800 distorted images (level 1, at the periphery)
    score 9 like their reference.

    Parameters
    ----------
    distorted, reference : (H, W) or (H, W, 3) float images in [0, 1], at least 11x11.
    saliency : weight of the saliency map in the pooling, 0 to 1.
    centre_sigma : the centre bias's standard deviation as a fraction of each side.
    d_min : pooled dissimilarity ``1 - s`` scored as pristine (9); smaller ones are too.

    Returns
    -------
    float
        9 for an image equal to its reference, down to 0; higher is better.

    Raises
    ------
    ValueError
        Images of different or unsupported shapes, or parameters out of range.

    References
    ----------
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from error
    visibility to structural similarity", IEEE Trans. Image Processing 13(4), 2004.
    """
    _check_proxy(saliency, d_min)
    similarity = ssim_map(distorted, reference)
    return _to_score(similarity, pooling_weights(np.asarray(reference), saliency, centre_sigma), d_min)


__all__ = [
    "CENTRE_SIGMA",
    "D_MIN",
    "TOP_SCORE",
    "centre_bias",
    "pooling_weights",
    "proxy_quality",
    "spectral_residual",
    "ssim_map",
]
