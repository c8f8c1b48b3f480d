"""The unpadded forgery stage 1 and its fast path: one pass over the image equals patch by patch."""

from __future__ import annotations

import pytest
import torch

from hyperimage import presets
from hyperimage.inference import networks
from hyperimage.inference.grid import PatchGrid, gather_windows
from hyperimage.inference.hyper_image import lay_on_grid, stage1_features
from hyperimage.inference.model import HyperImageModel
from hyperimage.inference.networks.forgery_valid import GridRanker

#: Both paths add the same products; only the order of the sums may differ (oneDNN's
#: blocking of a 64-px patch against a whole image), far below the features' scale of ~10.
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def ranker():
    torch.manual_seed(0)
    net = networks.create_stage1("forgery-stage1-valid", conv_width=0.25).eval()
    net.set_input_mean(torch.rand(8, 3, 64, 64))
    net.set_reference(torch.rand(4, 500))
    return net


def test_shapes_lattice_and_a_per_channel_input_mean(ranker):
    assert isinstance(ranker, networks.GridStage1) and ranker.grid_step == 8 and ranker.channel.window == 2
    assert ranker.input_mean.shape == (3, 1, 1) and ranker.input_mean.abs().sum() > 0
    assert ranker.forward_features(torch.rand(5, 3, 64, 64)).shape == (5, 500)


@pytest.mark.parametrize("size", [(256, 384), (384, 256), (300, 333), (64, 64), (80, 100)])
def test_grid_features_equal_explicit_patches(ranker, size):
    grid = PatchGrid(64, (15, 15), (384, 384), align=ranker.grid_step)
    images = torch.rand(3, 3, *size)
    rows, cols = grid.origins(*size)
    with torch.no_grad():
        fast = ranker.grid_features(images, rows, cols)
        explicit = stage1_features(ranker, gather_windows(images, rows, cols, 64))
    assert fast.shape == (3, 15, 15, 500) and explicit.abs().max() > 1
    torch.testing.assert_close(fast, explicit, rtol=0, atol=TOLERANCE)


def test_grid_features_depend_on_the_image_at_each_patch(ranker):
    grid = PatchGrid(64, (15, 15), (384, 384), align=8)
    images = torch.rand(1, 3, 256, 384)
    rows, cols = grid.origins(256, 384)
    changed = images.clone()
    changed[:, :, 200:, 330:] = 0.5  # the bottom-right corner only
    with torch.no_grad():
        a, b = ranker.grid_features(images, rows, cols), ranker.grid_features(changed, rows, cols)
    moved = (a - b).abs().amax(dim=-1)[0]
    assert moved[-1, -1] > 0.01 and moved[0, 0] == 0


@pytest.mark.parametrize(
    "rows,cols,match",
    [([0, 4], [0, 8], "8 px apart"), ([8, 0], [0, 8], "8 px apart"), ([0, 200], [0, 8], "run past")],
)
def test_grid_features_refuse_origins_off_the_lattice(ranker, rows, cols, match):
    with pytest.raises(ValueError, match=match):
        ranker.grid_features(torch.rand(1, 3, 128, 128), torch.tensor(rows), torch.tensor(cols))


def test_a_patch_the_stack_cannot_hold_is_refused():
    with pytest.raises(ValueError, match="vanishes"):
        networks.create_stage1("forgery-stage1-valid", patch=32, conv_width=0.25)


def test_the_preset_aligns_its_grid_and_scores_through_the_fast_path(monkeypatch):
    torch.manual_seed(1)
    config = presets.get("forgery-fast")
    config.stage1_args.update(conv_width=0.125, width=32)
    config.stage2_args = {"width": 32}
    model = HyperImageModel(config).eval()
    assert model.grid.align == 8
    images = torch.rand(2, 3, 256, 384)
    with torch.no_grad():
        explicit = lay_on_grid(stage1_features(model.stage1, model.grid.extract(images)))

    def refuse(*args, **kwargs):
        raise AssertionError("the fast path must not cut patches out")

    monkeypatch.setattr(GridRanker, "forward_features", refuse)
    with torch.no_grad():
        hyper = model.hyper_image(images)
        score = model(images)
    torch.testing.assert_close(hyper, explicit, rtol=0, atol=TOLERANCE)
    assert score.shape == (2,) and ((score >= 0) & (score <= 1)).all()


def test_every_parameter_gets_a_gradient_through_the_fast_path(ranker):
    net = networks.create_stage1("forgery-stage1-valid", conv_width=0.125, width=16)
    net.grid_features(torch.rand(1, 3, 96, 96), torch.tensor([0, 8, 32]), torch.tensor([0, 16])).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for name, p in net.named_parameters() if name.startswith("channel"))
