import numpy as np
import pytest
import torch

from hyperimage import presets
from hyperimage.explain import cell_map, heat_map, to_pixels
from hyperimage.model import HyperImageModel


@pytest.fixture
def model():
    torch.manual_seed(0)
    return HyperImageModel(presets.get("synthetic")).eval()


def test_cell_values_are_spread_over_their_windows(model):
    cells = torch.zeros(1, 10, 10)
    cells[0, 0, 0] = 1.0
    heat = to_pixels(model, cells, 128, 128)
    assert heat.shape == (1, 1, 128, 128)
    assert torch.isnan(heat[0, 0, 0, 0])  # the 3-px border is outside the centred grid
    assert heat[0, 0, 5, 5] == 1.0  # covered by window (0, 0) only
    assert heat[0, 0, 20, 20] == pytest.approx(0.25)  # covered by 4 windows, one of them hot
    assert heat[0, 0, 100, 100] == 0.0


@pytest.mark.parametrize("readout", ["patch", "gradient"])
def test_heat_map_shapes_and_orientation(model, readout):
    x = torch.rand(2, 1, 128, 128)
    heat = heat_map(model, x, readout)
    assert heat.shape == (2, 1, 128, 128)
    assert torch.isfinite(heat[:, :, 3:125, 3:125]).all()
    if readout == "patch":  # higher score is better, so damage evidence is the negated patch score
        with torch.no_grad():
            expected = -model.cell_scores(model.hyper_image(x))
        torch.testing.assert_close(cell_map(model, x, "patch"), expected)


def test_unknown_readout(model):
    with pytest.raises(ValueError, match="readout"):
        cell_map(model, torch.rand(1, 1, 128, 128), "magic")
