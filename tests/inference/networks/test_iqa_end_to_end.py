"""Table 4's end-to-end IQA networks of Experiment 4 (hyperimage.inference.networks.iqa_end_to_end)."""

import pytest
import torch
from torch import nn

from hyperimage.inference import networks


def convs(net):
    return [(m.out_channels, m.kernel_size[0], m.stride[0]) for m in net.features if isinstance(m, nn.Conv2d)]


def test_shallow_is_table4_with_8_layers():
    net = networks.create("iqa-shallow-end-to-end")
    assert convs(net) == [(32, 7, 2), (64, 7, 1), (128, 3, 1), (128, 3, 1), (256, 3, 1), (256, 3, 1)]
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.features) == 5
    assert [m.out_features for m in net.head if isinstance(m, nn.Linear)] == [400, 400, 1]
    assert [m.p for m in net.head if isinstance(m, nn.Dropout)] == [0.25, 0.25]
    assert sum(isinstance(m, nn.Tanh) for m in net.head) == 1
    assert len(convs(net)) + 2 == 8  # the paper counts the layers before the linear output
    # 384x512 / (2 * 2^5) = 6x8 cells of 256 channels feed FC(400)
    assert net.head[1].in_features == 256 * 6 * 8


def test_deep_is_table4_with_14_layers():
    net = networks.create("iqa-deep-end-to-end")
    assert [c for c, _, _ in convs(net)] == [32, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512]
    assert all(k == 3 and s == 1 for _, k, s in convs(net))
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.features) == 8
    assert len(convs(net)) + sum(isinstance(m, nn.Linear) for m in net.head) - 1 == 14  # before the output
    assert net.head[1].in_features == 512 * 1 * 2  # 384x512 / 256, floored


@pytest.mark.parametrize("name, size", [("iqa-shallow-end-to-end", (64, 80)), ("iqa-deep-end-to-end", (256, 256))])
def test_smallest_inputs_give_scalar_scores_gradients_and_determinism(name, size):
    torch.manual_seed(0)
    net = networks.create(name, size=size, conv_width=0.125)
    x = torch.rand(2, 3, *size)
    out = net(x)
    assert out.shape == (2,) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    torch.manual_seed(0)
    twin = networks.create(name, size=size, conv_width=0.125).eval()
    assert torch.equal(net.eval()(x), twin(x))


@pytest.mark.parametrize("name, size", [("iqa-shallow-end-to-end", (63, 200)), ("iqa-deep-end-to-end", (384, 255))])
def test_too_small_inputs_raise_one_line(name, size):
    with pytest.raises(ValueError, match="vanishes") as info:
        networks.create(name, size=size)
    assert "\n" not in str(info.value)
