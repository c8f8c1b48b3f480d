"""The forensic model as a product (:mod:`hyperimage.inference.evidence.model`): save, load,
and every way a model folder can be wrong, each one line naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from hyperimage.inference.evidence import CHANNELS, Evidence
from hyperimage.inference.evidence.model import ForensicModel, predict, shipped_fingerprint
from hyperimage.inference.model import HyperImageModel

CHANNELS_USED = ["noise", "jpeg", "learned"]


def _model(seed: int = 0) -> ForensicModel:
    torch.manual_seed(seed)
    depth = sum(len(CHANNELS.get(n).features) for n in CHANNELS_USED)
    rng = np.random.default_rng(seed)
    norm = (rng.normal(0, 1, depth).astype(np.float32), rng.uniform(0.5, 2, depth).astype(np.float32))
    return ForensicModel(CHANNELS_USED, norm, threshold=0.42, width=8)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forensic") / "model"
    _model().save(folder)
    return folder


def _pixels(seed: int = 0, shape=(100, 140)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def test_the_saved_model_scores_as_the_one_in_memory(saved):
    model = _model()
    loaded = ForensicModel.load(saved)
    assert loaded.channels == tuple(CHANNELS_USED) and loaded.threshold == 0.42 and loaded.grid.cell == 64
    hypers = [model.hyper_image(Evidence(_pixels(k, shape))) for k, shape in enumerate([(100, 140), (64, 64), (100, 140)])]
    assert hypers[0].shape == (13, 2, 3)
    scores, maps = model.predict(hypers)
    again, maps_again = loaded.predict(hypers)
    np.testing.assert_allclose(again, scores, atol=1e-6)
    assert all(0.0 < s < 1.0 for s in scores) and [m.shape for m in maps_again] == [(2, 3), (1, 1), (2, 3)]
    np.testing.assert_allclose(predict(loaded.stage2, loaded.norm, hypers[:1])[0], scores[:1], atol=1e-6)
    config = json.loads((saved / "config.json").read_text())
    assert config["format"] == "hyperimage-forensic" and config["score"]["higher_is_better"] is True
    assert [c["name"] for c in config["channels"]] == CHANNELS_USED
    assert config["channels"][2]["shipped_model"] == {"name": "forgery", "sha256": shipped_fingerprint("forgery")}
    assert config["channels"][0]["features"] == list(CHANNELS.get("noise").features)
    assert set(load_file(saved / "model.safetensors")) >= {"mean", "std", "stage2.cell.weight"}


def _edit(key, value):
    def edit(config):
        config[key] = value
    return edit


def _channel(index, key, value):
    def edit(config):
        config["channels"][index][key] = value
    return edit


def _drop(key):
    def edit(config):
        del config[key]
    return edit


@pytest.mark.parametrize(
    "edit,message",
    [
        (_edit("threshold", 1.5), "threshold in [0, 1]"),
        (_edit("cell", 60), "cannot build this model (a cell's side must be a positive multiple of 8"),
        (_edit("cell", 4096), "cell 4096 is outside the bounds 8-1024"),
        (_edit("width", "wide"), "width must be a whole number"),
        (_edit("colour", 1), "unknown key 'colour'"),
        (_drop("threshold"), "no 'threshold'"),
        (_edit("format_version", 7), "forensic model format 7"),
        (_edit("score", {"name": "quality", "low": 0.0, "high": 1.0, "higher_is_better": True}), "score must be"),
        (_edit("channels", []), "channels must be a non-empty list"),
        (_channel(0, "name", "astrology"), "unknown evidence channel 'astrology'"),
        (_channel(0, "features", ["level"]), "channel 'noise' was trained on features ['level']"),
        (_channel(2, "shipped_model", {"name": "forgery", "sha256": "0" * 64}), "channel 'learned' read the shipped model"),
        (_channel(1, "colour", 1), "unknown key channels.colour"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_file(saved, tmp_path, edit, message):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes((saved / "model.safetensors").read_bytes())
    config = json.loads((saved / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError) as err:
        ForensicModel.load(folder)
    line = str(err.value)
    assert line.startswith(f"{folder / 'config.json'}: ") and message in line and "\n" not in line


@pytest.mark.parametrize(
    "case,message",
    [
        ("garbled", "not valid JSON"),
        ("no weights", "no model.safetensors"),
        ("pickle", "not a valid model file"),
        ("shape", "tensor 'mean' has shape [3], the config needs [13]"),
        ("nan", "tensor 'stage2.cell.bias' holds NaN"),
        ("std", "tensor 'std' holds a deviation <= 0"),
        ("missing", "no tensor 'std'"),
    ],
)
def test_a_bad_folder_is_one_line_naming_the_file(saved, tmp_path, case, message):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "config.json").write_text((saved / "config.json").read_text())
    tensors = load_file(saved / "model.safetensors")
    if case == "garbled":
        (folder / "config.json").write_text('{"format": "hyperimage-forensic", ')
    if case == "pickle":
        torch.save(tensors, folder / "model.safetensors")
    elif case != "no weights":
        tensors = dict(tensors)
        if case == "shape":
            tensors["mean"] = torch.zeros(3)
        elif case == "nan":
            tensors["stage2.cell.bias"] = torch.full_like(tensors["stage2.cell.bias"], float("nan"))
        elif case == "std":
            tensors["std"] = torch.zeros_like(tensors["std"])
        elif case == "missing":
            del tensors["std"]
        save_file(tensors, folder / "model.safetensors")
    with pytest.raises(ValueError) as err:
        ForensicModel.load(folder)
    line = str(err.value)
    assert str(folder) in line and message in line and "\n" not in line


def test_a_forensic_folder_is_no_two_stage_model(saved):
    with pytest.raises(ValueError, match="a forensic evidence model, not a two-stage one"):
        HyperImageModel.load(saved)


def test_impossible_models_are_refused_when_made():
    with pytest.raises(ValueError, match="unknown evidence channel 'x'"):
        ForensicModel(["x"])
    with pytest.raises(ValueError, match="named twice"):
        ForensicModel(["noise", "noise"])
    with pytest.raises(ValueError, match="needs 6 means"):
        ForensicModel(["noise"], (np.zeros(3), np.ones(3)))


def test_a_model_of_several_members_saves_and_loads(tmp_path):
    torch.manual_seed(3)
    depth = sum(len(CHANNELS.get(n).features) for n in CHANNELS_USED)
    model = ForensicModel(CHANNELS_USED, (np.zeros(depth, np.float32), np.ones(depth, np.float32)), width=8, members=3)
    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["members"] == 3
    loaded = ForensicModel.load(tmp_path / "m")
    hypers = [model.hyper_image(Evidence(_pixels(k))) for k in range(2)]
    assert loaded.members == 3
    np.testing.assert_allclose(loaded.predict(hypers)[0], model.predict(hypers)[0], atol=1e-6)


def test_a_format_1_folder_still_loads_as_one_member(saved, tmp_path):
    """Format 1 had no ``members`` and a scalar ``stage2.bias``: such a folder scores as before."""
    folder = tmp_path / "v1"
    folder.mkdir()
    config = json.loads((saved / "config.json").read_text())
    config["format_version"] = 1
    del config["members"]
    (folder / "config.json").write_text(json.dumps(config))
    tensors = dict(load_file(saved / "model.safetensors"))
    tensors["stage2.bias"] = tensors["stage2.bias"].reshape(())
    save_file(tensors, folder / "model.safetensors")
    hypers = [_model().hyper_image(Evidence(_pixels(0)))]
    np.testing.assert_allclose(ForensicModel.load(folder).predict(hypers)[0], _model().predict(hypers)[0], atol=1e-6)
    config["members"] = 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="unknown key 'members'"):
        ForensicModel.load(folder)


@pytest.mark.parametrize("members,message", [(0, "members 0 is outside the bounds 1-64"), (2, "tensor 'stage2.bias' has shape [1]")])
def test_members_must_fit_the_weights(saved, tmp_path, members, message):
    folder = tmp_path / "bad"
    folder.mkdir()
    config = json.loads((saved / "config.json").read_text())
    config["members"] = members
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes((saved / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ForensicModel.load(folder)


@pytest.fixture(scope="module")
def own_stage1(tmp_path_factory):
    """A forgery model folder whose stage 1 is not the shipped one's: the shipped weights, moved a little."""
    from hyperimage.inference.predictor import shipped_folder

    model = HyperImageModel.load(shipped_folder("forgery"))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for weight in model.stage1.parameters():
            weight.add_(0.05 * torch.randn(weight.shape, generator=generator))
    return model.save(tmp_path_factory.mktemp("stage1") / "tampering")


def test_a_stage_1_of_its_own_is_kept_in_the_model_folder(own_stage1, tmp_path):
    """With ``learned_model`` the learned channel reads that stage 1, the folder keeps a copy
    (with its SHA-256 in the config), and the saved model reads the same cells when the
    original folder is gone; the shipped stage 1 reads other cells."""
    import shutil

    from hyperimage.inference.evidence import CellGrid
    from hyperimage.inference.evidence.learned import LearnedChannel
    from hyperimage.inference.evidence.model import LEARNED_FOLDER, fingerprint

    source = tmp_path / "stage1"
    shutil.copytree(own_stage1, source)
    model = ForensicModel(CHANNELS_USED, width=8, learned_model=source)
    evidence = Evidence(_pixels(3, (130, 200)))
    own_cells = LearnedChannel(source)(evidence, CellGrid(64))
    hyper = model.hyper_image(evidence)
    np.testing.assert_array_equal(hyper[-2:], own_cells.transpose(2, 0, 1))
    assert not np.allclose(hyper[-2:], CHANNELS.get("learned")(evidence, CellGrid(64)).transpose(2, 0, 1))
    saved = model.save(tmp_path / "model")
    config = json.loads((saved / "config.json").read_text())
    learned = config["channels"][2]
    assert config["format_version"] == 3 and learned["shipped_model"] is None
    assert learned["model"] == {"folder": LEARNED_FOLDER, "sha256": fingerprint(source / "model.safetensors")}
    assert {p.name for p in (saved / LEARNED_FOLDER).iterdir()} == {"config.json", "model.safetensors"}
    shutil.rmtree(source)
    loaded = ForensicModel.load(saved)
    assert loaded.learned_model == saved / LEARNED_FOLDER and "its own stage 1" in loaded.description
    np.testing.assert_array_equal(loaded.hyper_image(evidence), hyper)
    readings = loaded.read(evidence, ["learned", "noise"])[1]
    assert "a forgery stage 1" in readings[0].channel.legend  # what a map of the model's own channel says
    again = loaded.save(tmp_path / "again")  # a loaded model saves whole again, its stage 1 with it
    np.testing.assert_array_equal(ForensicModel.load(again).hyper_image(evidence), hyper)


def _learned_entry(key, value):
    def edit(config):
        config["channels"][2]["model"][key] = value
    return edit


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda folder: (folder / "learned-stage1" / "model.safetensors").unlink(), "which is missing or incomplete"),
        (lambda folder: (folder / "learned-stage1" / "model.safetensors").write_bytes(b"other weights"),
         "is not the stage 1 the model was trained with"),
    ],
)
def test_a_missing_or_changed_stage_1_of_its_own_is_one_line(own_stage1, tmp_path, edit, message):
    folder = ForensicModel(CHANNELS_USED, width=8, learned_model=own_stage1).save(tmp_path / "model")
    edit(folder)
    with pytest.raises(ValueError, match=message) as err:
        ForensicModel.load(folder)
    assert str(folder / "config.json") in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "edit,message",
    [
        (_learned_entry("folder", "../elsewhere"), "its stage 1 must be recorded as"),
        (_learned_entry("extra", 1), "its stage 1 must be recorded as"),
        (_edit("format_version", 2), "only the learned channel of a format-3 model"),
    ],
)
def test_a_stage_1_recorded_otherwise_is_refused(own_stage1, tmp_path, edit, message):
    folder = ForensicModel(CHANNELS_USED, width=8, learned_model=own_stage1).save(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        ForensicModel.load(folder)


def test_a_stage_1_of_its_own_needs_the_learned_channel_and_a_fast_path(own_stage1):
    from hyperimage.inference.predictor import shipped_folder

    with pytest.raises(ValueError, match="does not read that channel"):
        ForensicModel(["noise", "jpeg"], learned_model=own_stage1)
    with pytest.raises(ValueError, match="iqa.*fast path"):
        ForensicModel(CHANNELS_USED, learned_model=shipped_folder("iqa"))
