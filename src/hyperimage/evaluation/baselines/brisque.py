"""BRISQUE: natural-scene-statistics features of the spatial domain, and an SVR on them.

Mittal, Moorthy & Bovik's no-reference quality measure (Table 2, Experiment 1 of Chandakkar
& Li 2017 compares against it). An image's mean-subtracted contrast-normalised (MSCN)
coefficients follow a unit generalised Gaussian on pristine photos; distortions change its
shape and the statistics of neighbouring coefficients. Per scale, 18 features:

* the GGD fit of the MSCN coefficients: shape alpha and variance sigma^2;
* the asymmetric GGD fit of each of the four pairwise products of neighbouring MSCN
  coefficients (horizontal H, vertical V, main diagonal D1, secondary diagonal D2): shape
  nu, mean eta, left variance sigma_l^2, right variance sigma_r^2;

at two scales, the second after a 2x bicubic antialiased downscale: 36 features.

This is a faithful port of the authors' MATLAB release (``brisque_feature.m``,
``estimateggdparam.m``, ``estimateaggdparam.m``): gray image on [0, 255] (MATLAB
``rgb2gray`` of the 8-bit image, so rounded); MSCN with the 7x7 Gaussian window of sigma 7/6
and C = 1, zero padding (``filter2(..., 'same')``; :func:`mscn`); neighbours taken with ``circshift`` (wrapping round the border);
shapes found on the grid 0.2:0.001:10 by moment matching; the second scale by MATLAB's
``imresize(I, 0.5)`` (bicubic a = -0.5, kernel widened 2x for antialiasing, symmetric
border).

:class:`BrisqueSVR` maps the features to a quality score with an RBF epsilon-SVR, as the
paper trains it on each split (the authors' LIVE-trained libsvm model is not used: it was
fitted on synthetic distortions and on DMOS, not the data set at hand).

References
----------
.. [1] A. Mittal, A. K. Moorthy and A. C. Bovik, "No-Reference Image Quality Assessment in
   the Spatial Domain", IEEE Transactions on Image Processing 21(12), 4695-4708, 2012.
.. [2] K. Sharifi and A. Leon-Garcia, "Estimation of shape parameter for generalized
   Gaussian distributions in subband decompositions of video", IEEE TCSVT 5(1), 1995.
.. [3] N.-E. Lasmar, Y. Stitou and Y. Berthoumieu, "Multiscale skewed heavy tailed model
   for texture analysis", ICIP 2009 (the AGGD moment-matching estimator).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
from scipy import stats
from scipy.ndimage import correlate1d
from scipy.special import gamma as gamma_fn
from sklearn.model_selection import KFold
from sklearn.svm import SVR

from hyperimage.evaluation.baselines.dct_markov import _check_xy
from hyperimage.inference.lcn import gaussian_window

#: MATLAB ``rgb2gray`` weights (ITU-R BT.601, rounded as MATLAB rounds them).
RGB2GRAY = np.array([0.2989, 0.5870, 0.1140])

#: Shape parameters the moment-matching estimators search (the MATLAB code's 0.2:0.001:10).
SHAPES = np.round(np.arange(200, 10001) * 1e-3, 3)

#: Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)) over :data:`SHAPES`: E|x|^2 / E[x^2] of a GGD of shape a.
_RATIO = gamma_fn(2 / SHAPES) ** 2 / (gamma_fn(1 / SHAPES) * gamma_fn(3 / SHAPES))

#: The four neighbour offsets (rows, columns) of the pairwise products H, V, D1, D2,
#: as ``circshift`` shifts in ``brisque_feature.m``.
SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))

#: Names of the 36 features, in order.
FEATURE_NAMES = tuple(
    f"s{scale}_{name}"
    for scale in (1, 2)
    for name in ["mscn_shape", "mscn_var"]
    + [f"{pair}_{p}" for pair in ("h", "v", "d1", "d2") for p in ("shape", "mean", "lvar", "rvar")]
)

#: Smallest side :func:`brisque_features` accepts: the second scale still needs a 7x7 window.
MIN_SIZE = 16


def gray_255(image: np.ndarray) -> np.ndarray:
    """A float ``(H, W)`` or ``(H, W, 3)`` image in [0, 1] as MATLAB's 8-bit gray, float64 [0, 255].

    Colour goes through ``rgb2gray`` and is rounded to integers, as ``brisquescore.m``
    converts ``uint8(rgb2gray(uint8(image)))``; gray images are only scaled.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.round(np.clip(image.astype(np.float64), 0.0, 1.0) @ (RGB2GRAY * 255.0))
    if image.ndim == 2:
        return np.round(np.clip(image.astype(np.float64), 0.0, 1.0) * 255.0)
    raise ValueError(f"image must be (H, W) gray or (H, W, 3) RGB, got shape {image.shape}")


def ggd_fit(x: np.ndarray) -> tuple[float, float]:
    """Shape alpha and variance of a zero-mean generalised Gaussian, by moment matching.

    ``E[x^2] / E|x|^2 = Gamma(1/a) Gamma(3/a) / Gamma(2/a)^2`` is solved for a on
    :data:`SHAPES` (Sharifi & Leon-Garcia 1995; ``estimateggdparam.m``).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    var = float(np.mean(x * x))
    mean_abs = float(np.mean(np.abs(x)))
    if var == 0.0:
        return float("nan"), 0.0
    rho = var / mean_abs**2
    return float(SHAPES[np.argmin(np.abs(rho - 1.0 / _RATIO))]), var


def nearest_shape(ratio: np.ndarray) -> np.ndarray:
    """The shape of :data:`SHAPES` whose ``Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))`` is nearest ``ratio``.

    The MATLAB code's ``min((r_gam - ratio).^2)``; the table increases with the shape, so a
    binary search finds it (ties go to the smaller shape). NaN where ``ratio`` is NaN.
    """
    ratio = np.asarray(ratio, dtype=np.float64)
    i = np.clip(np.searchsorted(_RATIO, np.nan_to_num(ratio)), 1, len(_RATIO) - 1)
    lower = (ratio - _RATIO[i - 1]) <= (_RATIO[i] - ratio)
    return np.where(np.isnan(ratio), np.nan, SHAPES[np.where(lower, i - 1, i)])


def aggd_params(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shape nu and left / right RMS of an asymmetric generalised Gaussian, along the last axis.

    Moment matching as in ``estimateaggdparam.m`` (Lasmar et al. 2009): the left and right
    standard deviations are the RMS of the negative and positive samples; the shape solves
    ``Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)) = r`` (:func:`nearest_shape`) for the
    generalised moment ratio r corrected for the asymmetry. ``x`` is ``(..., M)`` (samples
    last, e.g. one row per block); the results are ``(...)``, NaN where a side has no samples.
    """
    x = np.asarray(x, dtype=np.float64)
    sq = x * x
    negative, positive = x < 0, x > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt((sq * negative).sum(axis=-1) / negative.sum(axis=-1))
        right = np.sqrt((sq * positive).sum(axis=-1) / positive.sum(axis=-1))
        g = left / right
        r_hat = np.abs(x).mean(axis=-1) ** 2 / sq.mean(axis=-1)
        r_norm = r_hat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    return nearest_shape(r_norm), left, right


def aggd_fit(x: np.ndarray) -> tuple[float, float, float, float]:
    """BRISQUE's AGGD features of samples ``x``: shape nu, mean eta, left and right variances.

    :func:`aggd_params` then ``eta = (s_r - s_l) Gamma(2/nu) / Gamma(1/nu)
    sqrt(Gamma(1/nu) / Gamma(3/nu))`` (``brisque_feature.m``).
    """
    nu, left, right = (float(v) for v in aggd_params(np.ravel(x)))
    eta = (right - left) * gamma_fn(2 / nu) / gamma_fn(1 / nu) * np.sqrt(gamma_fn(1 / nu) / gamma_fn(3 / nu))
    return nu, float(eta), left * left, right * right


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, MATLAB ``imresize``'s ``bicubic``."""
    a = np.abs(x)
    return np.where(
        a <= 1, 1.5 * a**3 - 2.5 * a**2 + 1, np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0)
    )


def downscale_half(image: np.ndarray) -> np.ndarray:
    """MATLAB ``imresize(image, 0.5)``: bicubic, antialiased, ``(H, W)`` -> ``(ceil(H/2), ceil(W/2))``.

    Shrinking by 2 widens the cubic kernel 2x (8 taps, offsets -3.5..3.5 from the output
    pixel's centre, which falls at input ``2 i + 0.5``); the border is mirrored with the
    edge pixel repeated (``symmetric``), as ``imresize`` extends it.
    """
    taps = cubic(np.arange(-3.5, 4.0) / 2.0)
    taps /= taps.sum()
    out = np.asarray(image, dtype=np.float64)
    for axis in (0, 1):
        n = (out.shape[axis] + 1) // 2
        padded = np.pad(out, [(4, 4) if a == axis else (0, 0) for a in (0, 1)], mode="symmetric")
        # output i reads inputs 2i-3 .. 2i+4, i.e. padded rows 2i+1 .. 2i+8
        out = sum(
            w * np.take(padded, np.arange(1 + k, 1 + k + 2 * n, 2), axis=axis) for k, w in enumerate(taps)
        )
    return out


def mscn(gray: np.ndarray, border: str = "constant") -> tuple[np.ndarray, np.ndarray]:
    """MSCN coefficients ``(I - mu) / (sigma + 1)`` of a gray image on [0, 255], and sigma.

    mu and sigma are the local mean and standard deviation under the 7x7 Gaussian window of
    sigma 7/6 (:func:`hyperimage.inference.lcn.gaussian_window`), two separable blurs in float64;
    ``border`` is a ``scipy.ndimage`` mode: ``"constant"`` (zeros, BRISQUE's ``filter2``) or
    ``"nearest"`` (NIQE's ``imfilter(..., 'replicate')``). This is
    :func:`hyperimage.inference.lcn.lcn` with ``eps = 1/255`` on ``I / 255`` (tested), in NumPy: torch's
    thread pool made :func:`~hyperimage.inference.lcn.lcn_torch` 45x slower on a loaded 2-core machine.
    """
    taps = gaussian_window().sum(axis=0)

    def blur(x: np.ndarray) -> np.ndarray:
        return correlate1d(correlate1d(x, taps, axis=0, mode=border), taps, axis=1, mode=border)

    mean = blur(gray)
    sigma = np.sqrt(np.abs(blur(gray * gray) - mean * mean))
    return (gray - mean) / (sigma + 1.0), sigma


def scale_features(gray: np.ndarray) -> np.ndarray:
    """The 18 features of one scale of a gray image on [0, 255], float64 ``(18,)``."""
    mscn_, _ = mscn(gray)
    features = list(ggd_fit(mscn_))
    for shift in SHIFTS:
        features += aggd_fit(mscn_ * np.roll(mscn_, shift, axis=(0, 1)))
    return np.array(features)


def brisque_features(image: np.ndarray) -> np.ndarray:
    """The 36 BRISQUE features of one image (names in :data:`FEATURE_NAMES`).

    Parameters
    ----------
    image : float ``(H, W)`` gray or ``(H, W, 3)`` RGB in [0, 1] (as
        :func:`hyperimage.data.io.load_image` returns it); both sides at least :data:`MIN_SIZE`.

    Returns
    -------
    np.ndarray
        float64 ``(36,)``: scale 1 then scale 2, each ``[alpha, sigma^2]`` of the MSCN
        coefficients and ``[nu, eta, sigma_l^2, sigma_r^2]`` of H, V, D1, D2.
        A fit without samples on one side is NaN, as in the MATLAB code (a flat image, whose
        only contrast is the zero-padded border); :class:`BrisqueSVR` refuses NaN.

    Raises
    ------
    ValueError
        If the image is not 2-D gray or RGB, is smaller than :data:`MIN_SIZE`, or is not finite.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or min(image.shape[:2]) < MIN_SIZE:
        raise ValueError(f"BRISQUE needs an (H, W) or (H, W, 3) image of at least {MIN_SIZE}x{MIN_SIZE}, got shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError("image holds NaN or infinity")
    gray = gray_255(image)
    return np.concatenate([scale_features(gray), scale_features(downscale_half(gray))])


class BrisqueSVR:
    """BRISQUE features -> quality score: an RBF epsilon-SVR, C and gamma chosen on held-out data.

    As in the original, every feature is scaled linearly to [-1, 1] on the training set
    (libsvm's ``svm-scale``); the targets are standardised (the project's convention, so one
    epsilon fits MOS on any scale) and predictions mapped back. The fitted model is kept as
    NumPy arrays (scaling, support vectors, dual coefficients), so it saves in any array
    format and predicts without scikit-learn.

    Parameters
    ----------
    c_grid, gamma_grid : the candidates; every pair is tried.
    epsilon : the SVR's insensitive zone, in standard deviations of the targets.
    folds : cross-validation folds on the training set when :meth:`fit` gets no validation set.
    seed : seed of the fold assignment.
    """

    def __init__(
        self,
        c_grid: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1000.0),
        gamma_grid: Sequence[float] = (0.003, 0.01, 0.03, 0.1, 0.3),
        epsilon: float = 0.1,
        folds: int = 3,
        seed: int = 0,
    ):
        self.grid = [(float(c), float(g)) for c, g in product(c_grid, gamma_grid)]
        if not self.grid or min(min(p) for p in self.grid) <= 0 or epsilon < 0 or folds < 2:
            raise ValueError(f"grids must be non-empty and positive, epsilon >= 0, folds >= 2: {c_grid}, {gamma_grid}, {epsilon}, {folds}")
        self.epsilon = float(epsilon)
        self.folds = int(folds)
        self.seed = seed
        #: validation SROCC of each (C, gamma) tried by the last :meth:`fit`
        self.val_srocc_: dict[tuple[float, float], float] = {}
        self._arrays: dict[str, np.ndarray] | None = None

    def _train(self, X: np.ndarray, y: np.ndarray, C: float, gamma: float) -> dict[str, np.ndarray]:
        low, high = X.min(axis=0), X.max(axis=0)
        span = np.where(high > low, high - low, 1.0)
        mean, std = float(y.mean()), float(y.std()) or 1.0
        svr = SVR(kernel="rbf", C=C, gamma=gamma, epsilon=self.epsilon).fit(2 * (X - low) / span - 1, (y - mean) / std)
        return {
            "low": low,
            "span": span,
            "support": svr.support_vectors_,
            "dual": svr.dual_coef_[0],
            "intercept": np.array([svr.intercept_[0]]),
            "target": np.array([mean, std]),
            "C": np.array([C]),
            "gamma": np.array([gamma]),
        }

    @staticmethod
    def _predict(arrays: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
        scaled = 2 * (X - arrays["low"]) / arrays["span"] - 1
        support = arrays["support"]
        sq = (scaled**2).sum(axis=1)[:, None] + (support**2).sum(axis=1)[None] - 2 * scaled @ support.T
        sq = np.maximum(sq, 0.0)  # no (N, S, D) array: KonIQ's thousands of support vectors stay cheap
        z = np.exp(-arrays["gamma"][0] * sq) @ arrays["dual"] + arrays["intercept"][0]
        return z * arrays["target"][1] + arrays["target"][0]

    def _score(self, arrays: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
        srocc = stats.spearmanr(self._predict(arrays, X), y).statistic
        return float(srocc) if np.isfinite(srocc) else -1.0

    def fit(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> BrisqueSVR:
        """Fit on features ``X_train (N, 36)`` and scores ``y_train (N,)`` (higher is better or not: any).

        With ``X_val, y_val`` every (C, gamma) is fitted on the training set and the one
        with the best validation SROCC kept (not refitted on train + val, so the validation
        figure stays honest); without, each pair is scored by ``folds``-fold cross-validation
        on the training set and the best refitted on all of it. Ties go to the earlier pair
        of the grid (smaller C, then smaller gamma).
        """
        X_train, y_train = _targets(*_check_xy(X_train, y_train))
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        if X_val is not None:
            X_val, y_val = _targets(*_check_xy(X_val, y_val, X_train.shape[1]))
            fits = {pair: self._train(X_train, y_train, *pair) for pair in self.grid}
            self.val_srocc_ = {pair: self._score(arrays, X_val, y_val) for pair, arrays in fits.items()}
            self._arrays = fits[max(self.grid, key=lambda p: (self.val_srocc_[p], -self.grid.index(p)))]
            return self
        if len(y_train) < 2 * self.folds:
            raise ValueError(f"cross-validation needs at least {2 * self.folds} training images, got {len(y_train)}")
        splits = list(KFold(self.folds, shuffle=True, random_state=self.seed).split(X_train))
        self.val_srocc_ = {
            pair: float(np.mean([self._score(self._train(X_train[a], y_train[a], *pair), X_train[b], y_train[b]) for a, b in splits]))
            for pair in self.grid
        }
        best = max(self.grid, key=lambda p: (self.val_srocc_[p], -self.grid.index(p)))
        self._arrays = self._train(X_train, y_train, *best)
        return self

    def _fitted(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            raise RuntimeError("BrisqueSVR is not fitted: call fit() or from_arrays() first")
        return self._arrays

    @property
    def params_(self) -> tuple[float, float]:
        """(C, gamma) of the fitted model."""
        arrays = self._fitted()
        return float(arrays["C"][0]), float(arrays["gamma"][0])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted scores ``(N,)`` on the training targets' scale."""
        arrays = self._fitted()
        X, _ = _check_xy(X, None, arrays["low"].shape[0])
        return self._predict(arrays, X)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted model as plain arrays (for safetensors, ``np.savez`` or JSON lists)."""
        return {key: np.array(value) for key, value in self._fitted().items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> BrisqueSVR:
        """Rebuild a fitted model from :meth:`to_arrays` output."""
        keys = ("low", "span", "support", "dual", "intercept", "target", "C", "gamma")
        missing = set(keys) - set(arrays)
        if missing:
            raise ValueError(f"arrays lack {sorted(missing)}")
        model = cls()
        model._arrays = {key: np.asarray(arrays[key], dtype=np.float64) for key in keys}
        return model



def _targets(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Checked features and their scores as finite float64."""
    y = np.asarray(y, dtype=np.float64)
    if not np.isfinite(y).all():
        raise ValueError("targets hold NaN or infinity")
    return X, y
