"""Scoring an archive with ``hyperimage score --output``: rate, memory, and an interrupted run.

Generates ``--n`` 512 x 384 PNG photos (the built-in photos, each shifted, flipped and
brightened at random, so every file differs; written once into ``--cache`` in folders of
1,000 under ``CACHE/images-N`` and reused), then runs the real command, ``python -m hyperimage.cli score --output``,
with the shipped quality model (``src/hyperimage/models/iqa``; ``--model`` for another) in subprocesses:

1. the whole archive, uninterrupted: images/s end to end (rows over the command's wall
   time, start-up included) and without start-up (from the first row to the last), and the
   peak memory of the command and its decoding workers together (the sum of ``Pss``
   over the process tree, sampled every 0.2 s from ``/proc``: forked workers share
   pages, which ``VmRSS`` would count once per process) by the time 2,000 rows and all
   ``--n`` rows are written, and the CPU time per image (user + system of the command and
   its workers, from ``getrusage``: the rate on free cores, whatever else the machine runs);
2. the same, sent SIGINT after ``--interrupt-after`` seconds, then rerun with ``--resume``:
   the two times against the uninterrupted one, and a check that the resumed file holds
   every image once, in the same order and with the same scores (to :data:`TOLERANCE` of
   the score's range: an image scored in another batch sums in another order);
3. the serial path (``--workers 0``: decoding and LCN in the scoring process, between the
   model's batches; ``score``'s default on 2 cores) on the first ``--baseline`` images, and
   the same images with ``--workers`` decoding processes (at least 1), for the ratio;
4. the same images with ``score``'s default workers and glibc's own malloc thresholds
   (``HYPERIMAGE_MALLOC=system``) against the thresholds ``score`` sets
   (:mod:`hyperimage.allocator`).

Usage::

    python benchmarks/score_archive.py [--n 20000] [--cache runs/score-archive] [--baseline 300]
        [--interrupt-after 30] [--workers W] [--model MODEL]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from hyperimage.allocator import ENV as MALLOC_ENV
from hyperimage.data.photos import builtin_photos
from hyperimage.inference.model import clip_range, read_model_json
from hyperimage.inference.scoring import read_rows, scoring_workers
from hyperimage.storage import CONFIG

from _memory import tree_pss_kib
from _results import write_results

SIZE = (384, 512)
SRC = Path(__file__).resolve().parents[1] / "src"
MODEL = SRC / "hyperimage" / "models" / "iqa"

#: Largest score difference between the resumed and the uninterrupted file, as a share of the
#: model's score range: an image scored in another batch sums in another order (float32);
#: the shipped LIVE-C model moved by up to 1.0e-5 of its range.
TOLERANCE = 1e-4


def image_path(cache: Path, i: int) -> Path:
    """Where image ``i`` lives: folders of 1,000."""
    return cache / f"{i // 1000:03d}" / f"{i:06d}.png"


_PHOTOS: list[np.ndarray] = []


def _init_writer() -> None:
    _PHOTOS.extend(p for _, p in builtin_photos(size=SIZE))


def _write(args: tuple[Path, int]) -> None:
    """Image ``i``: built-in photo ``i mod 5``, rolled, maybe mirrored, brightness scaled (seeded by ``i``)."""
    cache, i = args
    photos = _PHOTOS
    rng = np.random.default_rng(i)
    img = np.roll(photos[i % len(photos)], (int(rng.integers(SIZE[0])), int(rng.integers(SIZE[1]))), axis=(0, 1))
    img = img[:, ::-1] if rng.random() < 0.5 else img
    img = np.clip(img * rng.uniform(0.8, 1.1), 0, 1)
    path = image_path(cache, i)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray((img * 255).round().astype(np.uint8)).save(tmp, compress_level=1)
    tmp.rename(path)


def make_archive(cache: Path, n: int) -> list[Path]:
    """The ``n`` benchmark images under ``cache``, written where missing (in parallel)."""
    missing = [(cache, i) for i in range(n) if not image_path(cache, i).is_file()]
    if missing:
        start = time.perf_counter()
        with multiprocessing.Pool(len(os.sched_getaffinity(0)), initializer=_init_writer) as pool:
            pool.map(_write, missing, chunksize=64)
        print(f"wrote {len(missing)} images to {cache} in {time.perf_counter() - start:.0f} s")
    return [image_path(cache, i) for i in range(n)]


def count_rows(path: Path) -> int:
    """Rows of a CSV output file so far (lines less the header)."""
    try:
        with open(path, "rb") as f:
            return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1)
    except FileNotFoundError:
        return 0


def run_score(
    model: Path, targets: list[Path], out: Path, workers: int | None, resume: bool = False,
    interrupt_after: float | None = None, marks: tuple[int, ...] = (), extra_env: dict[str, str] | None = None,
    options: Sequence[str] = (),
) -> dict:
    """Run ``hyperimage score`` into ``out`` (``extra_env`` added to its environment, ``options``
    to its command line); wall time, first-row time, return code, peak tree RSS at ``marks`` rows."""
    cmd = [sys.executable, "-m", "hyperimage.cli", "score", str(model), *map(str, targets), "--output", str(out), "--quiet", *options]
    cmd += ["--resume"] if resume else []
    cmd += [] if workers is None else ["--workers", str(workers)]
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **(extra_env or {})}
    if not resume:
        out.unlink(missing_ok=True)
    start, cpu_start = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = None
    peak = 0
    at: dict[int, float] = {}
    rows0 = count_rows(out) if resume else 0
    sent = False
    while proc.poll() is None:
        time.sleep(0.2)
        peak = max(peak, tree_pss_kib(proc.pid))
        rows = count_rows(out) - rows0
        if first is None and rows > 0:
            first = time.perf_counter() - start
        for m in marks:
            if m not in at and rows >= m:
                at[m] = peak / 1024
        if interrupt_after is not None and not sent and time.perf_counter() - start > interrupt_after:
            proc.send_signal(signal.SIGINT)
            sent = True
    wall = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = used.ru_utime + used.ru_stime - cpu_start.ru_utime - cpu_start.ru_stime
    err = proc.stderr.read() if proc.stderr else ""
    rows = count_rows(out) - rows0
    for m in marks:
        at.setdefault(m, peak / 1024)
    return {
        "wall": wall, "first": first or wall, "rc": proc.returncode, "rows": rows, "peak_mib": at, "stderr": err,
        "cpu": cpu, "maxrss_mib": used.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="images in the archive (default 20000)")
    parser.add_argument("--cache", type=Path, default=Path("runs/score-archive"), help="where the images are kept")
    parser.add_argument("--baseline", type=int, default=300, help="images timed on the serial path (default 300)")
    parser.add_argument("--interrupt-after", type=float, default=30.0, help="seconds before the SIGINT (default 30)")
    parser.add_argument("--model", type=Path, default=MODEL, help="quality model folder (default: the shipped one)")
    parser.add_argument("--workers", type=int, default=None, help=f"decoding workers (default: score's, {scoring_workers()} here)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (and their provenance) to this file")
    args = parser.parse_args()

    images = args.cache / f"images-{args.n}"
    files = make_archive(images, args.n)
    out_dir = args.cache / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{args.n} images of {SIZE[1]}x{SIZE[0]} under {images}; model {args.model}")
    print(f"{len(os.sched_getaffinity(0))} cores; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    marks = tuple(sorted({min(2000, args.n), args.n}))
    full = run_score(args.model, [images], out_dir / "full.csv", args.workers, marks=marks)
    assert full["rc"] == 0 and full["rows"] == args.n, full["stderr"]
    print(
        f"uninterrupted: {args.n} images in {full['wall']:.1f} s: {args.n / full['wall']:.2f} images/s end to end, "
        f"{(args.n - 1) / (full['wall'] - full['first']):.2f} images/s after the first row ({full['first']:.1f} s start-up)"
    )
    cores = len(os.sched_getaffinity(0))
    print(
        f"  CPU time (command and workers, user + system): {1e3 * full['cpu'] / args.n:.0f} ms/image, "
        f"i.e. {cores * args.n / full['cpu']:.1f} images/s on {cores} cores free of other work"
    )
    for m in marks:
        print(f"  peak memory (Pss of the command + workers) by {m} rows: {full['peak_mib'][m]:.0f} MiB")
    print(f"  largest single process (ru_maxrss of the children): {full['maxrss_mib']:.0f} MiB")

    cut = run_score(args.model, [images], out_dir / "resumed.csv", args.workers, interrupt_after=args.interrupt_after)
    rest = run_score(args.model, [images], out_dir / "resumed.csv", args.workers, resume=True)
    assert cut["rc"] == 130 and rest["rc"] == 0, (cut["rc"], cut["stderr"], rest["rc"], rest["stderr"])
    a, b = list(read_rows(out_dir / "full.csv", "csv")), list(read_rows(out_dir / "resumed.csv", "csv"))
    config, fitted = read_model_json(args.model / CONFIG)
    low, high = clip_range(config.score, fitted)
    tolerance = TOLERANCE * (high - low)
    gap = max(abs(float(x) - float(y)) for (_, x), (_, y) in zip(a, b))
    same = [i for i, _ in a] == [i for i, _ in b] and gap <= tolerance
    print(
        f"interrupted after {cut['wall']:.1f} s ({cut['rows']} rows kept), resumed in {rest['wall']:.1f} s "
        f"({rest['rows']} rows): {cut['wall'] + rest['wall']:.1f} s against {full['wall']:.1f} s uninterrupted "
        f"({(cut['wall'] + rest['wall']) / full['wall']:.2f}x); resumed file {'equals' if same else 'DIFFERS FROM'} "
        f"the uninterrupted one (every image once, same order; largest score difference {gap:.2g}, "
        f"{gap / (high - low):.1e} of the score's range, allowed {TOLERANCE:.0e})"
    )

    subset = files[: args.baseline]
    serial = run_score(args.model, subset, out_dir / "serial.csv", 0)
    parallel = run_score(args.model, subset, out_dir / "parallel.csv", args.workers or 1)
    assert serial["rc"] == 0 and parallel["rc"] == 0, (serial["stderr"], parallel["stderr"])
    rate = {k: (len(subset) - 1) / (r["wall"] - r["first"]) for k, r in (("serial", serial), ("parallel", parallel))}
    print(
        f"first {len(subset)} images, CPU time: serial {1e3 * serial['cpu'] / len(subset):.0f} ms/image, "
        f"with workers {1e3 * parallel['cpu'] / len(subset):.0f} ms/image"
    )
    print(
        f"first {len(subset)} images, after the first row: serial path (--workers 0) {rate['serial']:.2f} images/s, "
        f"with workers {rate['parallel']:.2f} images/s ({rate['parallel'] / rate['serial']:.2f}x); end to end "
        f"{len(subset) / serial['wall']:.2f} against {len(subset) / parallel['wall']:.2f} images/s"
    )
    mark = (len(subset),)
    ours = run_score(args.model, subset, out_dir / "malloc-ours.csv", args.workers, marks=mark)
    system = run_score(args.model, subset, out_dir / "malloc-system.csv", args.workers, marks=mark, extra_env={MALLOC_ENV: "system"})
    assert ours["rc"] == 0 and system["rc"] == 0, (ours["stderr"], system["stderr"])
    ours_rate, system_rate = ((len(subset) - 1) / (r["wall"] - r["first"]) for r in (ours, system))
    print(
        f"first {len(subset)} images, score's default workers, after the first row: glibc's default malloc thresholds "
        f"({MALLOC_ENV}=system) {system_rate:.2f} images/s, {1e3 * system['cpu'] / len(subset):.0f} CPU-ms/image, "
        f"peak {system['peak_mib'][len(subset)]:.0f} MiB; score's thresholds {ours_rate:.2f} images/s "
        f"({ours_rate / system_rate:.2f}x), {1e3 * ours['cpu'] / len(subset):.0f} CPU-ms/image, peak {ours['peak_mib'][len(subset)]:.0f} MiB"
    )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    runs = {"full": full, "interrupted": cut, "resumed": rest, "serial": serial, "parallel": parallel, "malloc_ours": ours, "malloc_system": system}
    figures = {
        "n": args.n, "baseline": len(subset), "model": str(args.model), "workers": args.workers, "cores": cores,
        "runs": {name: {k: v for k, v in r.items() if k != "stderr"} for name, r in runs.items()},
        "resumed_equals_uninterrupted": same, "largest_score_difference": gap,
    }
    write_results(args.json, figures)


if __name__ == "__main__":
    main()
