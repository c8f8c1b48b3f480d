"""Table 1: the synthetic task, two-stage model against patch averaging.

Experiment 1 draws every image afresh (1..5 patches, any background, any contents).
Experiment 2 has one data set per patch count 1..5 in which background and patch contents
are fixed and only positions vary. Each data set is split at random 60/20/20 several
times; stage 1 is trained once per split and shared by both methods, so the comparison
isolates the second stage. Figures are means and standard deviations over splits.

The training budget is a CPU recipe, not the paper's 80 + 200 epochs: each stage-1 epoch
draws ``windows_per_image`` windows per image, and both stages stop early.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from hyperimage.data.datasets import folder
from hyperimage.data.generators import synthetic
from hyperimage.distributed import SINGLE, World
from hyperimage.evaluation.protocol import evaluate_records, random_split, summarise
from hyperimage.evaluation.provenance import stamp
from hyperimage.presets import get as get_preset
from hyperimage.training import Recipe, patch_average_of, recipe, train

#: Table 1 of the paper. Experiment 2 reports the mean of SROCC and PLCC per patch count.
PAPER = {
    "exp1": {"patch-average": {"srocc": 0.9132, "plcc": 0.8982}, "two-stage": {"srocc": 0.9611, "plcc": 0.9586}},
    "exp2": {"patch-average": [0.665, 0.7, 0.544, 0.5, 0.439], "two-stage": [0.886, 0.811, 0.738, 0.744, 0.718]},
}


@dataclass
class Budget:
    """Data sizes and training budget of one benchmark run."""

    n_exp1: int
    n_exp2: int
    splits: int
    recipe: Recipe = field(default_factory=Recipe)


FULL = Budget(n_exp1=1000, n_exp2=1000, splits=3, recipe=recipe.get("synthetic-full"))
QUICK = Budget(n_exp1=500, n_exp2=400, splits=1, recipe=recipe.get("synthetic-quick"))


def _datasets(budget: Budget, seed: int) -> list[tuple[str, int, list[synthetic.SyntheticImage]]]:
    sets = [("exp1", 0, synthetic.generate(1, budget.n_exp1, seed=seed))]
    sets += [("exp2", k, synthetic.generate(2, budget.n_exp2, seed=seed + k, patches=k)) for k in range(1, 6)]
    return sets


def run(
    budget: Budget = FULL,
    seed: int = 0,
    log: Callable[[str], None] = print,
    progress: bool = False,
    world: World = SINGLE,
) -> dict:
    """Run both experiments; returns per-split metrics, their summaries and the run's
    ``provenance`` (:func:`hyperimage.evaluation.provenance.stamp`)."""
    started = time.time()
    stamped = stamp(preset="synthetic", recipe=budget.recipe.name)  # the code as the run starts
    results: dict = {"budget": asdict(budget), "seed": seed, "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, k, images in _datasets(budget, seed):
            root = synthetic.write_folder(Path(tmp) / f"{name}-{k}", images)
            records = folder.load(root)
            runs: dict[str, list[dict]] = {"two-stage": [], "patch-average": []}
            for split in range(budget.splits):
                t0 = time.time()
                recs = random_split(records, seed=seed * 1000 + split)
                test = [r for r in recs if r.split == "test"]
                model, result = train(recs, get_preset("synthetic"), budget.recipe, seed=seed + split, progress=progress, world=world)
                for method, m in (("two-stage", model), ("patch-average", patch_average_of(model, result))):
                    ev = evaluate_records(m, test)
                    runs[method].append({key: ev[key] for key in ("srocc", "plcc", "krocc")})
                label = f"{name} K={k}" if k else name
                log(
                    f"{label} split {split + 1}/{budget.splits}: two-stage SROCC {runs['two-stage'][-1]['srocc']:.4f}, "
                    f"patch-average SROCC {runs['patch-average'][-1]['srocc']:.4f} ({time.time() - t0:.0f} s)"
                )
            results["rows"].append(
                {
                    "experiment": name,
                    "patches": k or None,
                    "splits": runs,
                    "summary": {method: summarise(r) for method, r in runs.items()},
                }
            )
    results["wall_seconds"] = time.time() - started
    results["provenance"] = stamped
    return results


def table(results: dict) -> str:
    """Table 1 as text: ours (mean +- std over splits) beside the paper's figures."""
    lines = [f"Table 1, synthetic task ({results['budget']['splits']} split(s), mean +- std)", ""]
    lines.append(f"{'experiment':<14}{'method':<15}{'SROCC':>17}{'PLCC':>17}{'KROCC':>17}   paper")
    for row in results["rows"]:
        label = "exp 1" if row["experiment"] == "exp1" else f"exp 2, K={row['patches']}"
        for method in ("patch-average", "two-stage"):
            s = row["summary"][method]
            cells = "".join(f"{s[m]['mean']:>10.4f} +-{s[m]['std']:.3f}" for m in ("srocc", "plcc", "krocc"))
            paper = PAPER[row["experiment"]][method]
            ref = (
                f"SROCC {paper['srocc']:.4f} PLCC {paper['plcc']:.4f}"
                if isinstance(paper, dict)
                else f"mean(SROCC, PLCC) {paper[row['patches'] - 1]:.3f}; ours {(s['srocc']['mean'] + s['plcc']['mean']) / 2:.3f}"
            )
            lines.append(f"{label:<14}{method:<15}{cells}   {ref}")
    lines.append("")
    lines.append(f"wall time {results['wall_seconds'] / 60:.1f} min")
    return "\n".join(lines)
