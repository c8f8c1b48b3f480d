"""``hyperimage.load``: one way in for Python users (:mod:`hyperimage.inference.predictor`).

The reference values are the command line's: ``hyperimage score FILE`` (typer's CliRunner, as
in ``test_default_model.py``) on a crop of scikit-image's ``coffee`` written in the test; every
in-memory form of the same image must score within 1e-4 of the model's range of it.
"""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata
from typer.testing import CliRunner

import hyperimage
import hyperimage.api
from hyperimage.cli import app
from hyperimage.data import datasets
from hyperimage.inference import predictor as predictor_module
from hyperimage.data.io import ImageError

MODELS = ("iqa", "forgery")


@pytest.fixture(scope="module")
def predictors():
    return {name: hyperimage.load(name, device="cpu") for name in MODELS}


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """220 x 400: wider than the forgery model's largest side (384), so its scaling down is compared too."""
    path = tmp_path_factory.mktemp("api") / "coffee.png"
    Image.fromarray(skdata.coffee()[100:320, 100:500]).save(path)
    return path


def _tolerance(predictor):
    low, high = predictor.info.range
    return 1e-4 * (high - low)


def _cli_score(path, task):
    res = CliRunner().invoke(app, ["score", "--task", task, str(path)])
    assert res.exit_code == 0, res.output
    return float(res.stdout.strip().splitlines()[1].split(",")[1])


@pytest.mark.parametrize("task", MODELS)
def test_every_form_of_an_image_scores_as_the_command_line_does(predictors, photo, task):
    m = predictors[task]
    expected = _cli_score(photo, task)
    tol = _tolerance(m)
    value = m.score(Image.open(photo))
    assert isinstance(value, float) and value == pytest.approx(expected, abs=tol)
    u8 = np.asarray(Image.open(photo))
    f = u8.astype(np.float64) / 255.0
    chw = torch.from_numpy(f).permute(2, 0, 1).float()
    forms = [str(photo), photo.read_bytes(), io.BytesIO(photo.read_bytes()), u8, f]
    scores = m.score(forms)
    assert isinstance(scores, list) and scores == pytest.approx([expected] * len(forms), abs=tol)
    assert m.score(torch.stack([chw, chw])) == pytest.approx([expected] * 2, abs=tol)  # (B, C, H, W)
    assert m(chw) == pytest.approx(expected, abs=tol)  # (C, H, W); calling it is score
    assert m.score(Image.open(photo)) == value  # deterministic
    low, high = m.info.range
    assert low <= value <= high


def test_pillow_modes_are_read_as_their_files(predictors, tmp_path):
    m = predictors["forgery"]  # 64-px patches: the smallest images it takes are 64 x 64
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (80, 96, 4), dtype=np.uint8)
    deep = (rng.random((80, 96)) * 65535).astype(np.uint16)
    images = {
        "rgba": Image.fromarray(rgba),
        "palette": Image.fromarray(rgba[..., :3]).convert("P"),
        "sixteen": Image.fromarray(deep),
        "gray": Image.fromarray(rgba[..., 0]),
        "cmyk": Image.fromarray(rgba).convert("CMYK"),
    }
    for name, img in images.items():
        img.save(tmp_path / f"{name}.{'jpg' if name == 'cmyk' else 'png'}")
    assert images["sixteen"].mode.startswith("I;16")
    in_memory = m.score([Image.open(tmp_path / f"{n}.{'jpg' if n == 'cmyk' else 'png'}") for n in images])
    on_disk = m.score(sorted(tmp_path.iterdir(), key=lambda p: list(images).index(p.stem)))
    assert in_memory == pytest.approx(on_disk, abs=1e-6)
    assert m.score(rgba) == pytest.approx(m.score(tmp_path / "rgba.png"), abs=1e-6)  # (H, W, 4): alpha over white
    assert m.score(rgba[..., :1]) == pytest.approx(m.score(tmp_path / "gray.png"), abs=1e-6)  # (H, W, 1)
    assert m.score(rgba[..., 0] / 255.0) == pytest.approx(m.score(tmp_path / "gray.png"), abs=_tolerance(m))


@pytest.mark.parametrize(
    "bad,message",
    [
        (np.zeros((80, 80, 3), np.uint16), "array of dtype uint16; give uint8 (0-255) or float (0-1)"),
        (np.zeros((80, 80, 3), np.int64), "array of dtype int64"),
        (np.zeros((80, 80), bool), "array of dtype bool"),
        (np.zeros((80, 80, 2), np.uint8), "array of shape (80, 80, 2); give (H, W) or (H, W, C) with C 1, 3 or 4"),
        (np.zeros((3, 80, 80), np.uint8), "channels first? use arr.transpose(1, 2, 0)"),
        (np.zeros((2, 80, 80, 3), np.uint8), "for several images pass a list"),
        (np.full((80, 80, 3), 255.0), "float array with values 255 to 255; give values in [0, 1]; 0-255 values? divide by 255.0"),
        (np.full((80, 80, 3), -0.5), "float array with values -0.5 to -0.5; give values in [0, 1]"),
        (np.full((80, 80, 3), np.nan, np.float32), "array holds NaN or infinity"),
        (np.zeros((40, 80, 3), np.uint8), "80x40 image is smaller than one 64x64 patch"),
        (np.zeros((40, 80, 3), np.float32), "80x40 image is smaller than one 64x64 patch"),
        (torch.zeros(80, 80, 3), "tensor of shape (80, 80, 3); give (C, H, W) or (B, C, H, W)"),
        (torch.zeros(3, 80, 80, dtype=torch.int32), "tensor of dtype int32"),
        (torch.full((3, 80, 80), 2.0), "float tensor with values 2 to 2; give values in [0, 1]"),
        (b"not an image", "bytes: not an image Pillow can read"),
    ],
)
def test_bad_inputs_are_refused_with_one_line(predictors, bad, message):
    with pytest.raises(ImageError) as err:
        predictors["forgery"].score(bad)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_input_in_a_list_and_wrong_types_are_named(predictors, photo):
    m = predictors["forgery"]
    with pytest.raises(ImageError, match=r"^input 1 \(array\): array of dtype uint16"):
        m.score([photo, np.zeros((80, 80), np.uint16)])
    with pytest.raises(TypeError, match="^int: cannot score a int; give a path"):
        m.score(3)
    with pytest.raises(ImageError, match="no such file"):
        m.score(photo.parent / "missing.png")
    with pytest.raises(ValueError, match="readout must be one of"):
        m.explain(photo, readout="magic")


def _oriented(upright: np.ndarray, path):
    """``upright`` stored as a sideways camera stores it: turned a quarter counter-clockwise,
    with EXIF orientation 6 ("turn 90 degrees clockwise to view")."""
    img = Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1)))
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(path, exif=exif)
    return path


def test_exif_orientation_scores_and_maps_like_the_upright_twin(predictors, tmp_path):
    m = predictors["forgery"]
    upright = skdata.astronaut()[100:260, 120:400]  # 160 x 280: portrait if turned
    Image.fromarray(upright).save(tmp_path / "upright.png")
    sideways = _oriented(upright, tmp_path / "sideways.png")
    assert Image.open(sideways).size == (160, 280)  # stored turned
    expected = m.score(tmp_path / "upright.png")
    assert m.score([sideways, Image.open(sideways)]) == pytest.approx([expected] * 2, abs=1e-6)
    assert _cli_score(sideways, "forgery") == pytest.approx(expected, abs=_tolerance(m))
    flat, turned = m.explain([tmp_path / "upright.png", sideways])
    assert turned.heat.shape == flat.heat.shape == (160, 280) and turned.image.shape == (160, 280, 3)
    np.testing.assert_allclose(turned.heat, flat.heat, atol=1e-5)
    np.testing.assert_allclose(turned.cells, flat.cells, atol=1e-5)


@pytest.mark.parametrize("task", MODELS)
def test_explain_gives_the_score_the_grid_the_map_and_the_overlay(predictors, photo, task):
    m = predictors[task]
    e = m.explain(Image.open(photo))
    u, v = m.model.config.grid
    h, w = m.model.grid.fit_size(220, 400)  # the image as the model saw it (scaled down for forgery)
    assert e.score == pytest.approx(m.score(photo), abs=_tolerance(m))
    assert e.cells.shape == (u, v) and e.heat.shape == (h, w) and e.image.shape == (h, w, 3)
    assert np.isfinite(e.cells).all() and np.isfinite(e.heat).any()
    assert e.name == "coffee.png" and e.scale.label and e.readout == "patch"
    overlay = e.overlay
    assert isinstance(overlay, Image.Image) and overlay.mode == "RGB" and overlay.width > 400
    several = m.explain([photo, torch.rand(3, 96, 128)], readout="gradient")
    assert [x.cells.shape for x in several] == [(u, v)] * 2 and several[1].heat.shape == (96, 128)
    assert several[0].score == pytest.approx(e.score, abs=_tolerance(m))


def test_info_says_what_the_score_means(predictors):
    iqa, forgery = predictors["iqa"].info, predictors["forgery"].info
    assert (iqa.task, iqa.score_name, iqa.preset, iqa.method) == ("regression", "image quality", "livec-imagenet", "two-stage")
    assert iqa.higher_is_better and iqa.direction == "higher is better" and not predictors["iqa"].lower_better
    assert iqa.range == predictors["iqa"].model.score_range
    assert iqa.card.startswith("# Default NR-IQA model")
    assert (forgery.task, forgery.score_name, forgery.range) == ("classification", "probability authentic", (0.0, 1.0))


def test_load_refuses_what_is_not_a_model_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"no such model folder, and not a shipped model \(iqa, forgery, forensic\)$"):
        hyperimage.load("iqa-large")
    with pytest.raises(ValueError, match="not a hyperimage model folder"):
        hyperimage.load(tmp_path)
    (tmp_path / "config.json").write_text("{")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="config.json: not valid JSON") as err:
        hyperimage.load(tmp_path)
    assert "\n" not in str(err.value)


def test_list_models_and_the_models_command():
    shipped = hyperimage.list_models()
    names = [*MODELS, "forensic"]  # the forensic model is described from its config alone, as the others
    assert list(shipped) == names
    assert "image quality" in shipped["iqa"] and "probability authentic" in shipped["forgery"]
    assert "probability authentic" in shipped["forensic"] and "its own stage 1" in shipped["forensic"]
    assert all("\n" not in line and "higher is better" in line for line in shipped.values())
    res = CliRunner().invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == names
    assert all(shipped[name] in line for name, line in zip(names, lines))


def test_import_hyperimage_stays_light():
    code = "import sys, hyperimage; print('torch' in sys.modules, 'load' in dir(hyperimage))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def _synthetic_folder(root, seed: int, n: int = 12):
    """A folder of the synthetic task (hyperimage's generator, meta.json naming its task)."""
    return hyperimage.api.make_synthetic(root, experiment=1, n=n, seed=seed)


def test_train_init_starts_every_phase_from_the_given_model(tmp_path):
    """With learning rate 0 nothing moves: the fine-tuned model keeps the init's weights exactly,
    its recipe is the init's own recipe.json, and what training fits is fitted on the new data."""
    from dataclasses import replace

    from hyperimage.training import TrainConfig, recipe as recipes

    still = TrainConfig(epochs=1, patience=1, lr=0.0, momentum=0.0)
    frozen = replace(recipes.get("synthetic-quick"), stage2=replace(still, batch_size=4), name="frozen")
    frozen = replace(frozen, phases=[replace(frozen.main, train=still)])
    first = hyperimage.api.train(_synthetic_folder(tmp_path / "a", 0), tmp_path / "m1", recipe=frozen, progress=False, seed=0)
    new_data = _synthetic_folder(tmp_path / "b", 1)
    said = []
    tuned = hyperimage.api.train(new_data, tmp_path / "m2", init=tmp_path / "m1", progress=False, seed=3, log=said.append)
    for (name, a), (_, b) in zip(first.state_dict().items(), tuned.state_dict().items()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)
    assert recipes.get(tmp_path / "m2" / "recipe.json").name == "frozen"
    targets = [r.target for r in datasets.load(new_data)]
    assert tuned.fitted.score_range is not None and tuned.fitted.score_range[1] <= max(targets)
    assert json.loads((tmp_path / "m2" / "training.json").read_text())["init"] == str(tmp_path / "m1")


def test_train_init_names_a_shipped_model_and_refuses_another_design(tmp_path):
    model, folder = hyperimage.api.init_model("forgery")
    assert folder == predictor_module.shipped_folder("forgery") and model.config.preset == "forgery-fast"
    data = _synthetic_folder(tmp_path / "a", 0, n=4)
    with pytest.raises(ValueError, match="--init gives a model of preset forgery-fast; it cannot be trained as preset tid"):
        hyperimage.api.train(data, tmp_path / "m", init="forgery", preset="tid", progress=False)
    with pytest.raises(ValueError, match="nope: not a hyperimage model folder"):
        hyperimage.api.init_model(tmp_path / "nope")


def test_bfloat16_scores_near_float32_and_is_refused_where_it_would_be_emulated(predictors, photo, monkeypatch):
    """``precision="bfloat16"`` (``--precision``) runs the model under autocast: scores come back
    as floats, near float32's (``benchmarks/score_speed.py`` measured at most 1.5 points of the
    shipped model's 89-point range on 300 photos; the bound here is 4.5) but not equal to them (it did run in bfloat16); the
    command line gives the same; without native bfloat16 it is one line, not a slow run."""
    from hyperimage.inference import precision

    if not precision.native_bfloat16(torch.device("cpu")):
        pytest.skip("this CPU has no native bfloat16")
    fast = hyperimage.load("iqa", device="cpu", precision="bfloat16")
    low, high = fast.info.range
    exact, approx = predictors["iqa"].score(photo), fast.score(photo)
    assert isinstance(approx, float) and approx != exact and abs(approx - exact) < 0.05 * (high - low)
    assert fast.explain(photo).score == pytest.approx(approx, abs=_tolerance(fast))
    res = CliRunner().invoke(app, ["score", "--task", "iqa", "--precision", "bfloat16", str(photo)])
    assert res.exit_code == 0 and float(res.stdout.strip().splitlines()[1].split(",")[1]) == pytest.approx(approx, abs=_tolerance(fast))
    assert predictors["iqa"].model.precision == "float32"
    row = next(iter(hyperimage.api.score(fast.model, [photo])))  # a given model keeps its precision
    assert row.score == pytest.approx(approx, abs=_tolerance(fast)) and fast.model.precision == "bfloat16"

    res = CliRunner().invoke(app, ["score", "--task", "iqa", "--precision", "half", str(photo)])
    assert res.exit_code == 2 and "unknown precision 'half': float32 or bfloat16" in res.output
    monkeypatch.setattr(precision, "native_bfloat16", lambda device: False)
    with pytest.raises(ValueError, match=r"^precision bfloat16: this cpu has no native bfloat16 .*use float32$"):
        hyperimage.load("iqa", device="cpu", precision="bfloat16")
