"""The models shipped in the package (NR-IQA, forgery): they score a photo with no model argument."""

import numpy as np
import pytest
from typer.testing import CliRunner

from hyperimage import api
from hyperimage.cli import app
from hyperimage.data.io import save_image
from hyperimage.data.photos import builtin_photos
from hyperimage.inference import networks


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """scikit-image's gray ``camera`` as RGB: in no training set of the default model."""
    gray = dict(builtin_photos(size=(384, 512), include_gray=True))["camera"]
    path = tmp_path_factory.mktemp("photo") / "camera.png"
    save_image(path, np.repeat(gray[..., None], 3, axis=2) if gray.ndim == 2 else gray)
    return path


def test_default_model_states_its_score(photo):
    model = api.default_model()
    assert model.config.preset == "livec-imagenet" and model.config.score.higher_is_better
    low, high = model.score_range
    assert 0.0 <= low < high <= 100.0  # LIVE-C's MOS scale


def test_score_and_explain_without_a_model_argument(photo, tmp_path):
    first = CliRunner().invoke(app, ["score", str(photo)])
    assert first.exit_code == 0, first.output
    value = float(first.stdout.strip().splitlines()[1].split(",")[1])
    again = CliRunner().invoke(app, ["score", str(photo)])
    assert float(again.stdout.strip().splitlines()[1].split(",")[1]) == value  # deterministic
    res = CliRunner().invoke(app, ["explain", str(photo), "--out", str(tmp_path / "heat.png")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "heat.png").stat().st_size > 1000


def test_default_model_prefers_the_pristine_photo(photo, tmp_path):
    from hyperimage.data.distortions import distort
    from hyperimage.data.io import load_image

    img = load_image(photo)
    noisy = tmp_path / "noisy.png"
    save_image(noisy, distort(img, 1, 5, np.random.default_rng(0)))
    scores = [p.score for p in api.score(api.default_model(), [photo, noisy])]
    assert scores[0] > scores[1]


def test_default_forgery_model_states_its_score():
    model = api.default_model("forgery")
    assert model.config.preset == "forgery-fast" and model.config.task == "classification"
    assert isinstance(model.stage1, networks.GridStage1) and model.grid.align == model.stage1.grid_step  # the fast path
    assert model.config.score.higher_is_better
    assert model.score_range == (0.0, 1.0)
    assert "probability authentic" in api.describe(model)


def test_score_and_explain_task_forgery(photo, tmp_path):
    first = CliRunner().invoke(app, ["score", "--task", "forgery", str(photo)])
    assert first.exit_code == 0, first.output
    value = float(first.stdout.strip().splitlines()[1].split(",")[1])
    assert 0.0 <= value <= 1.0
    again = CliRunner().invoke(app, ["score", "--task", "forgery", str(photo)])
    assert float(again.stdout.strip().splitlines()[1].split(",")[1]) == value  # deterministic
    res = CliRunner().invoke(app, ["explain", "--task", "forgery", str(photo), "--out", str(tmp_path / "where.png")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "where.png").stat().st_size > 1000


def test_explain_a_folder_writes_one_map_per_image_and_goes_on_past_a_bad_one(tmp_path):
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    for name in ("a.png", "sub/a.jpg", "sub/b.png"):
        (photos / name).parent.mkdir(parents=True, exist_ok=True)
        save_image(photos / name, rng.random((128, 160, 3)))
    (photos / "sub" / "broken.png").write_bytes(b"not an image")
    res = CliRunner().invoke(app, ["explain", str(photos), "--out", str(tmp_path / "maps"), "--raw"])
    assert res.exit_code == 1, res.output
    written = sorted(p.relative_to(tmp_path / "maps").as_posix() for p in (tmp_path / "maps").rglob("*.png"))
    assert written == ["a.png.png", "sub/a.jpg.png", "sub/b.png.png"]  # the folder's layout, suffixes kept
    assert (tmp_path / "maps" / "sub" / "b.png.npy").is_file()  # --raw beside each map
    assert f"error: {photos / 'sub' / 'broken.png'}: " in res.stderr and "1 image(s) not explained" in res.stderr
    alone = CliRunner().invoke(app, ["explain", str(photos / "sub" / "b.png"), "--out", str(tmp_path / "b.png")])
    one = alone.stdout.split("score ")[1].split()[0]
    assert f"b.png.png: score {one}" in res.stdout  # the same map and score as explaining it alone


def test_default_forensic_model_states_its_score_and_keeps_its_stage_1():
    model = api.default_model("forensic")
    assert isinstance(model, api.ForensicModel) and model.grid.cell == 16
    assert model.channels == ("noise", "jpeg", "copy-move", "learned") and model.score_range == (0.0, 1.0)
    assert model.learned_model == api.DEFAULT_MODELS / "forensic" / "learned-stage1"  # needs no other shipped model
    assert "probability authentic" in api.describe(model) and "its own stage 1" in api.describe(model)
    assert "whether and where a photo was tampered" in api.list_models()["forensic"]


def test_forensic_task_scores_and_explains_a_photo(photo, tmp_path):
    res = CliRunner().invoke(app, ["score", "--task", "forensic", str(photo)])
    assert res.exit_code == 0, res.output
    assert 0.0 <= float(res.stdout.strip().splitlines()[1].split(",")[1]) <= 1.0
    res = CliRunner().invoke(app, ["explain", "--task", "forensic", str(photo), "--out", str(tmp_path / "where.png")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "where.png").stat().st_size > 1000
