"""The ``cells`` phase: stage 1 over the ImageNet trunk learns on every grid cell of whole images."""

import pytest
import torch
from scipy.stats import spearmanr
from skimage import data, filters

from hyperimage import presets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.inference.model import HyperImageModel, read_image
from hyperimage.training import PhaseSpec, Recipe, TrainConfig, recipe, train


@pytest.fixture(scope="module")
def blur_levels(tmp_path_factory, graded_crops) -> list[ImageRecord]:
    """24 crops of one photo at 6 blur levels; quality 10 - level; every 4th image validates."""
    def blur(img, level, rng):
        img = filters.gaussian(img, sigma=0.8 * level, channel_axis=-1) if level else img
        return img + rng.normal(0, 0.01, img.shape)

    return graded_crops(tmp_path_factory.mktemp("blur"), data.astronaut()[:256, :320] / 255.0, blur)


def small_config():
    config = presets.get("livec-imagenet")
    config.grid, config.stage2 = (8, 10), "synthetic-stage2"
    return config


def test_frozen_trunk_cells_learn_blur_from_cached_trunk_values(blur_levels, tmp_path, seed, learned):
    model, result = train(blur_levels, small_config(), recipe.get("iqa-imagenet-quick"), workdir=tmp_path, seed=seed, progress=False)
    val = [h["val"] for h in result.stage1.history]
    # measured 0.147 +- 0.014 (worst 0.183, 32 spreads)
    learned("stage-1 val loss, last / first epoch", val[-1] / val[0], below=0.6)
    assert (tmp_path / "checkpoints" / "cache" / "train" / "trunk.f16").is_file()  # trunk values computed once
    images = torch.stack([read_image(r.path, model.config, model.grid) for r in blur_levels])
    with torch.no_grad():
        scores = model(images)
    # measured 0.955 +- 0.070 (worst 0.786, 6 spreads)
    learned("SROCC", spearmanr(scores.numpy(), [r.target for r in blur_levels]).statistic, above=0.5)
    loaded = model.save(tmp_path / "model")
    again = HyperImageModel.load(loaded)
    with torch.no_grad():
        torch.testing.assert_close(again(images), scores)


def test_a_trunk_being_fine_tuned_trains_on_the_images(blur_levels):
    config = small_config()
    config.stage1_args = {"freeze": False}
    plan = Recipe(phases=[PhaseSpec(None, TrainConfig(epochs=1, patience=1, lr=1e-4), args={"images_per_batch": 4})],
                  stage2=TrainConfig(epochs=1, patience=1, batch_size=8))
    start = HyperImageModel(config).stage1.trunk._conv_stem.weight.clone()
    model, result = train(blur_levels, config, plan, progress=False)
    assert len(result.stage1.history) == 1
    assert not torch.equal(model.stage1.trunk._conv_stem.weight, start)


def test_cells_refuse_a_stage1_without_a_fast_path(blur_levels):
    config = presets.get("forgery")
    config.stage1_data = "cells"
    with pytest.raises(ValueError, match="fast grid path"):
        train(blur_levels[:8], config, Recipe(phases=[PhaseSpec(None, TrainConfig(epochs=1))]), progress=False)


def test_rank_cells_pretraining_teaches_the_dense_layers_to_rank_blur_and_noise(blur_levels, tmp_path, seed, learned):
    """RankIQA over the frozen trunk's cells, no label used: after it, the mean cell score of
    another photo falls with its blur level."""
    rank = PhaseSpec(
        "rank-cells", TrainConfig(epochs=8, patience=8, optimizer="adam", lr=1e-3, batch_size=24),
        args={"types": [8, 1], "size": [96, 128]},
    )
    plan = Recipe(phases=[rank], stage2=TrainConfig(epochs=1, patience=1, batch_size=8))
    model, result = train(blur_levels, small_config(), plan, workdir=tmp_path, seed=seed, progress=False)
    wrong = [h["val"] for h in result.stage1.history]  # share of held-out ranked pairs in the wrong order
    # measured 0.007 +- 0.014 (worst 0.033, 14 spreads)
    learned("wrong pairs, best", min(wrong), below=0.2)
    assert (tmp_path / "checkpoints" / "cache" / "rank-cells-trunk.f16").is_file()
    images = torch.stack([read_image(r.path, model.config, model.grid) for r in blur_levels])
    with torch.no_grad():
        means = model.cell_scores(model.hyper_image(images)).mean(dim=(1, 2))
    # measured 0.987 +- 0.000 (worst 0.987, inf spreads)
    learned("mean cell score SROCC", spearmanr(means.numpy(), [r.target for r in blur_levels]).statistic, above=0.7)


def test_rank_cells_needs_a_frozen_trunk(blur_levels):
    config = small_config()
    config.stage1_args = {"freeze": False}
    with pytest.raises(ValueError, match="frozen trunk"):
        train(blur_levels, config, Recipe(phases=[PhaseSpec("rank-cells", TrainConfig(epochs=1))]), progress=False)


def test_rank_cells_names_a_missing_photo_folder_and_the_command_that_makes_it(blur_levels, tmp_path):
    rank = PhaseSpec("rank-cells", TrainConfig(epochs=1), args={"photos": str(tmp_path / "missing")})
    with pytest.raises(ValueError, match=r"phase rank-cells: photos .*missing: no such folder; make it with `hyperimage photos"):
        train(blur_levels, small_config(), Recipe(phases=[rank]), progress=False)
