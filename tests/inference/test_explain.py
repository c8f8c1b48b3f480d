from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from hyperimage import presets
from hyperimage.inference.explain import GRADIENT_SHARES, cell_map, heat_map, heat_scale, save_grid, to_pixels
from hyperimage.inference.model import HyperImageModel
from hyperimage.inference.ranking import DELTA


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


def test_heat_scale_of_a_regression_model_is_its_score_range(model):
    scale = heat_scale(model, "patch")
    s = model.config.score
    assert (scale.low, scale.high) == (s.low, s.high)
    assert s.name in scale.label and "patch" in scale.label
    assert (scale.worse, scale.better) == ("more damage", "less damage")
    assert scale.worse_is_low  # higher is better: a low patch score is damage, drawn at the top


def test_heat_scale_without_a_declared_range_uses_the_stage1_labels(model):
    model.config.score = replace(model.config.score, low=None, high=None, higher_is_better=False)
    model.fitted.stage1_norm = (2.0, 0.5)
    scale = heat_scale(model, "patch")
    assert (scale.low, scale.high) == (0.5, 3.5)  # mean +- 3 standard deviations
    assert not scale.worse_is_low


def test_heat_scale_of_the_gradient_readout_is_symmetric_per_cell_share(model):
    scale = heat_scale(model, "gradient")
    s, (u, v) = model.config.score, model.config.grid
    assert scale.high == -scale.low == pytest.approx(GRADIENT_SHARES * (s.high - s.low) / (u * v))


def test_heat_scale_of_the_forgery_ranker_is_its_margin():
    forgery = HyperImageModel(presets.get("forgery"))
    scale = heat_scale(forgery, "patch")
    assert (scale.low, scale.high) == (-DELTA, DELTA)
    assert scale.worse == "more likely tampered" and scale.worse_is_low


def test_heat_scale_unknown_readout(model):
    with pytest.raises(ValueError, match="readout"):
        heat_scale(model, "magic")


def test_save_grid_writes_npy_and_csv_beside_the_png(model, tmp_path):
    cells = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    npy, csv = save_grid(tmp_path / "heat.png", cells, heat_scale(model))
    assert (npy.name, csv.name) == ("heat.npy", "heat.csv")
    np.testing.assert_array_equal(np.load(npy), cells)
    np.testing.assert_allclose(np.loadtxt(csv, delimiter=","), cells, rtol=1e-5)
    assert csv.read_text().startswith("# each patch's synthetic score")


def test_explain_uses_one_scale_for_every_image_and_saves_the_raw_grid(model, tmp_path, monkeypatch):
    from hyperimage import api
    from hyperimage.data.io import save_image

    used = []
    real = api.save_overlay
    monkeypatch.setattr(api, "save_overlay", lambda *a, **k: used.append(a[3]) or real(*a, **k))
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        save_image(tmp_path / f"{name}.png", rng.random((128, 128)) ** (3 if name == "a" else 0.3))
        api.explain(model, tmp_path / f"{name}.png", tmp_path / f"{name}-heat.png", raw=True)
    assert used == [heat_scale(model)] * 2
    x = torch.from_numpy(np.asarray(Image.open(tmp_path / "a.png"), dtype=np.float32) / 255)
    with torch.no_grad():
        expected = model.cell_scores(model.hyper_image(x[None, None]))[0]
    np.testing.assert_allclose(np.load(tmp_path / "a-heat.npy"), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert (tmp_path / "b-heat.csv").is_file() and (tmp_path / "a-heat.png").read_bytes()[:4] == b"\x89PNG"


def test_cells_of_an_aligned_grid_are_spread_over_their_own_windows():
    torch.manual_seed(0)
    config = presets.get("forgery-fast")
    config.stage1_args.update(conv_width=0.125, width=16)
    config.stage2_args = {"width": 16}
    model = HyperImageModel(config)
    rows, cols = model.grid.origins(256, 384)
    cells = torch.zeros(1, 15, 15)
    cells[0, 7, 7] = 1.0
    heat = to_pixels(model, cells, 256, 384)[0, 0]
    inside = heat[rows[7] : rows[7] + 64, cols[7] : cols[7] + 64]
    assert (inside > 0).all() and heat.nan_to_num().sum() > 0
    assert heat[: rows[0], :].isnan().all() and heat[rows[0], cols[0]] == 0.0
    assert (heat.nan_to_num() > 0).sum() == 64 * 64  # exactly the hot window, whatever else covers it
