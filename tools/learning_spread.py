"""Measure every learning test's quantities over seeds, thread counts and CPU kernels.

Runs ``pytest -m learning`` once per setting (each seed offset with 1 thread, 2 threads and
the AVX2 kernels another CPU would run: ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``),
each quantity recorded by the ``learned`` fixture of ``tests/conftest.py``, and prints one
row per quantity: its bound, mean, spread (sample standard deviation), worst value and how
many spreads the mean sits from the bound. A bound must sit at least 3 spreads away::

    python tools/learning_spread.py --seeds 5 --json results/learning-spread.json
    python tools/learning_spread.py --seeds 5 -k test_rank      # some tests only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hyperimage.evaluation.provenance import stamp

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "1 thread": {"OMP_NUM_THREADS": "1"},
    "2 threads": {"OMP_NUM_THREADS": "2"},
    "avx2": {"OMP_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}


def run(seed: int, setting: str, record: Path, pytest_args: list[str]) -> tuple[int, str]:
    """One ``pytest -m learning`` run; its quantities go to ``record``. Returns (exit code, summary line)."""
    env = {**os.environ, **SETTINGS[setting], "HYPERIMAGE_TEST_SEED": str(seed), "HYPERIMAGE_TEST_RECORD": str(record)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "learning", "-p", "no:cacheprovider", "-p", "no:randomly", *pytest_args]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    lines = res.stdout.strip().splitlines()
    return res.returncode, lines[-1] if lines else res.stderr[-500:]


def summarise(rows: list[dict]) -> list[dict]:
    """Mean, spread and margin of each (test, quantity) over its recorded values."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["test"], row["name"]].append(row)
    out = []
    for (test, name), got in sorted(groups.items()):
        values = np.array([g["value"] for g in got])
        above, below = got[0]["above"], got[0]["below"]
        sd = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        bound = above if above is not None else below
        worst = values.min() if below is None else values.max()
        if bound is None:
            margin = None
        else:
            margin = abs(values.mean() - bound) / sd if sd > 1e-9 else float("inf")
        out.append({
            "test": test, "name": name, "n": len(values),
            "bound": "none (recorded)" if bound is None else ("> " if above is not None else "< ") + f"{bound:g}",
            "mean": float(values.mean()), "sd": sd, "worst": float(worst), "spreads": margin,
            "by_setting": {f"seed {g['seed']}, {g['setting']}": g["value"] for g in got},
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seed offsets 0 .. N-1")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, of: {', '.join(SETTINGS)}")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (1-thread runs pair well on 2 cores)")
    parser.add_argument("--json", type=Path, help="also write every value and the table here")
    parser.add_argument("-k", help="pytest -k expression: some learning tests only")
    args = parser.parse_args()
    pytest_args = ["-k", args.k] if args.k else []
    settings = args.settings.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(seed, s, Path(tmp) / f"{seed}-{i}.jsonl") for seed in range(args.seeds) for i, s in enumerate(settings)]
        with ThreadPoolExecutor(args.jobs) as pool:
            for (seed, s, _), (code, line) in zip(jobs, pool.map(lambda j: run(*j, pytest_args), jobs)):
                print(f"seed {seed}, {s}: {line}" + ("" if code == 0 else f" (exit {code})"), flush=True)
        rows = []
        for seed, s, path in jobs:
            if path.is_file():
                rows += [{**json.loads(line), "setting": s} for line in path.read_text().splitlines()]
    table = summarise(rows)
    print("\n| test | quantity | bound | mean | spread | worst | spreads from bound | n |\n|---|---|---|---|---|---|---|---|")
    for t in table:
        spreads = "-" if t["spreads"] is None else f"{t['spreads']:.1f}"
        print(f"| {t['test'].split('::', 1)[1]} | {t['name']} | {t['bound']} | {t['mean']:.3f} | {t['sd']:.3f} | "
              f"{t['worst']:.3f} | {spreads} | {t['n']} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        # the runs' thread counts and kernels are the settings; the stamp says commit, versions, CPU
        report = {"provenance": stamp(), "settings": SETTINGS, "table": table}
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
