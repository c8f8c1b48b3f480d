"""Golden outputs: the shipped models' scores and patch heat-map grids on three fixed photos.

``tests/golden/reference.json`` (written by ``tools/golden.py``) pins, for each photo of
``tests/golden/`` and each shipped model (``default_model("iqa")``, ``("forgery")``, ``("forensic")``),
the score ``hyperimage score`` gives and the ``U x V`` grid of ``patch`` cell values
``hyperimage explain --raw`` writes (the forensic model: its cells' probability of being tampered). A change anywhere on that path (decoding, resizing,
preprocessing, the grid, the networks, loading the weights) that moves them beyond the measured
float tolerance fails here. Grid shapes must match exactly.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("golden_tool", ROOT / "tools" / "golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


golden = _load_tool()

REGENERATE = (
    "If this change is meant to move the shipped models' outputs (a re-trained model, a deliberate fix), "
    "regenerate the reference with `python tools/golden.py` and say why in the commit message; "
    "otherwise it is a regression."
)


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return golden.read_reference()


@pytest.fixture(scope="module")
def computed() -> Iterator[dict[str, dict[str, dict[str, Any]]]]:
    """Every shipped model's outputs, on one thread: 0.1 s an image where two threads beside other busy
    processes take seconds (their barriers wait for each other); the tolerance covers 1 and 2
    threads alike (``reference.json``, ``measured``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield golden.outputs()
    finally:
        torch.set_num_threads(before)


def _context(task: str, reference: dict[str, Any]) -> str:
    """Why the outputs may have moved: a changed weights file or photo, said up front."""
    from hyperimage.api import DEFAULT_MODELS

    notes = []
    if golden.sha256(DEFAULT_MODELS / task / "model.safetensors") != reference["models"][task]["weights_sha256"]:
        notes.append(f"the shipped {task} model.safetensors is not the one reference.json was written with")
    return "".join(f"\n({n})" for n in notes)


def test_golden_images_are_the_ones_the_reference_was_written_for(reference: dict[str, Any]) -> None:
    stored = reference["images"]
    assert sorted(stored) == sorted(image.name for image in golden.IMAGES)
    changed = [name for name, info in stored.items() if golden.sha256(golden.GOLDEN / name) != info["sha256"]]
    assert not changed, (
        f"not the photos reference.json was written for: tests/golden/{', tests/golden/'.join(changed)}. " + REGENERATE
    )


@pytest.mark.parametrize("task", golden.MODELS)
def test_shipped_model_scores_match_the_reference(task: str, computed: dict, reference: dict[str, Any]) -> None:
    model = reference["models"][task]
    tol = model["tolerance"]["score"]["absolute"]
    moved = []
    for name, ref in model["outputs"].items():
        got = computed[task][name]["score"]
        if not abs(got - ref["score"]) <= tol:
            moved.append(f"{name}: {got:.6g}, reference {ref['score']:.6g} (difference {got - ref['score']:+.3g})")
    assert not moved, (
        f"the shipped {task} model's scores moved beyond the tolerance {tol:.3g} "
        f"({model['tolerance']['score']['share_of_range']:.2g} of its score range {model['score_range']}):\n  "
        + "\n  ".join(moved) + _context(task, reference) + "\n" + REGENERATE
    )


@pytest.mark.parametrize("task", golden.MODELS)
def test_shipped_model_cell_grids_match_the_reference(task: str, computed: dict, reference: dict[str, Any]) -> None:
    model = reference["models"][task]
    tol = model["tolerance"]["cells"]["absolute"]
    moved = []
    for name, ref in model["outputs"].items():
        got, want = np.asarray(computed[task][name]["cells"]), np.asarray(ref["cells"])
        if got.shape != want.shape:
            moved.append(f"{name}: grid {got.shape[0]} x {got.shape[1]}, reference {want.shape[0]} x {want.shape[1]}")
            continue
        diff = np.abs(got - want)
        if not diff.max() <= tol:
            u, v = np.unravel_index(int(diff.argmax()), diff.shape)
            moved.append(
                f"{name}: {int((diff > tol).sum())} of {diff.size} cells, largest difference {diff.max():.3g} "
                f"at cell ({u}, {v}): {got[u, v]:.6g}, reference {want[u, v]:.6g}"
            )
    assert not moved, (
        f"the shipped {task} model's patch cell grids moved beyond the tolerance {tol:.3g} "
        f"({model['tolerance']['cells']['share_of_range']:.2g} of its heat-map range {model['cells_range']}), "
        "or changed shape:\n  " + "\n  ".join(moved) + _context(task, reference) + "\n" + REGENERATE
    )
