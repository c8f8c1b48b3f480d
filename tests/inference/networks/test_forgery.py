"""Tests of the Table 4 forgery networks (hyperimage.inference.networks.forgery)."""

from __future__ import annotations

import copy

import pytest
import torch

from hyperimage import presets
from hyperimage.inference import networks
from hyperimage.inference.hyper_image import lay_on_grid
from hyperimage.inference.model import HyperImageModel, ModelConfig
from hyperimage.inference.networks.forgery import ConvClassifier, NoiseResidual
from hyperimage.inference.ranking import SiameseRanker
from hyperimage.training.ranking_losses import PairDecision, shuffle_pairs, siamese_hinge


def conv_layers(module: torch.nn.Module) -> list[tuple[int, int]]:
    return [(m.in_channels, m.out_channels) for m in module.modules() if isinstance(m, torch.nn.Conv2d)]


def linear_layers(module: torch.nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, torch.nn.Linear)]


def assert_every_parameter_has_a_gradient(module: torch.nn.Module) -> None:
    missing = [name for name, p in module.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing
    assert any(float(p.grad.abs().sum()) > 0 for p in module.parameters())


def test_registered():
    assert {"forgery-stage1", "forgery-stage2", "forgery-end-to-end"} <= set(networks.available())


def test_stage1_is_the_table4_channel_in_a_siamese_ranker():
    net = networks.create("forgery-stage1")
    assert isinstance(net, SiameseRanker) and net.num_features == 500
    assert conv_layers(net) == [(3, 64), (64, 64), (64, 128), (128, 128), (128, 128), (128, 128),
                                (128, 256), (256, 256)]  # fmt: skip
    # channel FC(500)-FC(500) on 256 x 4 x 4, then the comparator w1 (500 -> 500), w2 (500 -> 1)
    assert linear_layers(net) == [(4096, 500), (500, 500), (500, 500), (500, 1)]
    patches = torch.rand(4, 3, 64, 64)
    features = net.forward_features(patches)
    assert features.shape == (4, 500) and (features >= 0).all()
    assert net(patches).shape == (4,) and net.head(features).shape == (4,)


def test_stage1_pairs_train_every_parameter():
    net = networks.create("forgery-stage1").train()
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    c1, c2, y = shuffle_pairs(a, b, torch.Generator().manual_seed(0))
    pred = PairDecision(net)(torch.stack([c1, c2], 1))
    assert pred.shape == (2,) and torch.isfinite(pred).all()
    siamese_hinge(pred, y, delta=1e3).backward()  # a huge margin keeps every pair active
    assert_every_parameter_has_a_gradient(net)


def test_stage2_table4_layers_and_logits():
    net = networks.create("forgery-stage2")
    assert isinstance(net, ConvClassifier)
    assert conv_layers(net) == [(500, 64), (64, 64), (64, 64), (64, 128), (128, 128), (128, 128),
                                (128, 256), (256, 256), (256, 256)]  # fmt: skip
    assert linear_layers(net) == [(256, 800), (800, 800), (800, 1)]  # 15 -> 7 -> 3 -> 1 px
    assert not any(isinstance(m, (torch.nn.Tanh, torch.nn.Sigmoid)) for m in net.modules())
    hyper = torch.rand(2, 500, 15, 15)
    out = net(hyper)
    assert out.shape == (2,)
    out.sum().backward()
    assert_every_parameter_has_a_gradient(net)
    with pytest.raises(ValueError, match=r"\(B, C, 15, 15\)"):
        net(torch.rand(2, 500, 16, 15))


def test_stage2_other_grids():
    assert networks.create("forgery-stage2", in_features=64, grid=(10, 12))(torch.rand(3, 64, 10, 12)).shape == (3,)
    with pytest.raises(ValueError, match=r"\(4, 8\) vanishes under 3 MP\(2\) layers; the minimum is 8x8"):
        networks.create("forgery-stage2", grid=(4, 8))
    with pytest.raises(ValueError, match="minimum is 16x16"):
        networks.create("forgery-stage1", patch=8)


def test_end_to_end_table4_layers_and_logits():
    net = networks.create("forgery-end-to-end")
    assert conv_layers(net) == [(3, 32), (32, 64), (64, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256)]
    assert linear_layers(net) == [(256 * 8 * 12, 500), (500, 500), (500, 1)]
    out = net(torch.rand(1, 3, 256, 384))
    assert out.shape == (1,) and torch.isfinite(out).all()
    out.sum().backward()
    assert_every_parameter_has_a_gradient(net)


def test_eval_is_deterministic_and_batch_independent():
    net = networks.create("forgery-stage2", in_features=32, grid=(8, 8)).eval()
    x = torch.rand(4, 32, 8, 8)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
        assert torch.allclose(net(x)[1:2], net(x[1:2]), atol=1e-5)


def test_forgery_networks_form_a_hyper_image_model():
    # Small patches and grid keep it fast; the paper's are 64 px on a 15 x 15 grid of 256 x 384 images.
    config = ModelConfig(
        stage1="forgery-stage1", stage2="forgery-stage2", patch=16, grid=(8, 8), max_size=(64, 96), channels=3
    )
    model = HyperImageModel(config).eval()
    images = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        hyper = model.hyper_image(images)
        assert hyper.shape == (2, 500, 8, 8)
        assert model.cell_scores(hyper).shape == (2, 8, 8)
        assert model(images).shape == (2,)


def test_noise_residual_ignores_content_and_keeps_noise():
    front = NoiseResidual(3)
    assert not list(front.parameters()) and not front.state_dict()  # fixed filters: nothing to train or save
    flat = torch.full((1, 3, 32, 32), 0.6)
    ramp = torch.linspace(0, 1, 32).expand(1, 3, 32, 32).contiguous()
    gen = torch.Generator().manual_seed(0)
    noisy = (flat + torch.randn(flat.shape, generator=gen) * 4 / 255).clamp(0, 1)
    for x in (flat, ramp):  # constants and linear gradients: no residual away from the border
        assert front(x).shape == (1, 9, 32, 32)
        assert float(front(x)[..., 2:-2, 2:-2].abs().max()) < 1e-4
    r = front(noisy)[..., 2:-2, 2:-2]
    assert float(r.abs().mean()) > 0.3 and float(r.abs().max()) == pytest.approx(1.0)  # truncated to [-1, 1]
    # Channels are filtered separately: noise in red shows only in red's three residuals.
    red = flat.clone()
    red[:, 0] = noisy[:, 0]
    per_channel = front(red)[..., 2:-2, 2:-2].abs().mean(dim=(0, 2, 3))
    assert (per_channel[:3] > 0.3).all() and (per_channel[3:] < 1e-4).all()


def test_residual_front_end_on_both_forgery_cnns():
    ranker = networks.create("forgery-stage1", residual=True, conv_width=0.125)
    assert conv_layers(ranker)[0] == (9, 8) and isinstance(ranker.channel[0], NoiseResidual)
    assert ranker.forward_features(torch.rand(2, 3, 64, 64)).shape == (2, 500)
    cnn = networks.create("forgery-end-to-end", residual=True, conv_width=0.125)
    assert conv_layers(cnn)[0] == (9, 4)
    assert cnn(torch.rand(2, 3, 256, 384)).shape == (2,)
    assert presets.get("forgery").stage1_args == {"residual": True}


def test_noise_residual_equals_the_grouped_per_channel_filtering():
    front = NoiseResidual(3)
    x = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(1))
    kernels = front.weight[0:3, 0:1]  # channel 0's three kernels; every channel has the same
    grouped = torch.nn.functional.conv2d(x, kernels.repeat(3, 1, 1, 1), padding=2, groups=3).clamp(-1, 1)
    # the block-diagonal zeros add exact zeros here, but oneDNN's AVX2 convolutions take another
    # algorithm for the two shapes: 5.1e-5 apart at most, on values in [-1, 1]
    torch.testing.assert_close(front(x), grouped, rtol=0, atol=2e-4)


def test_forgery_grid_path_equals_every_patch_scored_on_its_own():
    """The batched, channels-last grid path against each patch alone, in float64.

    Shipped shape (quarter-width channel, residual front end, 64-px patches on a 15 x 15 grid
    of a 256 x 384 image, strides 13 and 22) with a non-constant mean patch, random weights.
    Tolerance 1e-5 relative to the largest feature (and 1e-6 on the probability): float32
    sums of at most 9 x 64 = 576 products over eight layers round to about 1e-6; an
    indexing or layout mistake moves features by their own size.
    """
    torch.manual_seed(0)
    config = presets.get("forgery")
    config.stage1_args["conv_width"] = 0.25
    model = HyperImageModel(config).eval()
    gen = torch.Generator().manual_seed(2)
    model.stage1.input_mean.copy_(0.45 + 0.05 * torch.rand(3, 64, 64, generator=gen))
    image = torch.rand(1, 3, 256, 384, generator=gen)
    rows, cols = model.grid.origins(256, 384)
    assert model.grid.strides(256, 384) == (13, 22)
    with torch.no_grad():
        fast = model.grid_features(image, rows, cols)[0]  # (U, V, D)
        ref_stage1 = copy.deepcopy(model.stage1).double()
        ref = torch.stack(
            [
                torch.cat([ref_stage1.forward_features(image[:, :, r : r + 64, c : c + 64].double()) for c in cols])
                for r in rows
            ]
        )
        assert fast.shape == ref.shape == (15, 15, 500) and float(ref.abs().max()) > 0
        assert float((fast.double() - ref).abs().max()) <= 1e-5 * float(ref.abs().max())
        scores = model.aggregate(lay_on_grid(fast[None]))
        ref_model = copy.deepcopy(model).double()
        ref_scores = ref_model.aggregate(lay_on_grid(ref[None]))
        assert float((scores.double() - ref_scores).abs().max()) <= 1e-6
        assert torch.allclose(model(image), scores)
