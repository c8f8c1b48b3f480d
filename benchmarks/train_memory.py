"""Training memory against data-set size: peak memory of ``hyperimage train`` for several N.

Generates a folder data set (``labels.csv`` with image, score, reference, group) of colour
512 x 384 PNGs: 50 pristine references (the built-in photos, each rolled, maybe mirrored and
brightened at random) and, for image i, reference ``i mod 50`` with a gaussian blur, white
noise or JPEG at a random level 1-5, scored ``6 - level``, grouped by its reference. The
references make the ``tid`` preset's selective (SSIM) window-label rule run. The images are
written once under ``WORK/images`` (in parallel) for the largest N; each N gets its own
``WORK/data-N/labels.csv`` over the first N of them (paths ``../images/...``, hence
``--allow-outside``), so later runs reuse them.

For each N it runs, as a subprocess and from a fresh ``--out`` folder::

    python -m hyperimage.cli train WORK/data-N --out WORK/out-N --preset tid --stage1-epochs 1
        --stage2-epochs 1 --windows-per-image K --allow-outside --quiet

with this checkout's ``src`` first on ``PYTHONPATH``, and measures the peak memory of the
command and every process it starts (the sum of ``Pss`` over the process tree, sampled every
0.2 s from ``/proc``), the command's own peak resident set (``ru_maxrss`` from ``wait4``)
and the wall time (GB = 2^30 bytes, MB = 2^20). A run whose tree passes ``--limit-gb`` is killed and reported as stopped.
It then fits peak memory against N by least squares over the runs that finished and prints
the slope per 1,000 images beside the targets (peak under 3 GB at N = 4,000, slope under
100 MB per 1,000 images). Only the command line is used, so the same script measures any
version of the training code.

Usage::

    python benchmarks/train_memory.py [--n 250 1000 4000] [--windows 8] [--work DIR]
        [--limit-gb 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from hyperimage.data.distortions import distort
from hyperimage.data.photos import builtin_photos

from _memory import tree_pss_kib
from _results import write_results

SIZE = (384, 512)
REFERENCES = 50
DISTORTIONS = ("gaussian_blur", "additive_gaussian_noise", "jpeg")
SRC = Path(__file__).resolve().parents[1] / "src"
TARGET_PEAK_GB = 3.0
TARGET_AT_N = 4000
TARGET_SLOPE_MB = 100.0


def image_name(i: int) -> str:
    """Image ``i``'s path under ``WORK/images``: folders of 1,000."""
    return f"{i // 1000:03d}/{i:06d}.png"


def reference_name(j: int) -> str:
    """Reference ``j``'s path under ``WORK/images``."""
    return f"ref/{j:03d}.png"


_PHOTOS: list[np.ndarray] = []


def _init_writer() -> None:
    _PHOTOS.extend(p for _, p in builtin_photos(size=SIZE))


def _reference(j: int) -> np.ndarray:
    """Reference ``j``: built-in photo ``j mod 5``, rolled, maybe mirrored, brightness scaled (seeded by ``j``)."""
    rng = np.random.default_rng(1_000_000 + j)
    img = np.roll(_PHOTOS[j % len(_PHOTOS)], (int(rng.integers(SIZE[0])), int(rng.integers(SIZE[1]))), axis=(0, 1))
    img = img[:, ::-1] if rng.random() < 0.5 else img
    return np.clip(img * rng.uniform(0.8, 1.1), 0, 1).astype(np.float32)


def _save(img: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray((img * 255).round().astype(np.uint8)).save(tmp, compress_level=1)
    tmp.rename(path)


def _write(args: tuple[Path, str, int]) -> None:
    """Write reference ``i`` (kind ``"ref"``) or distorted image ``i`` (kind ``"img"``)."""
    root, kind, i = args
    if kind == "ref":
        _save(_reference(i), root / reference_name(i))
        return
    distortion, level = _distortion(i)
    _save(distort(_reference(i % REFERENCES), distortion, level, np.random.default_rng(i)), root / image_name(i))


def _distortion(i: int) -> tuple[str, int]:
    """Image ``i``'s distortion type and level (seeded by ``i``)."""
    rng = np.random.default_rng(2_000_000 + i)
    return DISTORTIONS[int(rng.integers(len(DISTORTIONS)))], int(rng.integers(1, 6))


def make_images(root: Path, n: int) -> None:
    """The references and the first ``n`` images under ``root``, written where missing (in parallel)."""
    todo = [(root, "ref", j) for j in range(REFERENCES) if not (root / reference_name(j)).is_file()]
    todo += [(root, "img", i) for i in range(n) if not (root / image_name(i)).is_file()]
    if todo:
        start = time.perf_counter()
        with multiprocessing.Pool(len(os.sched_getaffinity(0)), initializer=_init_writer) as pool:
            pool.map(_write, todo, chunksize=16)
        print(f"wrote {len(todo)} images to {root} in {time.perf_counter() - start:.0f} s", flush=True)


def make_data(work: Path, n: int) -> Path:
    """``WORK/data-N``: a ``labels.csv`` over the first ``n`` images of ``WORK/images``."""
    data = work / f"data-{n}"
    data.mkdir(parents=True, exist_ok=True)
    tmp = data / "labels.csv.tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "score", "reference", "group"])
        for i in range(n):
            j = i % REFERENCES
            writer.writerow([f"../images/{image_name(i)}", 6 - _distortion(i)[1], f"../images/{reference_name(j)}", f"ref{j:03d}"])
    tmp.rename(data / "labels.csv")
    return data


def run_train(work: Path, n: int, windows: int, limit_kib: int) -> dict:
    """Run ``hyperimage train`` on ``WORK/data-N`` into a fresh ``WORK/out-N`` (its stderr into
    ``WORK/out-N.log``): peak tree Pss, the command's ru_maxrss, wall time, return code."""
    data, out = make_data(work, n), work / f"out-{n}"
    shutil.rmtree(out, ignore_errors=True)  # train resumes from OUT's checkpoints: start clean
    cmd = [
        sys.executable, "-m", "hyperimage.cli", "train", str(data), "--out", str(out), "--preset", "tid",
        "--stage1-epochs", "1", "--stage2-epochs", "1", "--windows-per-image", str(windows), "--allow-outside", "--quiet",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)}
    log = out.with_suffix(".log")
    start = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    peak, stopped, status, usage = 0, False, 0, None
    while usage is None:
        time.sleep(0.2)
        peak = max(peak, tree_pss_kib(proc.pid))
        if peak > limit_kib and not stopped:
            os.killpg(proc.pid, signal.SIGKILL)  # the command's own session: it and everything it started
            stopped = True
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        usage = rusage if pid else None
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    return {
        "n": n, "peak_gb": peak / 2**20, "maxrss_gb": usage.ru_maxrss / 2**20, "wall_s": wall,
        "rc": proc.returncode, "stopped": stopped, "log": str(log),
    }


def slope_mb_per_1000(runs: list[dict]) -> float | None:
    """Least-squares slope of peak memory (MB) against N, per 1,000 images, over the finished runs."""
    done = [r for r in runs if r["rc"] == 0]
    if len({r["n"] for r in done}) < 2:
        return None
    n = np.array([r["n"] for r in done], float)
    peak_mb = np.array([r["peak_gb"] * 1024 for r in done])
    return float(np.polyfit(n, peak_mb, 1)[0] * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[250, 1000, 4000], help="data-set sizes (default 250 1000 4000)")
    parser.add_argument("--windows", type=int, default=8, help="--windows-per-image of the runs (default 8)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hyperimage-train-memory"), help="where data and models go")
    parser.add_argument("--limit-gb", type=float, default=20.0, help="kill a run whose tree passes this (default 20)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if min(args.n) < 1 or args.windows < 1 or args.limit_gb <= 0:
        parser.error("--n and --windows must be positive whole numbers and --limit-gb a positive number")

    make_images(args.work / "images", max(args.n))
    print(f"{len(os.sched_getaffinity(0))} cores; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    runs = []
    for n in args.n:
        run = run_train(args.work, n, args.windows, int(args.limit_gb * 2**20))
        runs.append(run)
        state = "stopped" if run["stopped"] else ("ok" if run["rc"] == 0 else f"FAILED (rc {run['rc']})")
        print(f"N={n}: {state}, peak {run['peak_gb']:.2f} GB, {run['wall_s']:.0f} s", flush=True)
        if run["rc"] != 0 and not run["stopped"]:
            print(Path(run["log"]).read_text(errors="replace")[-2000:], file=sys.stderr)

    print(f"\n{'N':>6}  {'peak GB (tree Pss)':>18}  {'peak RSS GB (main)':>18}  {'wall s':>7}")
    for r in runs:
        if r["stopped"]:
            peak = f"> {args.limit_gb:g}, stopped"
        else:
            peak = f"{r['peak_gb']:.2f}" if r["rc"] == 0 else f"failed (rc {r['rc']})"
        print(f"{r['n']:>6}  {peak:>18}  {r['maxrss_gb']:>18.2f}  {r['wall_s']:>7.0f}")
    slope = slope_mb_per_1000(runs)
    at = next((r for r in runs if r["n"] == TARGET_AT_N), None)
    if at is None:
        peak_line = f"not measured (no N = {TARGET_AT_N})"
    elif at["stopped"]:
        peak_line = f"> {args.limit_gb:g} GB (stopped): not met"
    elif at["rc"] != 0:
        peak_line = "run failed: not met"
    else:
        peak_line = f"{at['peak_gb']:.2f} GB: {'met' if at['peak_gb'] < TARGET_PEAK_GB else 'not met'}"
    slope_line = (
        "needs two finished N" if slope is None else f"{slope:.0f} MB: {'met' if slope < TARGET_SLOPE_MB else 'not met'}"
    )
    print(f"\npeak at N = {TARGET_AT_N} (target < {TARGET_PEAK_GB:g} GB): {peak_line}")
    print(f"slope per 1000 images, least squares over the finished N (target < {TARGET_SLOPE_MB:g} MB): {slope_line}")
    figures = {"windows_per_image": args.windows, "limit_gb": args.limit_gb, "slope_mb_per_1000": slope, "runs": runs}
    write_results(args.json, figures, preset="tid")


if __name__ == "__main__":
    main()
