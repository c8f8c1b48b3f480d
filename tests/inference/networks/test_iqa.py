import inspect

import pytest
import torch
from torch import nn

from hyperimage.inference import networks


def conv_widths(net):
    return [m.out_channels for m in net.features if isinstance(m, nn.Conv2d)]


def dense_widths(net):
    return [m.out_features for m in net.head if isinstance(m, nn.Linear)]


@pytest.mark.parametrize(
    "name, grid, convs",
    [
        ("live-stage2", (24, 23), [32, 32, 48, 48, 64, 64, 128, 128]),
        ("tid-stage2", (23, 31), [64, 64, 64, 64, 128, 128, 128, 128]),
    ],
)
def test_table4_architecture_and_defaults(name, grid, convs):
    defaults = {k: p.default for k, p in inspect.signature(networks.NETWORKS.get(name)).parameters.items()}
    assert defaults == {"in_features": 800, "grid": grid, "width": 500, "dropout": 0.5}
    net = networks.create(name)
    assert conv_widths(net) == convs
    assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for m in net.features if isinstance(m, nn.Conv2d))
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.features) == 4
    assert dense_widths(net) == [500, 500, 1]
    assert [m.p for m in net.head if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    assert sum(isinstance(m, nn.Tanh) for m in net.head) == 1
    # 4 x MP(2) with floor division: 24x23 -> 1x1, 23x31 -> 1x1, so FC(500) sees 128 values
    assert net.head[1].in_features == 128


@pytest.mark.parametrize("name, grid", [("live-stage2", (24, 23)), ("tid-stage2", (23, 31))])
def test_shapes_gradients_and_determinism(name, grid):
    torch.manual_seed(0)
    net = networks.create(name, in_features=16, grid=grid)
    hyper = torch.rand(2, 16, *grid)
    out = net(hyper)
    assert out.shape == (2,) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    torch.manual_seed(0)
    twin = networks.create(name, in_features=16, grid=grid).eval()
    net.eval()
    assert torch.equal(net(hyper), twin(hyper))


@pytest.mark.parametrize("name", ["live-stage2", "tid-stage2"])
@pytest.mark.parametrize("grid", [(16, 16), (16, 40), (31, 17), (48, 64)])
def test_grids_from_16_cells_up_work(name, grid):
    net = networks.create(name, in_features=4, grid=grid).eval()
    assert net(torch.rand(1, 4, *grid)).shape == (1,)


@pytest.mark.parametrize("name", ["live-stage2", "tid-stage2"])
@pytest.mark.parametrize("grid", [(15, 20), (20, 8), (10, 10)])
def test_a_grid_that_would_vanish_is_refused(name, grid):
    with pytest.raises(ValueError, match=rf"{name}.*minimum grid is 16x16"):
        networks.create(name, in_features=4, grid=grid)
