"""Golden outputs of the shipped models: write them, or check them, for ``tests/test_golden.py``.

What: three small photos in ``tests/golden/`` (crops of scikit-image's public-domain / CC0
``skimage.data`` photos, one a JPEG, one with a copy-move forgery; ``tests/golden/README.md``)
and ``tests/golden/reference.json``, which holds, for each photo and each shipped model
(``hyperimage.api.default_model("iqa")``, ``("forgery")`` and ``("forensic")``):

* the score as ``hyperimage score`` gives it (:func:`hyperimage.api.score`, the CLI's path);
* the ``U x V`` grid of cell values of the ``patch`` read-out, as ``hyperimage explain --raw``
  writes it (:meth:`hyperimage.inference.predictor.Predictor.explain`, which
  :func:`hyperimage.api.explain` calls; for the forensic model, its cells' probability of
  being tampered);

with the tolerance the test allows and how it was measured.

Why: nothing else pins what the shipped models output. A change to preprocessing, image
decoding, the grid, a network or the weight loading that moves a shipped model's scores or
maps fails ``tests/test_golden.py``, even where every learning test still passes. A change that
is meant to move them (a re-trained model, a deliberate fix) regenerates ``reference.json``
with this script, and its commit says why.

How the tolerance is measured: the reference is computed in a subprocess with
:data:`REFERENCE_ENV` (2 OpenMP threads, the CPU's best instruction set); then ``--check`` runs
in a subprocess under each of :data:`SETTINGS` (1 and 2 threads, AVX2 instead of AVX-512, no
vectorisation), each recording the largest absolute difference from the reference per model,
scores and cells separately. The tolerance of each is :data:`FACTOR` times the largest
difference seen, at least :data:`FLOOR` of the range (the model's score range for scores, its
heat-map range for cells, :func:`~hyperimage.inference.explain.heat_scale`), so that float
reordering on another machine passes while a re-trained model, which moves scores by percents
of the range, fails. Everything lands in ``reference.json``: tolerances, the differences per
setting, the commands, the torch version.

Usage (from the repository root, with the package installed)::

    python tools/golden.py              # write reference.json and measure its tolerance (~1 min on 2 cores)
    python tools/golden.py --images     # first re-write the photos from skimage.data, then as above
    python tools/golden.py --check      # recompute here; print the max differences per model; exit 1 beyond tolerance
    OMP_NUM_THREADS=1 python tools/golden.py --check   # the same under another setting
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
REFERENCE = GOLDEN / "reference.json"
SCRIPT = "tools/golden.py"

#: The shipped models, by the task :func:`hyperimage.api.default_model` takes.
MODELS = ("iqa", "forgery", "forensic")

#: Tolerance = FACTOR x the largest difference measured under :data:`SETTINGS`, ...
FACTOR = 10.0
#: ... at least this share of the range (scores: ``HyperImageModel.score_range``; cells: the heat-map range).
FLOOR = 1e-4
#: A tolerance above this share of a range is reported as too loose to catch a re-trained model.
LOOSEST = 1e-3

#: Environment variables that choose how torch computes on the CPU; every setting sets its own.
CPU_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")


@dataclass(frozen=True)
class GoldenImage:
    """One golden photo: a crop of a ``skimage.data`` photo, optionally copy-moved, saved as PNG or JPEG.

    ``copy_move``: ``(top, left, height, width, to_top, to_left)`` in crop coordinates: that
    block is pasted again at ``(to_top, to_left)``. ``quality``: JPEG quality (for ``.jpg``).
    """

    name: str
    photo: str
    top: int
    left: int
    height: int
    width: int
    licence: str
    copy_move: tuple[int, int, int, int, int, int] | None = None
    quality: int | None = None

    def pixels(self) -> np.ndarray:
        """The image as ``(height, width, 3)`` uint8, from the photo the installed scikit-image ships."""
        import skimage.data

        photo = getattr(skimage.data, self.photo)()
        crop = np.ascontiguousarray(photo[self.top : self.top + self.height, self.left : self.left + self.width])
        if crop.shape[:2] != (self.height, self.width):
            raise SystemExit(f"skimage.data.{self.photo}() is {photo.shape[:2]}: too small for the crop of {self.name}")
        if self.copy_move is not None:
            t, l, h, w, tt, tl = self.copy_move
            crop[tt : tt + h, tl : tl + w] = crop[t : t + h, l : l + w].copy()
        return crop

    def write(self, folder: Path) -> Path:
        """Save :meth:`pixels` into ``folder`` (PNG, or baseline 4:2:0 JPEG at ``quality``)."""
        from PIL import Image

        path = folder / self.name
        image = Image.fromarray(self.pixels())
        if self.quality is not None:
            image.save(path, "JPEG", quality=self.quality, subsampling="4:2:0", optimize=False, progressive=False)
        else:
            image.save(path, "PNG", compress_level=9)
        return path

    def source(self) -> str:
        """Where the image comes from, in words."""
        words = (
            f"skimage.data.{self.photo}()[{self.top}:{self.top + self.height}, {self.left}:{self.left + self.width}]"
        )
        if self.copy_move is not None:
            t, l, h, w, tt, tl = self.copy_move
            words += f", block [{t}:{t + h}, {l}:{l + w}] copied to [{tt}:{tt + h}, {tl}:{tl + w}]"
        return words + (f", JPEG quality {self.quality}" if self.quality is not None else ", PNG")


IMAGES = (
    GoldenImage("coffee.png", "coffee", 0, 130, 256, 320, "CC0 (photographer Rachel Michetti, courtesy of Pikolo Espresso Bar)"),
    GoldenImage("astronaut.jpg", "astronaut", 0, 64, 256, 320, "public domain (NASA)", quality=90),
    GoldenImage(
        "rocket-copy-move.png", "rocket", 120, 160, 256, 320, "public domain (SpaceX)",
        copy_move=(40, 16, 96, 48, 40, 90),
    ),
)


@dataclass(frozen=True)
class Setting:
    """A way of running torch on this CPU: environment variables set before torch is imported."""

    name: str
    env: dict[str, str]

    def command(self, args: str = "--check") -> str:
        """The shell command that runs this script under the setting."""
        assigned = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return f"{assigned} python {SCRIPT} {args}".strip()


#: The setting the reference is written with.
REFERENCE_SETTING = Setting("default ISA, 2 threads", {"OMP_NUM_THREADS": "2"})

#: The settings the tolerance is measured under (the first reruns the reference's own setting).
SETTINGS = (
    REFERENCE_SETTING,
    Setting("default ISA, 1 thread", {"OMP_NUM_THREADS": "1"}),
    Setting("AVX2, 2 threads", {"OMP_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}),
    Setting("AVX2, 1 thread", {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}),
    Setting("no ATen vectorisation, 2 threads", {"OMP_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "default"}),
    Setting(
        "no ATen vectorisation, oneDNN SSE4.1, 1 thread",
        {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
    ),
)

Outputs = dict[str, dict[str, dict[str, Any]]]  # model -> image -> {"score", "cells"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _short(value: float) -> float:
    """A float32 value as the shortest decimal that reads back to it (9 significant digits)."""
    return float(f"{value:.9g}")


def runtime() -> dict[str, Any]:
    """What computed the outputs: versions, threads, the CPU instruction set torch uses."""
    import PIL
    import torch

    import hyperimage

    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
        "hyperimage": hyperimage.__version__,
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "env": {k: os.environ[k] for k in CPU_VARIABLES if k in os.environ},
    }


def model_outputs(model: Any, paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Score (as ``hyperimage score``) and ``patch`` cell grid (as ``hyperimage explain --raw``, through
    :meth:`~hyperimage.inference.predictor.Predictor.explain`) of each image."""
    import hyperimage
    from hyperimage import api

    explainer = hyperimage.load(model)
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        [prediction] = list(api.score(model, [path]))
        if prediction.score is None:
            raise SystemExit(f"{path}: not scored ({prediction.error})")
        cells = explainer.explain(path, readout="patch").cells
        out[path.name] = {"score": _short(prediction.score), "cells": [[_short(v) for v in row] for row in cells.tolist()]}
    return out


def outputs(folder: Path = GOLDEN) -> Outputs:
    """Both shipped models' outputs on the golden images in ``folder``."""
    from hyperimage import api

    paths = [folder / image.name for image in IMAGES]
    return {task: model_outputs(api.default_model(task), paths) for task in MODELS}


def ranges() -> dict[str, dict[str, list[float]]]:
    """Per model: its score range and its ``patch`` heat-map range (what the tolerances are relative to)."""
    from hyperimage import api
    from hyperimage.inference.explain import heat_scale

    out = {}
    for task in MODELS:
        model = api.default_model(task)
        if isinstance(model, api.ForensicModel):  # its cells: each one's probability of being tampered
            cells = (0.0, 1.0)
        else:
            scale = heat_scale(model, "patch")
            cells = (scale.low, scale.high)
        out[task] = {"score": [float(v) for v in model.score_range], "cells": [float(v) for v in cells]}
    return out


def differences(got: Outputs, reference: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per model: the largest absolute difference of scores and of cells from ``reference``,
    and the images whose cell grid has another shape (then its cells are not compared)."""
    out: dict[str, dict[str, Any]] = {}
    for task in MODELS:
        stored = reference["models"][task]["outputs"]
        score, cells, shapes = 0.0, 0.0, []
        for name, ref in stored.items():
            mine = got[task][name]
            score = max(score, abs(mine["score"] - ref["score"]))
            a, b = np.asarray(mine["cells"], dtype=np.float64), np.asarray(ref["cells"], dtype=np.float64)
            if a.shape != b.shape:
                shapes.append(f"{name}: {a.shape} (reference {b.shape})")
            else:
                cells = max(cells, float(np.abs(a - b).max()))
        out[task] = {"score": _short(score), "cells": _short(cells), "shape_mismatches": shapes}
    return out


def read_reference(path: Path = REFERENCE) -> dict[str, Any]:
    return json.loads(path.read_text())


def write_reference(reference: dict[str, Any], path: Path = REFERENCE) -> None:
    path.write_text(json.dumps(reference, indent=1) + "\n")


def write_images(folder: Path = GOLDEN) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for image in IMAGES:
        path = image.write(folder)
        print(f"{path.relative_to(ROOT)}: {image.width} x {image.height}, {path.stat().st_size:,} bytes")


def _subprocess(setting: Setting, args: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in CPU_VARIABLES}
    env.update(setting.env)
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], env=env, cwd=ROOT, capture_output=True, text=True)


def _failure(done: subprocess.CompletedProcess) -> str:
    lines = (done.stderr or done.stdout).strip().splitlines()
    return f"exit {done.returncode}: {lines[-1] if lines else 'no output'}"


def compute_reference() -> dict[str, Any]:
    """The reference's outputs, computed in a subprocess under :data:`REFERENCE_SETTING`."""
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "outputs.json"
        done = _subprocess(REFERENCE_SETTING, ["--dump", str(dump)])
        if done.returncode != 0:
            raise SystemExit(f"computing the reference failed ({_failure(done)})\n{done.stderr}")
        return json.loads(dump.read_text())


def measure() -> list[dict[str, Any]]:
    """Run ``--check`` under each of :data:`SETTINGS` against the written reference."""
    measured = []
    for setting in SETTINGS:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "check.json"
            done = _subprocess(setting, ["--check", "--json", str(report)])
            entry: dict[str, Any] = {"setting": setting.name, "command": setting.command()}
            if report.is_file():
                entry.update(json.loads(report.read_text()))
                print(f"{setting.name}: " + "; ".join(
                    f"{t} score {d['score']:.3g}, cells {d['cells']:.3g}" for t, d in entry["differences"].items()
                ))
            else:
                entry["error"] = _failure(done)
                print(f"{setting.name}: did not run ({entry['error']})")
            measured.append(entry)
    return measured


def tolerances(measured: list[dict[str, Any]], spans: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
    """Per model and quantity: FACTOR x the largest measured difference, at least FLOOR of the range."""
    out: dict[str, dict[str, Any]] = {}
    for task in MODELS:
        out[task] = {}
        for what in ("score", "cells"):
            seen = max((m["differences"][task][what] for m in measured if "differences" in m), default=0.0)
            low, high = spans[task][what]
            span = high - low
            tol = max(FACTOR * seen, FLOOR * span)
            out[task][what] = {
                "absolute": _short(tol),
                "share_of_range": _short(tol / span),
                "range": [low, high],
                "largest_measured": _short(seen),
            }
            if tol > LOOSEST * span:
                print(f"WARNING: {task} {what} tolerance {tol:.3g} is {tol / span:.2%} of its range: "
                      "the outputs vary too much between settings for the test to catch small changes")
    return out


def write(images: bool, remeasure: bool) -> None:
    """Write reference.json (after the photos, with ``images``) and, with ``remeasure``, its tolerance."""
    from hyperimage.api import DEFAULT_MODELS

    if images:
        write_images()
    old = read_reference() if REFERENCE.is_file() else {}
    computed = compute_reference()
    spans = ranges()
    reference: dict[str, Any] = {
        "about": (
            "Golden outputs of the shipped models on tests/golden/*, checked by tests/test_golden.py. "
            f"Regenerate with `python {SCRIPT}` only for a change meant to move them, and say why in the commit."
        ),
        "written": {"command": REFERENCE_SETTING.command("").strip(), **computed["runtime"]},
        "images": {
            image.name: {"source": image.source(), "licence": image.licence, "sha256": sha256(GOLDEN / image.name)}
            for image in IMAGES
        },
        "models": {
            task: {
                "weights_sha256": sha256(DEFAULT_MODELS / task / "model.safetensors"),
                "score_range": spans[task]["score"],
                "cells_range": spans[task]["cells"],
                "cells_readout": "patch",
                "tolerance": old.get("models", {}).get(task, {}).get("tolerance"),
                "outputs": computed["outputs"][task],
            }
            for task in MODELS
        },
        "tolerance_rule": (
            f"per model, scores and cells apart: {FACTOR:g} x the largest absolute difference from this reference "
            f"under any setting of 'measured', at least {FLOOR:g} of the range (score_range for scores, "
            "cells_range, the patch heat map's, for cells)"
        ),
        "measured": old.get("measured", []),
    }
    write_reference(reference)
    if remeasure or reference["models"][MODELS[0]]["tolerance"] is None:
        reference["measured"] = measure()
        for task, tol in tolerances(reference["measured"], spans).items():
            reference["models"][task]["tolerance"] = tol
        write_reference(reference)
    print(f"wrote {REFERENCE.relative_to(ROOT)}")
    for task in MODELS:
        tol = reference["models"][task]["tolerance"]
        print(f"  {task}: score tolerance {tol['score']['absolute']:.3g} ({tol['score']['share_of_range']:.2g} of range), "
              f"cells {tol['cells']['absolute']:.3g} ({tol['cells']['share_of_range']:.2g} of range)")


def check(report: Path | None) -> int:
    """Recompute here; print the largest differences from reference.json per model; 1 beyond tolerance."""
    reference = read_reference()
    state = runtime()
    diffs = differences(outputs(), reference)
    print(f"torch {state['torch']}, {state['threads']} threads, CPU capability {state['cpu_capability']}")
    beyond = False
    for task, d in diffs.items():
        tol = reference["models"][task].get("tolerance")
        line = f"{task}: max |score diff| {d['score']:.3g}, max |cell diff| {d['cells']:.3g}"
        if tol is not None:
            over = d["score"] > tol["score"]["absolute"] or d["cells"] > tol["cells"]["absolute"]
            line += f" (tolerance {tol['score']['absolute']:.3g} / {tol['cells']['absolute']:.3g}: {'BEYOND' if over else 'ok'})"
            beyond |= over
        for mismatch in d["shape_mismatches"]:
            line += f"\n  grid shape differs: {mismatch}"
            beyond = True
        print(line)
    if report is not None:
        report.write_text(json.dumps({"runtime": state, "differences": diffs}, indent=1))
    return 1 if beyond else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", action="store_true", help="re-write the golden photos from skimage.data first")
    parser.add_argument("--check", action="store_true", help="recompute and print the max differences from reference.json")
    parser.add_argument("--json", type=Path, help="with --check: also write the differences to this JSON file")
    parser.add_argument("--keep-tolerance", action="store_true",
                        help="write the outputs but keep the stored tolerance and measurements (no re-measuring)")
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)  # outputs of this process, for compute_reference
    args = parser.parse_args()
    if args.dump is not None:
        args.dump.write_text(json.dumps({"runtime": runtime(), "outputs": outputs()}))
    elif args.check:
        raise SystemExit(check(args.json))
    else:
        write(args.images, remeasure=not args.keep_tolerance)


if __name__ == "__main__":
    main()
