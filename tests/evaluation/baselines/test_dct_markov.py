"""Tests for hyperimage.evaluation.baselines.dct_markov: block-DCT Markov features and the linear SVM."""

import io

import numpy as np
import pytest
from PIL import Image
from scipy.fft import dctn
from scipy.ndimage import gaussian_filter
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from hyperimage.evaluation.baselines.dct_markov import (
    DctMarkovSVM, block_dct_magnitudes, dct_markov_features, transition_matrix,
)


def _smooth_image(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A float32 RGB image in [0, 1]: smooth random field plus fine noise."""
    sigma = rng.uniform(1.0, 3.0)
    field = gaussian_filter(rng.standard_normal((size, size, 3)), (sigma, sigma, 0))
    field = (field - field.min()) / np.ptp(field) * 0.8 + 0.1
    return np.clip(field + 0.02 * rng.standard_normal(field.shape), 0, 1).astype(np.float32)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Compress with Pillow at ``quality`` and decode, in memory."""
    buffer = io.BytesIO()
    Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255


def _spliced_dataset(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Label 0: 64x64 JPEG at quality 90. Label 1: the same, with a 24x24 region pasted
    from a quality-75 JPEG of another image, at random offsets (mostly off the 8x8 grid)."""
    features, labels = [], []
    for i in range(n):
        label = i % 2
        image = _jpeg(_smooth_image(rng), 90)
        if label:
            donor = _jpeg(_smooth_image(rng), 75)
            (r, c), (dr, dc) = rng.integers(0, 40, 2), rng.integers(0, 40, 2)
            image[r : r + 24, c : c + 24] = donor[dr : dr + 24, dc : dc + 24]
        features.append(dct_markov_features(image))
        labels.append(label)
    return np.array(features), np.array(labels)


def _matrices(features: np.ndarray, T: int = 4) -> np.ndarray:
    return features.reshape(-1, 2 * T + 1, 2 * T + 1)


def test_feature_lengths():
    image = _smooth_image(np.random.default_rng(0))
    assert dct_markov_features(image).shape == (324,)
    assert dct_markov_features(image, directions=("h", "v")).shape == (162,)
    assert dct_markov_features(image, T=3, directions=("d",)).shape == (49,)
    assert dct_markov_features(image).dtype == np.float64


def test_direction_order_is_concatenation_order():
    image = _smooth_image(np.random.default_rng(1))
    full = dct_markov_features(image)
    swapped = dct_markov_features(image, directions=("v", "h", "d", "m"))
    np.testing.assert_array_equal(swapped[:81], full[81:162])
    np.testing.assert_array_equal(dct_markov_features(image, directions=("m",)), full[243:])


def test_rows_are_probabilities_or_zero():
    rng = np.random.default_rng(2)
    for image in (_smooth_image(rng), rng.random((40, 48)).astype(np.float32)):
        sums = _matrices(dct_markov_features(image)).sum(axis=2)
        assert np.all(np.isclose(sums, 1.0) | (sums == 0.0))
        assert np.isclose(sums, 1.0).sum() >= 4  # at least one occupied row per direction


def test_block_dct_matches_per_block_transform():
    rng = np.random.default_rng(3)
    image = rng.random((19, 26)).astype(np.float32)  # cropped to 16 x 24
    got = block_dct_magnitudes(image)
    assert got.shape == (16, 24) and got.dtype == np.int64
    y = image.astype(np.float64) * 255 - 128
    for i, j in [(0, 0), (1, 2), (0, 1)]:
        block = y[8 * i : 8 * i + 8, 8 * j : 8 * j + 8]
        expected = np.rint(np.abs(dctn(block, norm="ortho")))
        np.testing.assert_array_equal(got[8 * i : 8 * i + 8, 8 * j : 8 * j + 8], expected)


def test_luminance_of_rgb_is_bt601():
    rng = np.random.default_rng(4)
    rgb = rng.random((16, 16, 3)).astype(np.float32)
    y = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_array_equal(block_dct_magnitudes(rgb), block_dct_magnitudes(y))


def test_mid_gray_image_puts_all_mass_at_zero_difference():
    # Y = 128 cancels JPEG's level shift, so every coefficient and every difference is 0
    image = np.full((24, 32, 3), 128 / 255, dtype=np.float32)
    expected = np.zeros((9, 9))
    expected[4, 4] = 1.0
    for matrix in _matrices(dct_markov_features(image)):
        np.testing.assert_array_equal(matrix, expected)


def test_constant_image_horizontal_matrix_by_hand():
    # gray 0.2 -> Y - 128 = -77: each block has |DC| = 616 at (8i, 8j), zeros elsewhere.
    # A DC row of the 16 x 16 array reads [616, 0 x7, 616, 0 x7]; its clipped differences
    # [4, 0 x6, -4, 4, 0 x6] give the transitions 4->0 (x2), 0->0 (x10), 0->-4, -4->4.
    # The 14 other rows give 14 transitions 0->0 each.
    matrix = _matrices(dct_markov_features(np.full((16, 16), 0.2), directions=("h",)))[0]
    expected = np.zeros((9, 9))
    expected[8, 4] = 1.0  # after +4 always 0
    expected[0, 8] = 1.0  # after -4 always +4
    expected[4, 4], expected[4, 0] = 216 / 218, 2 / 218  # 20 + 196 zeros, 2 drops
    np.testing.assert_allclose(matrix, expected, atol=1e-15)


def test_minor_diagonal_pairs_lower_left_with_upper_right():
    # As DDE Lab's extractShi324.m: D(p) = F(p) - F(p + (-1, 1)), then D(p) -> D(p + (-1, 1)).
    # A single 1 at (2, 1) gives D = 1 at (2, 1) and D = -1 at (3, 0): the pair
    # (3, 0) -> (2, 1) is -1 -> 1 and (2, 1) -> (1, 2) is 1 -> 0; all other pairs are 0 -> 0.
    magnitudes = np.zeros((5, 5), dtype=np.int64)
    magnitudes[2, 1] = 1
    matrix = transition_matrix(magnitudes, (-1, 1), T=1)
    np.testing.assert_array_equal(matrix, [[0, 0, 1], [0, 1, 0], [0, 1, 0]])


def _dde_tpm(a1: np.ndarray, a2: np.ndarray, T: int) -> np.ndarray:
    """getTPM of DDE Lab's extractShi324.m: P(a2 = j | a1 = i), empty rows 0."""
    matrix = np.zeros((2 * T + 1, 2 * T + 1))
    for i in range(-T, T + 1):
        following = a2[a1 == i]
        for j in range(-T, T + 1):
            matrix[i + T, j + T] = np.count_nonzero(following == j) / max(following.size, 1)
    return matrix


def test_matches_port_of_dde_extract_shi324():
    # Slices transcribed from DDE Lab's MATLAB extractShi324.m (Binghamton), 1-based -> 0-based
    rng = np.random.default_rng(7)
    image = _jpeg(_smooth_image(rng, 48), 75)
    a = block_dct_magnitudes(image)
    T = 4
    ah = np.clip(a[:, :-1] - a[:, 1:], -T, T)
    av = np.clip(a[:-1, :] - a[1:, :], -T, T)
    ad = np.clip(a[:-1, :-1] - a[1:, 1:], -T, T)
    am = np.clip(a[1:, :-1] - a[:-1, 1:], -T, T)
    expected = [
        _dde_tpm(ah[:, :-1], ah[:, 1:], T),
        _dde_tpm(av[:-1, :], av[1:, :], T),
        _dde_tpm(ad[:-1, :-1], ad[1:, 1:], T),
        _dde_tpm(am[1:, :-1], am[:-1, 1:], T),
    ]
    np.testing.assert_allclose(_matrices(dct_markov_features(image)), expected, atol=1e-15)


def test_gray_and_rgb_with_equal_channels_agree_and_are_deterministic():
    rng = np.random.default_rng(5)
    gray = rng.random((33, 41)).astype(np.float32)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    np.testing.assert_allclose(dct_markov_features(gray), dct_markov_features(rgb))
    np.testing.assert_array_equal(dct_markov_features(rgb), dct_markov_features(rgb.copy()))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="shape"):
        dct_markov_features(np.zeros((16, 16, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="8x8"):
        dct_markov_features(np.zeros((7, 16), dtype=np.float32))
    with pytest.raises(ValueError, match="dtype"):
        dct_markov_features(np.zeros((16, 16), dtype=np.uint8))
    with pytest.raises(ValueError, match="directions"):
        dct_markov_features(np.zeros((16, 16)), directions=("h", "x"))
    with pytest.raises(ValueError, match="directions"):
        dct_markov_features(np.zeros((16, 16)), directions=("h", "h"))
    with pytest.raises(ValueError, match="T"):
        dct_markov_features(np.zeros((16, 16)), T=0)


@pytest.fixture(scope="module")
def spliced(seed) -> tuple[np.ndarray, np.ndarray]:
    return _spliced_dataset(np.random.default_rng(6 + seed), 96)


def test_svm_detects_spliced_regions_on_held_out_images(spliced, learned):
    X, y = spliced
    model = DctMarkovSVM().fit(X[:48], y[:48], X[48:72], y[48:72])
    assert set(model.val_accuracy_) == {0.01, 0.1, 1.0, 10.0}
    assert model.C_ in model.val_accuracy_
    # measured 0.992 +- 0.017 (worst 0.958, 11 spreads)
    learned("held-out accuracy", np.mean(model.predict(X[72:]) == y[72:]), above=0.8)  # chance is 0.5


def test_svm_matches_scikit_learn_and_round_trips_through_npz(spliced, tmp_path):
    X, y = spliced
    labels = np.where(y == 1, "tampered", "authentic")
    model = DctMarkovSVM(C=0.1).fit(X[:48], labels[:48])
    reference = make_pipeline(StandardScaler(), LinearSVC(C=0.1, random_state=0)).fit(
        X[:48], labels[:48]
    )
    np.testing.assert_allclose(
        model.decision_function(X[48:]), reference.decision_function(X[48:]), atol=1e-10
    )
    np.testing.assert_array_equal(model.predict(X[48:]), reference.predict(X[48:]))

    np.savez(tmp_path / "svm.npz", **model.to_arrays())
    with np.load(tmp_path / "svm.npz", allow_pickle=False) as stored:
        loaded = DctMarkovSVM.from_arrays(dict(stored))
    np.testing.assert_array_equal(loaded.decision_function(X[48:]), model.decision_function(X[48:]))
    np.testing.assert_array_equal(loaded.predict(X[48:]), model.predict(X[48:]))
    assert loaded.C_ == 0.1


def test_svm_fit_is_deterministic(spliced):
    X, y = spliced
    first = DctMarkovSVM().fit(X[:48], y[:48]).to_arrays()
    second = DctMarkovSVM().fit(X[:48], y[:48]).to_arrays()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_svm_bad_input_raises(spliced):
    X, y = spliced
    with pytest.raises(RuntimeError, match="not fitted"):
        DctMarkovSVM().predict(X)
    with pytest.raises(ValueError, match="two classes"):
        DctMarkovSVM().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="labels"):
        DctMarkovSVM().fit(X, y[:-1])
    with pytest.raises(ValueError, match="both"):
        DctMarkovSVM().fit(X, y, X_val=X)
    model = DctMarkovSVM().fit(X, y)
    with pytest.raises(ValueError, match=r"\(N, 324\)"):
        model.decision_function(X[:, :100])
    with pytest.raises(ValueError, match="NaN"):
        model.decision_function(np.full_like(X, np.nan))
    with pytest.raises(ValueError, match="positive"):
        DctMarkovSVM(c_grid=())
    with pytest.raises(ValueError, match="positive"):
        DctMarkovSVM(C=0.0)
    with pytest.raises(ValueError, match="lack"):
        DctMarkovSVM.from_arrays({"coef": np.zeros(3)})
