"""RankIQA pre-training as a stage-1 phase: learning to rank distortion levels without labels."""

import numpy as np
import pytest
import torch

from hyperimage import presets
from hyperimage.inference.model import HyperImageModel
from hyperimage.training import PhaseSpec, TrainConfig, phases
from hyperimage.training.crops import pristine_photos
from hyperimage.training.phases.rank import RankingGroups, default_types, pair_errors


def test_groups_hold_one_crop_at_every_level_in_order():
    model = HyperImageModel(presets.get("tid"))
    source = RankingGroups(model, pristine_photos(None, "RGB"), [8], [1, 3, 5])
    x, y = source.draw(4, np.random.default_rng(0))
    assert x.shape == (12, 3, 32, 32) and torch.isfinite(x).all()
    assert y[:, 1].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3] and y[:3, 0].tolist() == [-1, -3, -5]
    assert 8 in default_types(3) and 14 not in default_types(3)  # local types left out
    assert not any(t in default_types(1) for t in (2, 18, 22, 23))  # colour-only types for a gray model


def test_pair_errors_count_wrong_and_tied_pairs_within_groups():
    targets = torch.tensor([[-1.0, 0], [-2.0, 0], [-1.0, 1], [-2.0, 1]])
    assert pair_errors(torch.tensor([2.0, 1.0, 0.0, 5.0]), targets) == (1.0, 2.0)
    assert pair_errors(torch.tensor([1.0, 1.0, 3.0, 0.0]), targets) == (0.5, 2.0)


@pytest.mark.slow
def test_ranking_pretraining_learns_to_order_blur_and_noise_levels(seed, learned):
    torch.manual_seed(seed)
    model = HyperImageModel(presets.get("tid"))
    spec = PhaseSpec(
        "rank", TrainConfig(epochs=6, patience=6, batch_size=48, lr=0.01, seed=seed),
        args={"types": [1, 8], "levels": [1, 3, 5], "groups": 96, "val_groups": 32},
    )
    # the phase's own validation groups, drawn the same way, ranked by the untrained network
    val_x, val_y = RankingGroups(model, pristine_photos(None, "RGB"), [1, 8], [1, 3, 5]).draw(32, np.random.default_rng(seed + 10_000))
    with torch.no_grad():
        wrong, pairs = pair_errors(model.stage1.eval()(val_x), val_y)
    model.stage1.train()
    state = phases.get("rank")(phases.PhaseRun(model, spec, [], [], None, None, None, False))
    # measured 0.054 +- 0.037 (worst 0.119, 12 spreads)
    learned("wrong pairs, best / untrained", state.best / (wrong / pairs), below=0.5)
    # measured 0.027 +- 0.016 (worst 0.052, 8 spreads)
    learned("wrong pairs, best", state.best, below=0.15)


def test_a_missing_photo_folder_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(ValueError, match="hyperimage photos .*nowhere --debian"):
        pristine_photos(tmp_path / "nowhere", "RGB")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no readable photos"):
        pristine_photos(tmp_path / "empty", "RGB")


def test_the_debian_rank_recipes_pre_train_on_the_debian_photos():
    from hyperimage.training import recipe

    stage1 = recipe.get("iqa-rank-debian-quick")
    assert [p.name for p in stage1.phases] == ["rank", None] and stage1.phases[0].args["photos"] == recipe.DEBIAN_PHOTOS
    assert stage1.stage2_rank is None and stage1.phases[1:] == recipe.get("iqa-quick").phases
    whole = recipe.get("iqa-rank-debian-s2-quick")
    assert whole.phases == stage1.phases and whole.stage2_rank.photos == recipe.DEBIAN_PHOTOS
