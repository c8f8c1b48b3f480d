"""Block-DCT Markov features and a linear SVM: the forgery baseline of Table 3.

The paper compares its two-stage CNN with Sutthiwan et al. (2011), which builds on the
Markov features of Shi, Chen & Chen (2007): model the 8x8 block-DCT coefficient array of
the luminance as a Markov process along a direction and use the transition probabilities
of its clipped difference array as features for a linear SVM. Splicing and recompression
disturb the correlation between neighbouring coefficients that these features capture.

Pipeline of :func:`dct_markov_features`:

1. Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601) on the 0-255 scale, level-shifted by
   -128 as JPEG does, so the DCT below equals JPEG's unquantised coefficients.
2. Crop to a multiple of 8 from the top-left (keeping a JPEG file's own block grid),
   orthonormal 8x8 block DCT-II, rounded absolute values: the array ``F (H, W)``.
3. For each direction with step ``s``: difference array ``D(p) = F(p) - F(p + s)``,
   clipped to [-T, T].
4. Transition probability matrix ``P(D(p + s) = n | D(p) = m)``, a ``(2T + 1) x (2T + 1)``
   matrix; rows of values that never occur are zero.

Directions and steps (row, column): ``"h"`` (0, 1), ``"v"`` (1, 0), ``"d"`` (1, 1) and the
minor diagonal ``"m"`` (-1, 1), i.e. ``F(r + 1, c) - F(r, c + 1)`` followed by its up-right
neighbour. These are the conventions of the DDE Lab (Binghamton) MATLAB reference
``extractShi324.m``, which flattens each matrix column-major (``F(:)``) where this module
flattens row-major: the same features, permuted. With T = 4 each direction gives 81
features; four directions give 324.

References
----------
.. [1] Y. Q. Shi, C. Chen and W. Chen, "A natural image model approach to splicing
   detection", ACM MM&Sec 2007.
.. [2] P. Sutthiwan, Y. Q. Shi, H. Zhao, T.-T. Ng and W. Su, "Markovian rake transform for
   digital image tampering detection", Trans. Data Hiding and Multimedia Security VI, 2011.
.. [3] P. Chandakkar and B. Li, "Capturing Localized Image Artifacts through a CNN-based
   Hyper-image Representation", 2017, Table 3.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.fft import dctn
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

#: Step (rows, columns) from a coefficient to its successor, per direction.
DIRECTION_STEPS: dict[str, tuple[int, int]] = {"h": (0, 1), "v": (1, 0), "d": (1, 1), "m": (-1, 1)}

#: ITU-R BT.601 luma weights for R, G, B.
_LUMA = np.array([0.299, 0.587, 0.114])

_BLOCK = 8

#: What a fitted :class:`DctMarkovSVM` is made of, see :meth:`DctMarkovSVM.to_arrays`.
_ARRAY_KEYS = ("mean", "scale", "coef", "intercept", "classes", "C")


def _luma_255(image: np.ndarray) -> np.ndarray:
    """Level-shifted luminance ``Y - 128`` on the 0-255 scale, float64 ``(H, W)``."""
    if image.ndim == 2:
        y = image.astype(np.float64) * 255.0
    elif image.ndim == 3 and image.shape[2] == 3:
        y = image.astype(np.float64) @ (_LUMA * 255.0)
    else:
        raise ValueError(f"image must be (H, W) gray or (H, W, 3) RGB, got shape {image.shape}")
    return y - 128.0


def block_dct_magnitudes(image: np.ndarray) -> np.ndarray:
    """Rounded absolute 8x8 block-DCT coefficients of an image's luminance (steps 1-2).

    Parameters
    ----------
    image : float ``(H, W)`` gray or ``(H, W, 3)`` RGB in [0, 1], at least 8x8.

    Returns
    -------
    np.ndarray
        int64 ``(8 * (H // 8), 8 * (W // 8))``; coefficient (u, v) of the block whose
        top-left pixel is (8 i, 8 j) sits at (8 i + u, 8 j + v), as in a JPEG file.
    """
    image = np.asarray(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"image must be floating point in [0, 1], got dtype {image.dtype}")
    y = _luma_255(image)
    rows, cols = (y.shape[0] // _BLOCK) * _BLOCK, (y.shape[1] // _BLOCK) * _BLOCK
    if rows == 0 or cols == 0:
        raise ValueError(f"image must be at least 8x8, got shape {image.shape}")
    blocks = y[:rows, :cols].reshape(rows // _BLOCK, _BLOCK, cols // _BLOCK, _BLOCK)
    coefficients = dctn(blocks, type=2, axes=(1, 3), norm="ortho")
    return np.rint(np.abs(coefficients)).astype(np.int64).reshape(rows, cols)


def _along(array: np.ndarray, step: tuple[int, int], k: int) -> np.ndarray:
    """``array[p + k * step]`` for every p where p, p + step and p + 2 * step are inside."""
    index = []
    for size, s in zip(array.shape, step, strict=True):
        start = k * s if s >= 0 else (2 - k) * -s
        index.append(slice(start, start + size - 2 * abs(s)))
    return array[tuple(index)]


def transition_matrix(magnitudes: np.ndarray, step: tuple[int, int], T: int) -> np.ndarray:
    """Transition probabilities of the clipped difference array along one direction (steps 3-4).

    Parameters
    ----------
    magnitudes : integer ``(H, W)`` array ``F``, e.g. from :func:`block_dct_magnitudes`.
    step : (rows, columns) from a coefficient to its successor, e.g. (0, 1) horizontal.
    T : clipping threshold.

    Returns
    -------
    np.ndarray
        float64 ``(2T + 1, 2T + 1)``; entry ``[m + T, n + T]`` is
        ``P(D(p + s) = n | D(p) = m)``. Each row sums to 1, or to 0 if m never occurs.
    """
    current = np.clip(_along(magnitudes, step, 0) - _along(magnitudes, step, 1), -T, T)
    successor = np.clip(_along(magnitudes, step, 1) - _along(magnitudes, step, 2), -T, T)
    size = 2 * T + 1
    pairs = (current + T) * size + (successor + T)
    counts = np.bincount(pairs.ravel(), minlength=size * size).reshape(size, size)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros((size, size)), where=totals > 0)


def dct_markov_features(
    image: np.ndarray, T: int = 4, directions: Sequence[str] = ("h", "v", "d", "m")
) -> np.ndarray:
    """Markov transition features of the block-DCT array (Shi et al. 2007; Sutthiwan et al. 2011).

    Parameters
    ----------
    image : float ``(H, W)`` gray or ``(H, W, 3)`` RGB in [0, 1], at least 8x8; only its
        luminance is used.
    T : clipping threshold of the difference arrays; 4 gives the usual 324 features.
    directions : any of ``"h"``, ``"v"``, ``"d"``, ``"m"`` (module docstring), in the
        order their matrices are concatenated.

    Returns
    -------
    np.ndarray
        float64 ``(len(directions) * (2T + 1) ** 2,)``: the row-major transition matrices,
        one after the other (324 values for T = 4 and four directions).
    """
    if int(T) != T or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    directions = tuple(directions)
    unknown = [d for d in directions if d not in DIRECTION_STEPS]
    if not directions or unknown or len(set(directions)) != len(directions):
        raise ValueError(
            f"directions must be distinct names from {list(DIRECTION_STEPS)}, got {directions}"
        )
    magnitudes = block_dct_magnitudes(image)
    return np.concatenate(
        [transition_matrix(magnitudes, DIRECTION_STEPS[d], int(T)).ravel() for d in directions]
    )


class DctMarkovSVM:
    """Standardised features and a linear SVM, with C chosen on a validation set.

    Sutthiwan et al. classify the Markov features with a linear SVM. Training uses
    scikit-learn's ``StandardScaler`` + ``LinearSVC`` (liblinear, squared hinge loss); the
    fitted model is kept only as NumPy arrays (feature mean and scale, weights, bias, class
    labels), so it can be saved with :meth:`to_arrays` in any array format and scored
    without scikit-learn objects.

    Parameters
    ----------
    C : SVM regularisation used when :meth:`fit` gets no validation set.
    c_grid : candidates for C when a validation set is given; the most accurate wins, ties
        going to the smaller (more regularised) C.
    max_iter : iteration limit of the liblinear solver.
    seed : seed of the solver's coordinate shuffling, for reproducible fits.
    """

    def __init__(
        self,
        C: float = 1.0,
        c_grid: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
        max_iter: int = 10_000,
        seed: int = 0,
    ):
        self.C = float(C)
        self.c_grid = tuple(sorted({float(c) for c in c_grid}))
        if not self.c_grid or min(self.c_grid + (self.C,)) <= 0:
            raise ValueError(f"C and c_grid must be positive, c_grid non-empty: {C}, {c_grid}")
        self.max_iter = max_iter
        self.seed = seed
        #: validation accuracy of each C tried by the last :meth:`fit` (empty without one)
        self.val_accuracy_: dict[float, float] = {}
        self._arrays: dict[str, np.ndarray] | None = None

    def _train(self, X: np.ndarray, y: np.ndarray, C: float) -> dict[str, np.ndarray]:
        svc = LinearSVC(C=C, max_iter=self.max_iter, random_state=self.seed)
        pipeline = make_pipeline(StandardScaler(), svc).fit(X, y)
        scaler = pipeline[0]
        return {
            "mean": scaler.mean_,
            "scale": scaler.scale_,
            "coef": svc.coef_[0],
            "intercept": svc.intercept_,
            "classes": svc.classes_,
            "C": np.array([C]),
        }

    def fit(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> DctMarkovSVM:
        """Fit on ``X_train (N, D)`` with two-class labels ``y_train (N,)``.

        With ``X_val, y_val`` every C of ``c_grid`` is fitted on the training set and the
        one with the best validation accuracy is kept (not refitted on train + val, so
        the validation score stays an honest estimate); otherwise ``C`` is used.
        """
        X_train, y_train = _check_xy(X_train, y_train)
        if len(np.unique(y_train)) != 2:
            raise ValueError(f"y_train must hold exactly two classes, got {np.unique(y_train)}")
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        self.val_accuracy_ = {}
        if X_val is None:
            self._arrays = self._train(X_train, y_train, self.C)
            return self
        X_val, y_val = _check_xy(X_val, y_val, n_features=X_train.shape[1])
        fits = {C: self._train(X_train, y_train, C) for C in self.c_grid}
        for C, arrays in fits.items():
            self._arrays = arrays
            self.val_accuracy_[C] = float(np.mean(self.predict(X_val) == y_val))
        self._arrays = fits[max(fits, key=lambda C: (self.val_accuracy_[C], -C))]
        return self

    @property
    def C_(self) -> float:
        """The C of the fitted model."""
        return float(self._fitted()["C"][0])

    def _fitted(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            raise RuntimeError("DctMarkovSVM is not fitted: call fit() or from_arrays() first")
        return self._arrays

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Signed distance to the hyperplane, float64 ``(N,)``; > 0 means ``classes[1]``."""
        arrays = self._fitted()
        X, _ = _check_xy(X, None, n_features=arrays["coef"].shape[0])
        standardised = (X - arrays["mean"]) / arrays["scale"]
        return standardised @ arrays["coef"] + arrays["intercept"][0]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels ``(N,)``, taken from the training labels."""
        return self._fitted()["classes"][(self.decision_function(X) > 0).astype(int)]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted model as plain arrays (for ``np.savez``, safetensors or JSON lists).

        Keys: ``mean``, ``scale``, ``coef`` (D,), ``intercept`` (1,), ``classes`` (2,),
        ``C`` (1,).
        """
        return {key: np.array(value) for key, value in self._fitted().items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> DctMarkovSVM:
        """Rebuild a fitted model from :meth:`to_arrays` output."""
        missing = set(_ARRAY_KEYS) - set(arrays)
        if missing:
            raise ValueError(f"arrays lack {sorted(missing)}")
        model = cls(C=float(np.asarray(arrays["C"]).reshape(-1)[0]))
        model._arrays = {key: np.array(arrays[key]) for key in _ARRAY_KEYS}
        return model


def _check_xy(
    X: np.ndarray, y: np.ndarray | None, n_features: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features as float64 ``(N, D)`` with finite values; labels ``(N,)`` if given."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or (n_features is not None and X.shape[1] != n_features):
        want = f"(N, {n_features})" if n_features is not None else "(N, D)"
        raise ValueError(f"features must be {want}, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("features hold NaN or infinity")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"labels must be ({X.shape[0]},), got shape {y.shape}")
    return X, y
