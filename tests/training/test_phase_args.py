"""Each training phase's settings are a dataclass checked on load: the checker itself
(:mod:`hyperimage.settings`), every registered phase and named recipe, a recipe file with a bad
setting, and ``train --windows-per-image`` on a phase that takes no such setting."""

import json
from dataclasses import MISSING, dataclass, field, fields
from typing import Literal

import pytest
from typer.testing import CliRunner

from hyperimage import api, presets, settings
from hyperimage.cli import app
from hyperimage.data.generators import synthetic
from hyperimage.training import Recipe, phases, recipe as recipes
from hyperimage.training.engine import resolve


@dataclass(frozen=True)
class Example:
    """One field of every type the checker reads."""

    count: int = 1
    rate: float = 0.5
    name: str = "a"
    flag: bool = False
    limit: int | None = None
    sizes: list[int] = field(default_factory=list)
    levels: tuple[int, ...] = (1, 2)
    shape: tuple[int, int] = (3, 4)
    mode: Literal["fast", "slow"] = "fast"
    types: str | list[int] = "live"


def read(data: dict) -> Example:
    return settings.parse(Example, data, "thing 'x'")


@pytest.mark.parametrize(
    "key, value, typed",
    [
        ("count", 3, 3),
        ("rate", 2, 2.0),
        ("rate", 0.25, 0.25),
        ("name", "b", "b"),
        ("flag", True, True),
        ("limit", None, None),
        ("limit", 4, 4),
        ("sizes", [1, 2], [1, 2]),
        ("sizes", (1, 2), [1, 2]),
        ("levels", [3], (3,)),
        ("levels", [], ()),
        ("shape", [5, 6], (5, 6)),
        ("mode", "slow", "slow"),
        ("types", "all", "all"),
        ("types", [1, 8], [1, 8]),
    ],
)
def test_a_good_value_comes_back_as_its_declared_type(key, value, typed):
    got = getattr(read({key: value}), key)
    assert got == typed and type(got) is type(typed)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("count", "8", "count must be a whole number, got '8'"),
        ("count", 2.0, "count must be a whole number, got 2.0"),
        ("count", True, "count must be a whole number, got True"),
        ("rate", "0.5", "rate must be a number, got '0.5'"),
        ("rate", False, "rate must be a number, got False"),
        ("name", 3, "name must be a string, got 3"),
        ("flag", 1, "flag must be true or false, got 1"),
        ("limit", "4", "limit must be a whole number or null, got '4'"),
        ("sizes", [1, "2"], "sizes must be a list of whole numbers, got [1, '2']"),
        ("sizes", "12", "sizes must be a list of whole numbers, got '12'"),
        ("levels", 3, "levels must be a list of whole numbers, got 3"),
        ("shape", [1, 2, 3], "shape must be a list of 2 whole numbers, got [1, 2, 3]"),
        ("shape", [1, 2.5], "shape must be a list of 2 whole numbers, got [1, 2.5]"),
        ("mode", "medium", "mode must be one of 'fast', 'slow', got 'medium'"),
        ("types", [1, "x"], "types must be a string or a list of whole numbers, got [1, 'x']"),
        ("types", None, "types must be a string or a list of whole numbers, got None"),
    ],
)
def test_a_wrong_type_is_one_line_naming_the_key_and_what_it_must_be(key, value, message):
    with pytest.raises(ValueError) as err:
        read({key: value})
    assert str(err.value) == f"thing 'x': {message}"


def test_an_unknown_or_missing_key_is_one_line_listing_the_known_ones():
    with pytest.raises(ValueError) as err:
        read({"count": 2, "colour": 1})
    assert str(err.value) == (
        "thing 'x': unknown setting 'colour'; its settings: count, rate, name, flag, limit, sizes, levels, shape, mode, types"
    )

    @dataclass
    class Needs:
        file: str

    with pytest.raises(ValueError) as err:
        settings.parse(Needs, {}, "thing 'y'")
    assert str(err.value) == "thing 'y': needs setting 'file', a string"
    with pytest.raises(ValueError, match="^thing 'y': settings are a JSON object, got \\['file'\\]$"):
        settings.parse(Needs, ["file"], "thing 'y'")


def test_the_defaults_and_a_dump_read_back_are_equal():
    assert read({}) == Example()
    typed = read({"levels": [3, 4], "shape": [1, 2], "types": [8]})
    dumped = settings.dump(typed)
    assert json.loads(json.dumps(dumped)) == dumped == {**settings.dump(Example()), "levels": [3, 4], "shape": [1, 2], "types": [8]}
    assert read(settings.dump(typed)) == typed


def test_a_declaration_the_checker_cannot_read_fails_when_registered():
    @dataclass
    class Odd:
        table: dict[str, int] = field(default_factory=dict)

    with pytest.raises(TypeError, match="not supported"):
        settings.declared(Odd)
    with pytest.raises(TypeError, match="must be a dataclass"):
        settings.declared(dict)


#: The settings a phase cannot do without, with a value each; every other setting has a default.
REQUIRED = {"load-weights": {"file": "vgg16.safetensors"}}


@pytest.mark.parametrize("name", phases.available())
def test_every_phase_declares_its_settings_with_defaults_but_the_required_ones(name):
    args = phases.get(name).args
    required = {f.name for f in fields(args) if f.default is MISSING and f.default_factory is MISSING}
    assert required == set(REQUIRED.get(name, {}))
    assert phases.parse(name, REQUIRED.get(name, {})) == args(**REQUIRED.get(name, {}))


@pytest.mark.parametrize("name", recipes.available())
def test_every_named_recipe_passes_the_check_for_a_model_it_trains(name):
    recipe = recipes.get(name)
    fits = []
    for preset in presets.available():
        try:
            resolved = resolve(recipe, presets.get(preset))
        except ValueError:
            continue
        fits.append(preset)
        assert resolve(Recipe.from_json(json.loads(json.dumps(resolved.to_json()))), presets.get(preset)) == resolved
    assert fits, f"recipe {name} fits no preset's own stage-1 phase"


def test_a_setting_for_another_phase_is_refused_naming_the_phases_that_take_it():
    assert phases.taking("windows_per_image") == ["windows"]
    imagenet = recipes.get("iqa-imagenet-quick")
    assert resolve(imagenet, presets.get("livec-imagenet")).main.args == {"images_per_batch": 8}
    with pytest.raises(ValueError) as err:
        resolve(imagenet, presets.get("livec"))
    assert str(err.value) == (
        "phase 'windows': unknown setting 'images_per_batch' (a setting of phase 'cells'); its settings: windows_per_image, val_windows"
    )
    with pytest.raises(ValueError) as err:
        resolve(recipes.get("forgery-quick").with_main({"windows_per_image": 8}), presets.get("forgery"))
    assert str(err.value) == (
        "phase 'contour-pairs': unknown setting 'windows_per_image' (a setting of phase 'windows'); it takes no settings"
    )


def test_a_resolved_recipe_holds_every_setting_as_plain_json():
    resolved = resolve(recipes.get("iqa-imagenet-rankiqa-quick"), presets.get("livec-imagenet"))
    assert resolved.phases[0].args == {"photos": recipes.DEBIAN_PHOTOS, "types": "live", "localized": 0, "size": [288, 384]}
    assert resolve(recipes.get("paper"), presets.get("tid")).main.args == {"windows_per_image": None, "val_windows": 20000}


@pytest.mark.parametrize(
    "args, message",
    [
        ({"groups": "8"}, "phase 'rank': groups must be a whole number, got '8'"),
        ({"types": "live"}, "phase 'rank': types must be a list of whole numbers or null, got 'live'"),
        ({"group": 8}, "phase 'rank': unknown setting 'group'; its settings: photos, types, levels, groups, val_groups"),
        ([8], "phase 'rank': settings are a JSON object, got [8]"),
    ],
)
def test_a_recipe_file_with_a_bad_setting_is_refused_by_name_before_the_data_are_read(tmp_path, args, message):
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"phases": [{"name": "rank", "args": args}, {"name": None}]}))
    recipe = recipes.get(path)
    with pytest.raises(ValueError) as err:
        resolve(recipe, presets.get("livec"))
    assert str(err.value) == message
    with pytest.raises(ValueError) as err:  # no data folder: the check comes first
        api.train(tmp_path / "no-data", tmp_path / "model", preset="livec", recipe=str(path))
    assert str(err.value) == message
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    "preset, recipe, phase, its",
    [
        ("livec-imagenet", "iqa-imagenet-quick", "cells", "its settings: images_per_batch"),
        ("forgery", "forgery-quick", "contour-pairs", "it takes no settings"),
    ],
)
def test_train_refuses_windows_per_image_on_a_phase_without_it(tmp_path, preset, recipe, phase, its):
    data = synthetic.write_folder(tmp_path / "data", synthetic.generate(1, 4, seed=0))
    out = tmp_path / "model"
    res = CliRunner().invoke(
        app, ["train", str(data), "--out", str(out), "--preset", preset, "--recipe", recipe, "--windows-per-image", "8", "--quiet"]
    )
    assert res.exit_code == 2
    assert res.stderr == (
        f"error: phase '{phase}': unknown setting 'windows_per_image' (a setting of phase 'windows'); {its}\n"
    )
    assert not out.exists()
