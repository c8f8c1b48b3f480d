"""NIQE: the distance of an image's natural-scene statistics from a model of pristine photos.

Mittal, Soundararajan & Bovik's "completely blind" quality measure needs no opinion scores:
the BRISQUE-style statistics of 96 x 96 blocks of pristine photographs are summarised by a
multivariate Gaussian (MVG); an image's quality is the distance of its own blocks' MVG from
that model,

    D = sqrt((mu_p - mu_d)^T ((Sigma_p + Sigma_d) / 2)^+ (mu_p - mu_d)),

lower meaning closer to pristine (better). Per block and scale, 18 features: the AGGD fit of
the MSCN coefficients (shape, mean of the left and right scale parameters) and of their four
neighbour products H, V, D1, D2 (shape, mean, left and right scale); two scales (the second
after MATLAB's ``imresize(I, 0.5)``, blocks of 48): 36 features. Only the sharpest pristine
blocks enter the model (mean local deviation above 0.75 of the image's sharpest block).

This follows the authors' MATLAB release (``estimatemodelparam.m``, ``computequality.m``,
``computefeature.m``): gray on [0, 255], the image cropped to whole blocks, MSCN with the 7x7
Gaussian window of sigma 7/6, C = 1 and a replicated border (``imfilter(..., 'replicate')``),
neighbour products wrapping round within each block, NaN rows dropped (``nanmean``,
``nancov``), the pseudo-inverse.

The pristine model is NOT the authors' ``modelparameters.mat`` (fitted on 125 photos of their
own, not distributable here): :data:`DEFAULT_MODEL` is fitted on the photographs that
``hyperimage photos --debian`` gathers from Python and Debian packages (112 photos at
384 x 512, see :mod:`hyperimage.data.photos`), so its absolute values differ from published NIQE
figures; rankings are what a benchmark compares. :func:`fit_folder` refits it.

References
----------
.. [1] A. Mittal, R. Soundararajan and A. C. Bovik, "Making a 'Completely Blind' Image
   Quality Analyzer", IEEE Signal Processing Letters 20(3), 209-212, 2013.
.. [2] A. Mittal, A. K. Moorthy and A. C. Bovik, "No-Reference Image Quality Assessment in
   the Spatial Domain", IEEE TIP 21(12), 2012 (the features, :mod:`.brisque`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.special import gamma as gamma_fn

from hyperimage.data.io import load_image, walk_images
from hyperimage.evaluation.baselines.brisque import SHIFTS, aggd_params, downscale_half, gray_255, mscn

#: Block side at the first scale (the second scale's blocks are half as wide).
BLOCK = 96

#: Pristine blocks kept: mean local deviation above this share of the image's sharpest block.
SHARPNESS_THRESHOLD = 0.75

#: The shipped pristine model (see the module docstring for its corpus).
DEFAULT_MODEL = Path(str(resources.files("hyperimage") / "models" / "niqe" / "pristine.json"))

_FORMAT = "hyperimage-niqe-mvg"


def _betas(nu: np.ndarray, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right AGGD scale parameters from the RMS of each side (``estimateaggdparam.m``)."""
    factor = np.sqrt(gamma_fn(1 / nu) / gamma_fn(3 / nu))
    return left * factor, right * factor


def _scale_features(blocks: np.ndarray) -> np.ndarray:
    """18 features of each block of MSCN coefficients ``(N, b, b)`` -> ``(N, 18)`` (``computefeature.m``)."""
    flat = blocks.reshape(len(blocks), -1)
    nu, left, right = aggd_params(flat)
    bl, br = _betas(nu, left, right)
    columns = [nu, (bl + br) / 2]
    for shift in SHIFTS:
        pair = (blocks * np.roll(blocks, shift, axis=(1, 2))).reshape(len(blocks), -1)
        nu, left, right = aggd_params(pair)
        bl, br = _betas(nu, left, right)
        columns += [nu, (br - bl) * gamma_fn(2 / nu) / gamma_fn(1 / nu), bl, br]
    return np.stack(columns, axis=1)


def _blocks(plane: np.ndarray, side: int) -> np.ndarray:
    """``(H, W)`` with H, W multiples of ``side`` -> ``(N, side, side)``, row by row."""
    rows, cols = plane.shape[0] // side, plane.shape[1] // side
    return plane.reshape(rows, side, cols, side).swapaxes(1, 2).reshape(rows * cols, side, side)


def block_features(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NIQE features and sharpness of every whole 96 x 96 block of an image.

    Parameters
    ----------
    image : float ``(H, W)`` gray or ``(H, W, 3)`` RGB in [0, 1]; cropped to whole blocks
        (from the top left, as the MATLAB code does); at least 96 x 192 or 192 x 96.

    Returns
    -------
    features : float64 ``(N, 36)``, scale 1 then scale 2; NaN where a fit is undefined.
    sharpness : float64 ``(N,)``, the mean local standard deviation of each block (scale 1).

    Raises
    ------
    ValueError
        One line, if the image is not gray or RGB, holds NaN, or has fewer than 2 blocks
        (a covariance needs two).
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.shape[0] // BLOCK) * (image.shape[1] // BLOCK) < 2:
        raise ValueError(
            f"NIQE needs an (H, W) or (H, W, 3) image holding at least two {BLOCK}x{BLOCK} blocks, got shape {image.shape}"
        )
    if not np.isfinite(image).all():
        raise ValueError("image holds NaN or infinity")
    gray = gray_255(image)
    gray = gray[: gray.shape[0] // BLOCK * BLOCK, : gray.shape[1] // BLOCK * BLOCK]
    features = []
    for scale in (1, 2):
        coefficients, sigma = mscn(gray, border="nearest")
        if scale == 1:
            sharpness = _blocks(sigma, BLOCK).mean(axis=(1, 2))
        features.append(_scale_features(_blocks(coefficients, BLOCK // scale)))
        gray = downscale_half(gray)
    return np.concatenate(features, axis=1), sharpness


def _mvg(features: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the rows without NaN (``nanmean``, ``nancov``)."""
    rows = features[np.isfinite(features).all(axis=1)]
    if len(rows) < 2:
        raise ValueError(f"{what}: fewer than two blocks with defined statistics (a flat image?)")
    return rows.mean(axis=0), np.cov(rows, rowvar=False)


@dataclass
class NiqeModel:
    """The pristine multivariate Gaussian: ``mean (36,)``, ``cov (36, 36)``, and where it came from.

    Attributes
    ----------
    mean, cov : the MVG of the pristine blocks' features.
    images, blocks : how many pristine photos and selected blocks it was fitted on.
    corpus : a line saying which photos those were.
    """

    mean: np.ndarray
    cov: np.ndarray
    images: int = 0
    blocks: int = 0
    corpus: str = ""

    higher_is_better = False

    def score(self, image: np.ndarray) -> float:
        """NIQE of one image (:func:`block_features`' input): >= 0, lower is better."""
        mean, cov = _mvg(block_features(image)[0], "image")
        diff = self.mean - mean
        return float(np.sqrt(max(0.0, diff @ np.linalg.pinv((self.cov + cov) / 2) @ diff)))

    def save(self, path: str | os.PathLike) -> None:
        """Write the model as JSON (no pickle; ~30 kB)."""
        data = {
            "format": _FORMAT,
            "version": 1,
            "images": self.images,
            "blocks": self.blocks,
            "corpus": self.corpus,
            "block": BLOCK,
            "sharpness_threshold": SHARPNESS_THRESHOLD,
            "mean": self.mean.tolist(),
            "cov": self.cov.tolist(),
        }
        Path(path).write_text(json.dumps(data) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike = DEFAULT_MODEL) -> NiqeModel:
        """Read a model written by :meth:`save` (default: the shipped one).

        Raises
        ------
        ValueError
            ``PATH: reason`` if the file is unreadable or not a NIQE model.
        """
        try:
            data = json.loads(Path(path).read_text())
            if data.get("format") != _FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, not {_FORMAT!r}")
            mean = np.asarray(data["mean"], dtype=np.float64)
            cov = np.asarray(data["cov"], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{path}: not a NIQE model ({err})") from None
        if mean.shape != (36,) or cov.shape != (36, 36) or not (np.isfinite(mean).all() and np.isfinite(cov).all()):
            raise ValueError(f"{path}: not a NIQE model (mean {mean.shape}, cov {cov.shape}, or non-finite values)")
        return cls(mean, cov, int(data.get("images", 0)), int(data.get("blocks", 0)), str(data.get("corpus", "")))


def fit_pristine(images: Iterable[np.ndarray], corpus: str = "", sharpness_threshold: float = SHARPNESS_THRESHOLD) -> NiqeModel:
    """Fit the pristine MVG on photos of good quality (``estimatemodelparam.m``).

    Parameters
    ----------
    images : float ``(H, W)`` or ``(H, W, 3)`` arrays in [0, 1] (:func:`block_features`).
    corpus : a line recorded in the model saying which photos these are.
    sharpness_threshold : of each image, the blocks whose sharpness exceeds this share of
        its sharpest block are kept.

    Raises
    ------
    ValueError
        Naming the image (its index) that is too small, or if no block is usable.
    """
    kept, count = [], 0
    for i, image in enumerate(images):
        try:
            features, sharpness = block_features(image)
        except ValueError as err:
            raise ValueError(f"pristine image {i}: {err}") from None
        kept.append(features[sharpness > sharpness_threshold * sharpness.max()])
        count += 1
    if not kept:
        raise ValueError("fit_pristine needs at least one image")
    features = np.concatenate(kept)
    mean, cov = _mvg(features, "pristine images")
    return NiqeModel(mean, cov, images=count, blocks=int(np.isfinite(features).all(axis=1).sum()), corpus=corpus)


def fit_folder(folder: str | os.PathLike, corpus: str | None = None) -> NiqeModel:
    """:func:`fit_pristine` on every image under ``folder`` (e.g. ``hyperimage photos --debian``'s output).

    The shipped :data:`DEFAULT_MODEL` was made by::

        hyperimage photos --debian photos
        python -c "from hyperimage.evaluation.baselines.niqe import fit_folder, DEFAULT_MODEL; fit_folder('photos').save(DEFAULT_MODEL)"

    Raises
    ------
    ValueError
        ``PATH: reason`` for the first unreadable or too small image, or an empty folder.
    """
    paths = list(walk_images(folder)) if Path(folder).is_dir() else []
    if not paths:
        raise ValueError(f"{folder}: no images")

    def images() -> Iterable[np.ndarray]:
        for path in paths:
            image = load_image(path, mode="RGB")
            if (image.shape[0] // BLOCK) * (image.shape[1] // BLOCK) < 2:
                raise ValueError(f"{path}: smaller than two {BLOCK}x{BLOCK} blocks ({image.shape[0]}x{image.shape[1]})")
            yield image

    text = corpus if corpus is not None else f"{len(paths)} photos under {Path(folder).name}/"
    return fit_pristine(images(), corpus=text)
