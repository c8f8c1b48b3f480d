import numpy as np
import pytest

from hyperimage.data.datasets import folder
from hyperimage.data.generators import synthetic
from hyperimage.data.io import load_image


def test_eq3_corner_patch_has_no_position_penalty():
    img = np.zeros((128, 128))
    img[:16, :16] = 1.0  # background 0, patch all 1 -> dissimilarity 1
    assert synthetic.eq3_score(img, np.array([[0, 0]]), background=0.0) == pytest.approx(4.0)
    img2 = np.zeros((128, 128))
    img2[112:, 112:] = 1.0  # opposite corner: same
    assert synthetic.eq3_score(img2, np.array([[112, 112]]), background=0.0) == pytest.approx(4.0)


def test_eq3_centre_patch_has_full_penalty_and_combines_in_quadrature():
    img = np.full((128, 128), 0.5)
    img[56:72, 56:72] = 0.25  # centred: c_i = c_hat, dissimilarity 0.25
    img[0:16, 112:128] = 1.0  # corner, dissimilarity 0.5
    corners = np.array([[56, 56], [0, 112]])
    alphas = synthetic.eq3_alphas(img, corners, background=0.5)
    assert alphas == pytest.approx([1.25, 0.5])
    assert synthetic.eq3_score(img, corners, 0.5) == pytest.approx(5 - np.sqrt(1.25**2 + 0.5**2))


def test_generated_images_follow_the_definition():
    images = synthetic.generate(1, 40, seed=3)
    for im in images:
        assert im.pixels.shape == (128, 128) and im.pixels.dtype == np.uint8
        k = len(im.corners)
        assert 1 <= k <= 5
        gap = np.abs(im.corners[:, None] - im.corners[None])
        assert not ((gap < 16).all(axis=2) & ~np.eye(k, dtype=bool)).any()  # no overlap
        for t, l in im.corners:
            values = np.unique(im.pixels[t : t + 16, l : l + 16])
            assert len(values) <= 2
            assert all((v < 128) == (v == values.min()) for v in values) or len(values) == 1
    assert len({len(im.corners) for im in images}) == 5


def test_experiment2_fixes_background_and_contents():
    images = synthetic.generate(2, 10, seed=1, patches=3)
    backgrounds = {int(np.bincount(im.pixels.ravel()).argmax()) for im in images}
    assert len(backgrounds) == 1
    blocks = [np.sort(np.stack([im.pixels[t : t + 16, l : l + 16] for t, l in im.corners]).ravel()) for im in images]
    assert all(np.array_equal(blocks[0], b) for b in blocks)
    assert len({im.score for im in images}) > 1


def test_generation_is_deterministic_and_seed_dependent():
    a = synthetic.generate(1, 5, seed=7)
    b = synthetic.generate(1, 5, seed=7)
    c = synthetic.generate(1, 5, seed=8)
    assert all(np.array_equal(x.pixels, y.pixels) for x, y in zip(a, b))
    assert not all(np.array_equal(x.pixels, y.pixels) for x, y in zip(a, c))


def test_scores_are_computed_on_stored_pixels(tmp_path):
    images = synthetic.generate(1, 6, seed=2)
    synthetic.write_folder(tmp_path, images)
    records = folder.load(tmp_path)
    assert folder.meta(tmp_path)["task"] == "synthetic"
    for rec, im in zip(records, images):
        stored = load_image(rec.path, mode="L").astype(np.float64)
        background = np.bincount(np.rint(stored * 255).astype(int).ravel()).argmax() / 255
        assert rec.target == pytest.approx(synthetic.eq3_score(stored, im.corners, background), abs=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="experiment"):
        synthetic.generate(3, 1)
    with pytest.raises(ValueError, match="patches"):
        synthetic.generate(2, 1, patches=6)
