"""The layout's promises: inference stands alone, and a new training phase is one registration."""

import subprocess
import sys
from dataclasses import dataclass

import torch

from hyperimage import presets
from hyperimage.data.datasets import folder
from hyperimage.data.generators import synthetic
from hyperimage.evaluation.protocol import random_split
from hyperimage.training import PhaseSpec, Recipe, TrainConfig, phases, train
from hyperimage.training.loop import LoopState


def test_inference_imports_neither_training_nor_evaluation():
    code = (
        "import sys, hyperimage, hyperimage.inference.scoring, hyperimage.inference.explain, hyperimage.inference.model;"
        "import hyperimage.inference.predictor, hyperimage.inference.evidence.model, hyperimage.inference.evidence.predictor; hyperimage.load;"
        "print(sorted(m for m in sys.modules if m.startswith(('hyperimage.training', 'hyperimage.evaluation'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_registered_phase_runs_before_the_models_own_and_checkpoints_apart(tmp_path, monkeypatch):
    seen = []

    @dataclass(frozen=True)
    class ShrinkArgs:
        factor: float

    def shrink_first_layer(run: phases.PhaseRun) -> LoopState:
        """A stand-in pre-training: scales stage 1's first weights, as a real one would train them."""
        seen.append((run.args.factor, len(run.train_store), run.checkpoint.name))
        with torch.no_grad():
            next(run.model.stage1.parameters()).mul_(run.args.factor)
        return LoopState(epoch=1)

    monkeypatch.setitem(phases.PHASES._items, "shrink", phases.Phase(shrink_first_layer, ShrinkArgs))
    root = synthetic.write_folder(tmp_path / "data", synthetic.generate(1, 40, seed=0))
    records = random_split(folder.load(root), seed=0)
    plain = Recipe.simple(TrainConfig(epochs=1), TrainConfig(epochs=1), windows_per_image=2)
    recipe = Recipe(phases=[PhaseSpec("shrink", args={"factor": 0.0}), *plain.phases], stage2=plain.stage2)
    model, result = train(records, presets.get("synthetic"), recipe, workdir=tmp_path / "work", progress=False)
    assert list(result.phases) == ["shrink", "windows"]
    assert seen == [(0.0, len([r for r in records if r.split == "train"]), "stage1-0-shrink.safetensors")]
    assert result.recipe.phases[1].name == "windows"  # the model's own phase, named when the run starts
    # zeroed first-layer weights reach the windows phase, which then trains them up from zero
    baseline, _ = train(records, presets.get("synthetic"), plain, progress=False)
    first = next(model.stage1.parameters())
    assert not torch.equal(first, next(baseline.stage1.parameters()))
