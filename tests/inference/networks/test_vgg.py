"""VGG-16 as a trunk (the paper's exp. 5), with weights a user supplies through the load-weights phase."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from hyperimage import presets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.inference.model import HyperImageModel
from hyperimage.inference.networks.vgg import TAP_NAMES, VGG16, vgg16_stage1
from hyperimage.training import PhaseSpec, Recipe, TrainConfig, phases, train

#: torchvision's vgg16 state dict names of the convolutional part.
TORCHVISION_KEYS = {f"features.{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28) for p in ("weight", "bias")}


def test_vgg16_keeps_torchvision_names_and_its_taps_strides():
    net = VGG16().eval()
    assert set(net.state_dict()) == TORCHVISION_KEYS
    with torch.no_grad():
        maps = net.feature_maps(torch.rand(1, 3, 64, 96), [net.tap_index(t) for t in ("conv1_2", "conv4_3", "conv5_3", "pool5")])
    assert [tuple(m.shape[1:]) for m in maps] == [(64, 64, 96), (512, 8, 12), (512, 4, 6), (512, 2, 3)]
    assert (maps[1] >= 0).all()  # after its ReLU
    with pytest.raises(ValueError, match="conv4_3"):
        net.tap_index("conv6_1")
    assert len(TAP_NAMES) == 14


def vgg_weights(path: Path, seed: int = 0, shape_of_first: tuple | None = None) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    state = {k: torch.randn_like(v) * 0.05 for k, v in VGG16().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # a torchvision file holds its classifier too
    if shape_of_first:
        state["features.0.weight"] = torch.zeros(shape_of_first)
    save_file(state, str(path))
    return state


def run_phase(model: HyperImageModel, args: dict) -> None:
    spec = PhaseSpec("load-weights", TrainConfig(epochs=1), args=args)
    phases.get("load-weights")(phases.PhaseRun(model, spec, [], [], None, None, None, False))


def test_load_weights_phase_reads_a_users_safetensors_file_into_the_trunk(tmp_path):
    state = vgg_weights(tmp_path / "vgg16.safetensors")
    model = HyperImageModel(presets.get("livec-vgg16"))
    run_phase(model, {"file": str(tmp_path / "vgg16.safetensors")})
    assert torch.equal(model.stage1.trunk.features[28].weight, state["features.28.weight"])


@pytest.mark.parametrize(
    "make, args, message",
    [
        (None, {}, "needs setting 'file', a string"),
        (None, {"file": "missing.safetensors"}, "no such file"),
        ("pickle", {"file": "w.safetensors"}, "not a valid"),
        ("shape", {"file": "w.safetensors"}, "tensor 'features.0.weight' has shape [1, 1], needs [64, 3, 3, 3]"),
        ("vgg", {"file": "w.safetensors", "into": "nothing"}, "has no part 'nothing'"),
    ],
)
def test_load_weights_phase_refuses_what_it_cannot_load(tmp_path, monkeypatch, make, args, message):
    monkeypatch.chdir(tmp_path)
    if make == "pickle":
        torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "w.safetensors")
    elif make == "shape":
        vgg_weights(tmp_path / "w.safetensors", shape_of_first=(1, 1))
    elif make == "vgg":
        vgg_weights(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_phase(HyperImageModel(presets.get("livec-vgg16")), args)


def test_a_vgg16_model_trains_from_loaded_weights_and_keeps_them(tmp_path):
    state = vgg_weights(tmp_path / "vgg16.safetensors")
    rng = np.random.default_rng(0)
    records = []
    for i in range(8):
        path = tmp_path / f"{i}.png"
        Image.fromarray((rng.random((64, 64, 3)) * (i + 1) / 8 * 255).astype(np.uint8)).save(path)
        records.append(ImageRecord(path=path, target=float(i), split="val" if i % 4 == 0 else "train"))
    config = presets.get("livec-vgg16")
    config.grid, config.stage2 = (8, 8), "synthetic-stage2"
    plan = Recipe(
        phases=[PhaseSpec("load-weights", args={"file": str(tmp_path / "vgg16.safetensors")}), PhaseSpec(None, TrainConfig(epochs=1, optimizer="adam", lr=1e-4))],
        stage2=TrainConfig(epochs=1, batch_size=4),
    )
    model, result = train(records, config, plan, progress=False)
    assert torch.equal(model.stage1.trunk.features[0].weight, state["features.0.weight"])  # frozen: kept as loaded
    assert "load-weights" in result.phases and "cells" in result.phases
    again = HyperImageModel.load(model.save(tmp_path / "model"))
    assert torch.equal(again.stage1.trunk.features[0].weight, state["features.0.weight"])
