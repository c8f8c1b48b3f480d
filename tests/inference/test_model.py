import inspect
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from hyperimage import presets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.generators import synthetic
from hyperimage.inference import networks
from hyperimage.inference.model import Fitted, HyperImageModel, ModelConfig
from hyperimage.training.store import HyperImageCache, ImageStore


def _example_input(name):
    """A batch of 2 inputs matching the factory's default arguments."""
    defaults = {k: p.default for k, p in inspect.signature(networks.NETWORKS.get(name)).parameters.items()}
    if "patch" in defaults:  # stage 1: patches
        return torch.rand(2, defaults["in_channels"], defaults["patch"], defaults["patch"])
    if "grid" in defaults:  # stage 2: hyper-images
        return torch.rand(2, defaults["in_features"], *defaults["grid"])
    if "in_features" in defaults:  # a stage 2 over any grid (the forensic one): an odd-sized grid
        return torch.rand(2, defaults["in_features"], 5, 7)
    return torch.rand(2, defaults["in_channels"], *defaults["size"])  # end-to-end: images


@pytest.mark.parametrize("name", networks.available())
def test_every_network_runs_and_gets_gradients(name):
    torch.manual_seed(0)
    net = networks.create(name)
    x = _example_input(name)
    if hasattr(net, "forward_features"):
        assert net.forward_features(x).shape == (2, net.num_features)
    out = net(x)
    assert out.shape == (2,) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_hyper_image_layout_patch_uv_lands_at_cell_uv():
    torch.manual_seed(0)
    model = HyperImageModel(presets.get("synthetic")).eval()
    images = torch.rand(2, 1, 128, 128)
    hyper = model.hyper_image(images)
    assert hyper.shape == (2, 400, 10, 10)
    rows, cols = model.grid.origins(128, 128)
    pre = model.preprocess(images)
    with torch.no_grad():
        for u, v in [(0, 0), (3, 7), (9, 2), (9, 9)]:
            patch = pre[:, :, rows[u] : rows[u] + 32, cols[v] : cols[v] + 32]
            torch.testing.assert_close(hyper[:, :, u, v], model.stage1.forward_features(patch), rtol=1e-5, atol=1e-5)


def test_training_bank_builds_the_same_hyper_images_as_inference(tmp_path):
    model = HyperImageModel(presets.get("synthetic")).eval()
    ims = synthetic.generate(1, 3, seed=0)
    synthetic.write_folder(tmp_path, ims)
    records = [ImageRecord(path=tmp_path / f"images/{i:05d}.png", target=im.score) for i, im in enumerate(ims)]
    store = ImageStore.prepare(records, model, tmp_path / "cache")
    x = torch.tensor(np.stack([im.pixels for im in ims]) / 255.0, dtype=torch.float32)[:, None]
    torch.testing.assert_close(store.images(torch.arange(3)), model.preprocess(x))
    cache = HyperImageCache.build(store, model, tmp_path / "cache", "hyper")
    with torch.no_grad():
        expected = model.hyper_image(x)
        torch.testing.assert_close(cache.means, model.cell_scores(expected).mean(dim=(1, 2)), rtol=1e-5, atol=1e-5)
    # float16 on disk: about 3 significant digits
    torch.testing.assert_close(cache.read(torch.tensor([2, 0])), expected[[2, 0]], rtol=2e-3, atol=1e-3)


@pytest.mark.parametrize("method", ["two-stage", "patch-average"])
def test_save_load_round_trip_gives_identical_predictions(tmp_path, method):
    model = HyperImageModel(presets.get("synthetic", method))
    model.fitted.stage1_norm = (4.9, 0.1)
    model.fitted.stage2_norm = (3.0, 0.7)
    model.eval()
    model.save(tmp_path / "m")
    loaded = HyperImageModel.load(tmp_path / "m")
    x = torch.rand(4, 1, 128, 128)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["method"] == method and config["score"]["higher_is_better"] is True
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]


def test_half_precision_save_halves_the_file_and_keeps_the_scores(tmp_path):
    torch.manual_seed(0)
    model = HyperImageModel(presets.get("synthetic")).eval()
    model.save(tmp_path / "full")
    model.save(tmp_path / "half", half=True)
    full, half = ((tmp_path / name / "model.safetensors").stat().st_size for name in ("full", "half"))
    assert half < 0.55 * full
    loaded = HyperImageModel.load(tmp_path / "half")
    assert all(v.dtype == torch.float32 for v in loaded.state_dict().values() if v.is_floating_point())
    x = torch.rand(4, 1, 128, 128)
    with torch.no_grad():
        expected, got = model(x), loaded(x)
    assert not torch.equal(expected, got)  # the weights were rounded...
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-2 * float(expected.abs().max()))  # ...only a little
    loaded.save(tmp_path / "again", half=True)  # float16 -> float32 -> float16 loses nothing more
    assert (tmp_path / "again" / "model.safetensors").read_bytes() == (tmp_path / "half" / "model.safetensors").read_bytes()


def _imagenet_model() -> HyperImageModel:
    config = presets.get("livec-imagenet")
    config.grid, config.stage2 = (8, 10), "synthetic-stage2"
    torch.manual_seed(0)
    return HyperImageModel(config).eval()


def test_a_frozen_imagenet_trunk_is_referred_to_not_copied(tmp_path):
    from hyperimage.inference.networks.efficientnet_lite import weights_path
    from hyperimage.storage import load_tensors

    model = _imagenet_model()
    model.save(tmp_path / "m")
    tensors, meta = load_tensors(tmp_path / "m" / "model.safetensors")
    assert meta["shipped"] == ["stage1.trunk"] and not any(k.startswith("stage1.trunk.") for k in tensors)
    assert (tmp_path / "m" / "model.safetensors").stat().st_size < 0.6 * weights_path().stat().st_size
    loaded = HyperImageModel.load(tmp_path / "m")
    x = torch.rand(2, 3, 256, 320)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_a_changed_trunk_is_saved_whole_and_a_bad_reference_refused(tmp_path):
    from hyperimage.storage import load_tensors, save_tensors

    model = _imagenet_model()
    with torch.no_grad():
        model.stage1.trunk._conv_stem.weight.mul_(1.01)  # fine-tuned: no longer the package's
    model.save(tmp_path / "m")
    tensors, meta = load_tensors(tmp_path / "m" / "model.safetensors")
    assert meta["shipped"] == [] and "stage1.trunk._conv_stem.weight" in tensors
    loaded = HyperImageModel.load(tmp_path / "m")
    assert torch.equal(loaded.stage1.trunk._conv_stem.weight, model.stage1.trunk._conv_stem.weight)
    save_tensors(tmp_path / "m" / "model.safetensors", tensors, {"shipped": ["stage2"]})
    with pytest.raises(ValueError, match=r"model.safetensors: not a valid model file \(it refers to package weights \['stage2'\]"):
        HyperImageModel.load(tmp_path / "m")


def test_load_refuses_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ValueError, match="not a hyperimage model"):
        HyperImageModel.load(tmp_path)


def test_config_rejects_unknown_method_and_network():
    with pytest.raises(ValueError, match="method"):
        ModelConfig(method="three-stage")
    with pytest.raises(ValueError, match="unknown network"):
        HyperImageModel(ModelConfig(stage1="nope"))


def test_shipped_models_pass_the_load_checks():
    from hyperimage.api import DEFAULT_MODELS

    for task in ("iqa", "forgery"):
        model = HyperImageModel.load(DEFAULT_MODELS / task)
        assert all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())


@pytest.mark.parametrize(
    "key,value,reason",
    [
        ("score", {"name": "q", "colour": 1}, "unknown key score.colour"),
        ("score", {"low": "0"}, "score.low must be a finite number or null, got '0'"),
        ("fitted", {"stage2_norm": [0.0, float("nan")]}, "fitted.stage2_norm must be a list of 2 finite numbers, got [0.0, nan]"),
        ("fitted", {"scale": 1.0}, "unknown key fitted.scale"),
        ("stage2_norm", [0.0, 1.0], "unknown key 'stage2_norm'"),  # format 1's place, not format 2's
        ("format_version", 3, "model format 3; this hyperimage reads formats 1 to 2 (a newer release wrote it?)"),
        ("max_size", [128, 128.5], "max_size must be a list of 2 whole numbers, got [128, 128.5]"),
        ("patch", True, "patch must be a whole number, got True"),
        ("patch", 1025, "patch 1025 is outside the bounds 1-1024"),
        ("max_size", [128, 20000], "max_size [128, 20000] is outside the bounds 1-16384"),
        ("method", "three-stage", "method must be one of ('two-stage', 'patch-average'), got 'three-stage'"),
        ("stage1", "nope", None),
    ],
)
def test_load_checks_every_config_key(tmp_path, key, value, reason):
    folder = HyperImageModel(presets.get("synthetic")).save(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError) as err:
        HyperImageModel.load(folder)
    expected = reason and f"{folder / 'config.json'}: {reason}"
    assert str(err.value) == (expected or f"{folder / 'config.json'}: cannot build this model (unknown network 'nope'; known: {', '.join(networks.available())})")


def test_a_model_folder_of_format_1_still_loads(tmp_path):
    """Format 1 kept the stage norms among the configuration and wrote the training targets'
    range as the score's declared one; it loads as the same model, scores unchanged."""
    model = HyperImageModel(presets.get("synthetic"))
    model.fitted = Fitted(stage1_norm=(4.9, 0.1), stage2_norm=(3.0, 0.7), score_range=(2.0, 4.0))
    model.config.score = replace(model.config.score, low=None, high=None)
    folder = model.eval().save(tmp_path / "m")
    saved = json.loads((folder / "config.json").read_text())
    assert saved["format_version"] == 2 and saved["fitted"]["score_range"] == [2.0, 4.0]
    fitted = saved.pop("fitted")
    old = {**{k: v for k, v in saved.items() if k != "format_version"}, "stage1_norm": fitted["stage1_norm"],
           "stage2_norm": fitted["stage2_norm"], "score": {**saved["score"], "low": 2.0, "high": 4.0}}
    (folder / "config.json").write_text(json.dumps(old))
    loaded = HyperImageModel.load(folder)
    assert loaded.fitted.stage1_norm == (4.9, 0.1) and loaded.fitted.stage2_norm == (3.0, 0.7)
    assert loaded.score_range == (2.0, 4.0)
    x = torch.rand(3, 1, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(loaded.clip(loaded(x)), model.clip(model(x)))
