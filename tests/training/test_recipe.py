"""Training recipes: named ones, JSON files, and the checks on what a file may say."""

import json

import pytest

from hyperimage import presets
from hyperimage.training import Recipe, TrainConfig, recipe as recipes
from hyperimage.training.engine import resolve


@pytest.mark.parametrize("name", recipes.available())
def test_every_named_recipe_survives_a_json_round_trip(name, tmp_path):
    recipe = recipes.get(name)
    recipe.save(tmp_path / "r.json", trained_with={"world_size": 2, "device": "cpu"})
    assert recipes.get(tmp_path / "r.json") == recipe
    assert json.loads((tmp_path / "r.json").read_text())["trained_with"]["world_size"] == 2


def test_the_models_own_phase_is_named_when_a_run_starts():
    assert resolve(recipes.get("paper"), presets.get("tid")).main.name == "windows"
    assert resolve(recipes.get("forgery-quick"), presets.get("forgery")).main.name == "contour-pairs"
    assert [p.name for p in resolve(recipes.get("iqa-rank-quick"), presets.get("livec")).phases] == ["rank", "windows"]
    inpaint = resolve(recipes.get("forgery-inpaint-quick"), presets.get("forgery-fast"))
    assert [p.name for p in inpaint.phases] == ["inpaint", "contour-pairs"] and inpaint.phases[0].args["photos"] == recipes.DEBIAN_PHOTOS
    unknown = presets.get("tid")
    unknown.stage1_data = "pixels"  # the config names the phase; the training phases know it
    with pytest.raises(ValueError, match="unknown training phase 'pixels'"):
        resolve(recipes.get("paper"), unknown)


def test_every_preset_names_a_recipe_and_a_phase_that_exist():
    for name in presets.available():
        spec = presets.spec(name)
        assert spec.recipe in recipes.available() and spec.heat_map, name
        assert resolve(recipes.get(spec.recipe), spec.config()).main.name == spec.stage1_data


def test_with_main_changes_only_the_last_phase():
    recipe = recipes.get("iqa-rank-quick").with_main(epochs=2, patience=None)
    assert recipe.main.train.epochs == 2 and recipe.main.train.patience == recipes.get("iqa-rank-quick").main.train.patience
    assert recipe.phases[0] == recipes.get("iqa-rank-quick").phases[0]
    merged = recipes.get("iqa-quick").with_main({"val_windows": 10})
    assert merged.main.args == {"windows_per_image": 32, "val_windows": 10}


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"phases": [{"train": {"epoch": 3}}]}', "unknown training setting\\(s\\) epoch"),
        ('{"phases": []}', "at least one stage-1 phase"),
        ('{"stage2": {"optimizer": "lbfgs"}}', "unknown optimizer 'lbfgs'"),
        ('{"colour": 1}', "unexpected keyword"),
        ("[1, 2]", "a recipe is a JSON object"),
        ("{not json", "not a readable recipe"),
    ],
)
def test_a_bad_recipe_file_is_one_clear_error_naming_it(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        recipes.get(path)
    assert str(path) in str(err.value)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="unknown recipe 'fast'; known: .*paper"):
        recipes.get("fast")
    with pytest.raises(ValueError, match="unknown schedule"):
        TrainConfig(schedule="step")
    assert Recipe.cpu(1, 2, 3, 4, 5).main.args == {"windows_per_image": 3}
