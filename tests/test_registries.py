"""Extending hyperimage is a registration, and nothing dispatches on a registered name.

The first test registers a toy data-set layout, a toy preset with its own default recipe, and
a toy training phase with typed settings, all from this file alone, then trains on a folder of
that layout with ``hyperimage.api.train`` (no preset or recipe named: the layout names the
preset, the preset its recipe, the recipe its phase) and scores with ``hyperimage.load``. The
second reads every module of the package and fails on a comparison with a registered name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hyperimage
from hyperimage import api, presets
from hyperimage.data.datasets import LAYOUTS
from hyperimage.data.datasets.layout import Layout
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.inference import tasks
from hyperimage.inference.model import METHODS
from hyperimage.inference.tasks import label_norm
from hyperimage.training import TrainConfig, phases, recipe as recipes
from hyperimage.training.loop import LoopState

SRC = Path(hyperimage.__file__).parent


def _looks_like(root: Path) -> bool:
    return (Path(root) / "toy.tsv").is_file()


def _load(root: Path) -> list[ImageRecord]:
    rows = (Path(root) / "toy.tsv").read_text().split("\n")
    return [ImageRecord(path=Path(root) / name, target=float(score)) for name, score in (r.split("\t") for r in rows if r)]


@dataclass(frozen=True)
class ToyArgs:
    shift: float = 0.0
    """Added to the label mean the phase fits (a setting only this phase takes)."""


def _toy_phase(run: phases.PhaseRun) -> LoopState:
    """Stage 1 untrained; only the label normalisation fitted (and shifted by ``run.args.shift``)."""
    train = run.train_store
    mean, scale = label_norm(train.labels[train.kept_windows()[:, 0], train.kept_windows()[:, 1], train.kept_windows()[:, 2]])
    run.model.fitted.stage1_norm = (mean + run.args.shift, scale)
    return LoopState(best_epoch=0)


def _toy_preset(method: str):
    """The synthetic task's networks, trained by the toy phase."""
    return replace(presets.get("synthetic", method), stage1_data="toy-phase", preset="toy-preset")


def _toy_recipe() -> recipes.Recipe:
    return recipes.Recipe(stage2=TrainConfig(epochs=2, patience=2, batch_size=4), name="toy-recipe")


@pytest.fixture
def toy_registrations():
    """Everything registered for one test and taken out again after it."""
    LAYOUTS.register("toy-layout")(Layout("toy-layout", "a toy layout", _looks_like, _load, preset="toy-preset"))
    presets.register("toy-preset", recipe="toy-recipe", heat_map="nothing in particular")(_toy_preset)
    recipes.register("toy-recipe")(_toy_recipe)
    phases.register("toy-phase", args=ToyArgs)(_toy_phase)
    yield
    for registry, name in ((LAYOUTS, "toy-layout"), (presets.PRESETS, "toy-preset"), (recipes.RECIPES, "toy-recipe"), (phases.PHASES, "toy-phase")):
        registry.remove(name)


def test_a_toy_layout_preset_recipe_and_phase_train_and_load(tmp_path, toy_registrations, seed):
    data = tmp_path / "toy"
    data.mkdir()
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(15):
        level = i / 14
        image = np.clip(0.5 + level * rng.normal(0, 0.3, (128, 128)), 0, 1)
        Image.fromarray((image * 255).astype(np.uint8)).save(data / f"{i}.png")
        rows.append(f"{i}.png\t{5 * level:.3f}")
    (data / "toy.tsv").write_text("\n".join(rows))

    said = []
    api.train(data, tmp_path / "model", progress=False, log=said.append)
    assert not any("no preset named" in line for line in said)  # the layout named its preset
    saved = recipes.get(tmp_path / "model" / "recipe.json")
    assert saved.name == "toy-recipe" and [p.name for p in saved.phases] == ["toy-phase"]
    assert saved.phases[0].args == {"shift": 0.0}  # every setting the run used, defaults included

    predictor = hyperimage.load(tmp_path / "model")
    assert predictor.info.preset == "toy-preset"
    scores = predictor.score([str(data / "0.png"), str(data / "14.png")])
    declared = presets.get("synthetic").score
    low, high = predictor.info.range
    assert (low, high) == (declared.low, declared.high) and all(low <= s <= high for s in scores)


def test_a_toy_phase_refuses_a_setting_it_does_not_take(tmp_path, toy_registrations):
    recipe = replace(_toy_recipe(), phases=[recipes.PhaseSpec(args={"windows_per_image": 4})])
    with pytest.raises(ValueError, match="phase 'toy-phase': unknown setting 'windows_per_image'"):
        phases.check(replace(recipe, phases=[replace(recipe.phases[0], name="toy-phase")]))


def _registered_names() -> set[str]:
    return (
        set(tasks.available()) | set(METHODS) | set(phases.available())  # stage-1 data names a phase
        | set(LAYOUTS.available()) | set(presets.available())
    )


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for item in node.elts for s in _strings(item)]
    return []


def test_no_module_dispatches_on_a_registered_name():
    """No ``==``, ``!=``, ``in`` or ``match`` against a task, method, stage-1 data (phase),
    layout or preset name anywhere in the package: what differs between them is read off
    their registered objects."""
    names = _registered_names()
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            sides = [node.left, *node.comparators] if isinstance(node, ast.Compare) else [node.value] if isinstance(node, ast.MatchValue) else []
            hits = sorted({s for side in sides for s in _strings(side)} & names)
            if hits:
                found.append(f"{path.relative_to(SRC)}:{node.lineno} compares with {', '.join(hits)}")
    assert not found, "\n".join(found)


def test_the_dispatch_check_would_see_one():
    """The check above finds a comparison with a registered name (so its silence means something)."""
    tree = ast.parse('if config.preset == "livec":\n    pass\nmatch task:\n    case "regression":\n        pass\n')
    compared = [s for node in ast.walk(tree) if isinstance(node, ast.Compare) for s in _strings(node.comparators[0])]
    matched = [s for node in ast.walk(tree) if isinstance(node, ast.MatchValue) for s in _strings(node.value)]
    assert set(compared + matched) <= _registered_names() and compared == ["livec"] and matched == ["regression"]
