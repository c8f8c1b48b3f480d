"""Synthetic rankings beside the labels in stage 2 (``Recipe.stage2_rank``)."""

from dataclasses import replace

import pytest
import torch
from skimage import data

from hyperimage import presets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.generators import iqa_photos
from hyperimage.evaluation.level_check import level_srocc
from hyperimage.inference.model import read_image
from hyperimage.training import PhaseSpec, Recipe, TrainConfig, train
from hyperimage.training import recipe as recipes
from hyperimage.training.loop import LOSSES
from hyperimage.training.stage2_rank import UNRANKED, RankSpec, check_photos, combined_loss, ranked_records, ranked_sets


def test_the_loss_fits_labelled_rows_and_ranks_the_ranked_ones():
    loss = combined_loss(LOSSES.get("mae"), RankSpec(weight=2.0, margin=0.5))
    labelled = torch.tensor([[1.0, 0.0, UNRANKED], [-1.0, 0.0, UNRANKED]])
    ranked = torch.tensor([[0.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, -2.0, 0.0]])  # [-, -level, set]
    target = torch.cat([labelled, ranked])
    in_order = torch.tensor([1.0, -1.0, 2.0, 1.0, 0.0], requires_grad=True)
    assert float(loss(in_order, target).detach()) == 0.0  # labels met, levels 1 apart by more than the margin
    reversed_ = torch.tensor([1.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    value = loss(reversed_, target)
    assert float(value.detach()) == pytest.approx(2.0 * (1.5 + 1.5 + 2.5) / 3)  # only the ranked rows' hinge
    value.backward()
    assert torch.equal(reversed_.grad[:2], torch.zeros(2)) and reversed_.grad[2:].abs().sum() > 0


def test_spec_from_json_names_a_bad_key_or_value():
    assert RankSpec.from_json({"types": [8], "size": [64, 96]}) == RankSpec(types=[8], size=(64, 96))
    with pytest.raises(ValueError, match="stage2_rank: .*unexpected keyword argument 'colour'"):
        RankSpec.from_json({"colour": 1})
    with pytest.raises(ValueError, match="weight > 0"):
        RankSpec.from_json({"weight": 0})
    spec = RankSpec(types=[8], localized=1, size=(64, 96))
    recipe = replace(Recipe(), stage2_rank=spec)
    assert Recipe.from_json(recipe.to_json()).stage2_rank == replace(spec, types=[8])


def test_ranked_sets_are_one_series_each_with_its_reference(tmp_path):
    records = ranked_records(RankSpec(types=[8, 1], localized=1, size=(64, 96)), tmp_path / "ranked", seed=0)
    sets = ranked_sets(records)
    assert len(sets) == 5 * 2 * 2  # 5 built-in photos x 2 types x (whole image, one region)
    for rows in sets:
        members = [records[int(i)] for i in rows[:, 0]]
        assert rows[:, 1].tolist() == [1, 2, 3, 4, 5, 0] and members[-1].distortion == iqa_photos.NO_DISTORTION
        assert len({m.reference for m in members}) == 1 and len({m.extra["region"] for m in members[:-1]}) == 1
    again = ranked_records(RankSpec(), tmp_path / "ranked", seed=1)  # made once: read back, not remade
    assert [r.path for r in again] == [r.path for r in records]


def test_a_missing_photo_folder_says_how_to_make_it_before_stage1_trains(tmp_path):
    with pytest.raises(ValueError, match="hyperimage photos .*missing --debian --no-pypi"):
        check_photos(RankSpec(photos=str(tmp_path / "missing")), tmp_path / "ranked")
    made = ranked_records(RankSpec(types=[8], localized=0, size=(64, 96)), tmp_path / "ranked", seed=0)
    check_photos(RankSpec(photos=str(tmp_path / "missing")), tmp_path / "ranked")  # already made: not needed
    records = [ImageRecord(made[i].path, 1.0, split=s) for i, s in enumerate(["train", "val"])]
    recipe = Recipe(stage2_rank=RankSpec(photos=str(tmp_path / "missing")))
    with pytest.raises(ValueError, match="no such folder"):
        train(records, presets.get("livec-imagenet"), recipe, workdir=tmp_path / "w", progress=False)
    assert not list((tmp_path / "w").rglob("train"))  # refused before the training images were stored


def test_the_debian_recipe_ranks_photos_kept_apart_from_the_check():
    spec = recipes.get("iqa-imagenet-rank-debian").stage2_rank
    assert spec.photos == recipes.DEBIAN_PHOTOS and spec.weight > RankSpec().weight


def test_implementation_rankings_use_the_training_pool_and_leave_a_fold_out_and_soft_copies_rank_too(tmp_path):
    """The ``iqa-imagenet-rank-implementations-*`` recipes: only the training pool's photos
    (a held-out name never ranked), local damage in more than one region per (photo, type), and
    no type of the fold's :data:`HELD_OUT` (which the level check then scores); a spec with
    ``soft`` ranks each photo's soft copy too."""
    import json

    import numpy as np
    from PIL import Image

    from hyperimage.data.distortions import get
    from hyperimage.data.distortions.implementations import HELD_OUT, family_types
    from hyperimage.data.photo_pools import HELD_OUT_DEBIAN

    held = sorted(HELD_OUT_DEBIAN)[0]
    folder = tmp_path / "photos"
    folder.mkdir()
    entries = []
    for i, name in enumerate([held, "trainphoto"]):
        Image.fromarray(data.astronaut()[i * 100 : i * 100 + 64, :96]).save(folder / f"{name}.png")
        entries.append({
            "name": name, "path": f"{name}.png", "source": "debian", "package": "p", "version": "1", "member": "m",
            "licence": "CC0", "height": 64, "width": 96, "mode": "RGB", "original_height": 64, "original_width": 96,
            "lossy": False, "scale": 1.0, "sha256_original": "", "sha256_png": "",
        })  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps({"size": None, "photos": entries}))
    for fold in HELD_OUT:
        spec = recipes.get(f"iqa-imagenet-rank-implementations-{fold}").stage2_rank
        assert (spec.pool, spec.photos) == ("training", recipes.DEBIAN_PHOTOS) and spec.localized >= 2
        trained = set(iqa_photos.TYPE_SETS[spec.types])
        assert not trained & {get(name).number for name in HELD_OUT[fold]}
        assert set(family_types(fold)) | set(family_types(fold, held_out=True)) == set(family_types())
    spec = RankSpec(photos=str(folder), pool="training", soft=True, types=[31], localized=0, size=(64, 96))
    records = ranked_records(spec, tmp_path / "ranked", seed=0)
    assert {r.reference.stem for r in records} == {"trainphoto", "trainphoto-soft"}
    sharp, soft = (np.asarray(Image.open(tmp_path / "ranked" / "references" / f"{n}.png"), float) for n in ("trainphoto", "trainphoto-soft"))
    assert np.abs(np.diff(soft, n=2, axis=1)).mean() < 0.5 * np.abs(np.diff(sharp, n=2, axis=1)).mean()  # fine detail gone
    with pytest.raises(ValueError, match="pool is training or held-out"):
        RankSpec.from_json({"pool": "training"})  # of no folder


@pytest.fixture(scope="module")
def noise_levels(tmp_path_factory, graded_crops) -> list[ImageRecord]:
    """Labels that teach noise only: 24 crops of one photo at 6 noise levels, quality 10 - level."""
    def noise(img, level, rng):
        return img + rng.normal(0, 0.03 * level + 0.005, img.shape)

    return graded_crops(tmp_path_factory.mktemp("noise"), data.chelsea()[:192, :256] / 255.0, noise)


@pytest.mark.slow
def test_rankings_teach_stage2_a_damage_its_labels_never_show(noise_levels, tmp_path, seed, learned):
    config = presets.get("livec-imagenet")
    config.grid, config.stage2 = (8, 10), "synthetic-stage2"
    plan = Recipe(
        phases=[PhaseSpec(None, TrainConfig(epochs=3, patience=3, optimizer="adam", lr=1e-4), args={"images_per_batch": 6})],
        stage2=TrainConfig(epochs=50, patience=50, batch_size=8, optimizer="adam", lr=3e-4),
    )
    # Whole-image blur, weighted 3: with one blurred region per photo as well, and 25 epochs at
    # weight 1, the figure swung from 0.27 to 0.92 with the seed and the thread count.
    spec = RankSpec(types=[8], localized=0, size=(96, 128), sets_per_batch=3, weight=3.0, margin=0.2)
    blur = ranked_records(replace(spec, photos=None), tmp_path / "check", seed=5 + seed)  # blurred photos, levels 0-5

    def blur_srocc(rank: RankSpec | None) -> float:
        model, _ = train(noise_levels, config, replace(plan, stage2_rank=rank), seed=seed, progress=False)
        images = torch.stack([read_image(r.path, model.config, model.grid) for r in blur])
        with torch.no_grad():
            scores = model(images).numpy()
        return level_srocc(blur, scores)["srocc"]

    # measured 0.980 +- 0.043 (worst 0.829, 4 spreads)
    learned("blur SROCC with rankings", blur_srocc(spec), above=0.8)
    # The component removed: the same stage 2 without the rankings stays below the bound in
    # every setting; as a bound of its own, or on the gap, it would sit under 3 spreads, so it
    # is recorded, not asserted.
    # measured -0.029 +- 0.352 (-0.463 to 0.623)
    learned("blur SROCC without rankings", blur_srocc(None))
