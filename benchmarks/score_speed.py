"""How near this machine's limit ``hyperimage score`` runs the quality model (issue 33, item 4).

In one run, on one machine:

1. **the machine's peak**: a float32 ``torch.matmul`` of two 2048 x 2048 matrices on the
   threads ``score`` uses, GFLOP/s, the best of ``--repeats`` timings, measured before and
   after the scoring runs (the larger is the peak);
2. **the model's work**: GFLOP per 512 x 384 image (:class:`torch.utils.flop_counter.FlopCounterMode`
   over one forward pass; a multiply-add is 2 FLOP);
3. **end to end**: ``hyperimage score DIR --output FILE`` in a subprocess on ``--n`` 512 x 384
   PNGs (``benchmarks/score_archive.py``'s archive; decoding included), images/s from the first
   row to the last (start-up, about 3 s of imports and loading, left out), once per precision
   (``--precision float32`` and, where the CPU has it natively, ``bfloat16``), the
   precisions interleaved over ``--repeats`` rounds and the median taken; the achieved share
   of the peak is ``images/s x GFLOP per image / peak``;
4. **the model alone**: one batch of 16 images, in this process, per precision and with the
   dense layers quantised to int8 (``torch.ao.quantization.quantize_dynamic``), images/s
   (median of ``--repeats``) and the largest score difference from float32;
5. **what a precision costs**: the score differences between the float32 and bfloat16 rows of
   step 3 (same files), and, with ``--data`` (LIVE-C, ``data/real/ChallengeDB_release``), the
   test-split SROCC of each through ``hyperimage evaluate``'s path.

    python benchmarks/score_speed.py [--n 300] [--repeats 3] [--data data/real/ChallengeDB_release] [--json results/score-speed.json]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from hyperimage import api
from hyperimage.inference.precision import native_bfloat16
from hyperimage.inference.predictor import load
from hyperimage.inference.scoring import read_rows

from _results import write_results
from score_archive import MODEL, SIZE, make_archive, run_score

MATMUL = 2048


def matmul_peak(repeats: int) -> float:
    """GFLOP/s of a float32 2048 x 2048 matmul on this process's threads (best of ``repeats`` x 10)."""
    a, b = torch.rand(MATMUL, MATMUL), torch.rand(MATMUL, MATMUL)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        best = max(best, 10 * 2 * MATMUL**3 / (time.perf_counter() - start) / 1e9)
    return best


def gflop_per_image(model: api.HyperImageModel) -> float:
    """FLOP of one forward pass over one 512 x 384 image, in GFLOP."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, *SIZE))
    return counter.get_total_flops() / 1e9


def model_alone(model_dir: Path, paths: list[Path], precisions: list[str], repeats: int) -> dict:
    """Images/s of one 16-image batch per variant, and its largest score difference from float32."""
    predictor = load(model_dir, device="cpu")
    batch = torch.stack([predictor.prepare(Image.open(p)) for p in paths[:16]])
    variants = {}
    for name in precisions:
        variants[name] = copy.deepcopy(predictor.model).set_precision(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        int8 = copy.deepcopy(predictor.model)
        int8.stage1.dense = torch.ao.quantization.quantize_dynamic(int8.stage1.dense, {torch.nn.Linear}, dtype=torch.qint8)
    variants["int8 dense layers"] = int8
    rates: dict[str, list[float]] = {k: [] for k in variants}
    scores = {}
    with torch.inference_mode():
        for name, net in variants.items():
            scores[name] = net(batch)
        for _ in range(repeats):
            for name, net in variants.items():
                start = time.perf_counter()
                net(batch)
                rates[name].append(len(batch) / (time.perf_counter() - start))
    return {
        name: {
            "images_per_s": statistics.median(rates[name]),
            "max_abs_diff": float((scores[name] - scores["float32"]).abs().max()),
        }
        for name in variants
    }


def scores_of(path: Path) -> dict[str, float]:
    return {image: float(score) for image, score, _ in read_rows(path, "csv")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="512 x 384 PNGs scored per run (default 300)")
    parser.add_argument("--cache", type=Path, default=Path("runs/score-archive"), help="where the images are kept")
    parser.add_argument("--model", type=Path, default=MODEL, help="quality model folder (default: the shipped one)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of each timing (default 3)")
    parser.add_argument("--data", type=Path, default=None, help="LIVE-C folder: also the test-split SROCC of each precision")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (and their provenance) to this file")
    args = parser.parse_args()

    paths = make_archive(args.cache, args.n)
    precisions = ["float32"] + (["bfloat16"] if native_bfloat16(torch.device("cpu")) else [])
    threads = torch.get_num_threads()
    peak_before = matmul_peak(args.repeats)
    gflop = gflop_per_image(api.load_model(args.model))
    print(f"peak: {peak_before:.0f} GFLOP/s (float32 matmul {MATMUL}^2, {threads} threads); model: {gflop:.2f} GFLOP per 512 x 384 image")

    end_to_end: dict[str, list[float]] = {p: [] for p in precisions}
    with tempfile.TemporaryDirectory() as tmp:
        outs = {p: Path(tmp) / f"{p}.csv" for p in precisions}
        for round_ in range(args.repeats):
            for p in precisions:
                run = run_score(args.model, paths, outs[p], None, options=["--precision", p])
                if run["rc"] != 0 or run["rows"] != args.n:
                    raise SystemExit(f"score --precision {p} failed ({run['rc']}, {run['rows']} rows): {run['stderr'][-400:]}")
                rate = (args.n - 1) / (run["wall"] - run["first"])
                end_to_end[p].append(rate)
                print(f"round {round_ + 1}, {p}: {rate:.1f} images/s after start-up ({run['wall']:.1f} s wall)")
        rows = {p: scores_of(outs[p]) for p in precisions}
    peak = max(peak_before, matmul_peak(args.repeats))

    figures: dict = {"peak_gflops": peak, "peak_gflops_before": peak_before, "threads": threads, "gflop_per_image": gflop, "images": args.n}
    figures["end_to_end"] = {
        p: {
            "images_per_s": statistics.median(r), "runs": r,
            "share_of_peak": statistics.median(r) * gflop / peak,
        }
        for p, r in end_to_end.items()
    }
    for p in precisions[1:]:
        diff = np.array([abs(rows[p][k] - rows["float32"][k]) for k in rows["float32"]])
        figures["end_to_end"][p]["score_diff"] = {"max": float(diff.max()), "mean": float(diff.mean())}
        figures["end_to_end"][p]["speedup"] = figures["end_to_end"][p]["images_per_s"] / figures["end_to_end"]["float32"]["images_per_s"]
    figures["model_alone"] = model_alone(args.model, paths, precisions, args.repeats)
    if args.data is not None:
        figures["livec_test_srocc"] = {p: api.evaluate(args.model, args.data, precision=p)["srocc"] for p in precisions}

    print(f"peak {peak:.0f} GFLOP/s; {gflop:.2f} GFLOP per image")
    for p, f in figures["end_to_end"].items():
        extra = f", {f['speedup']:.2f}x float32, scores differ by at most {f['score_diff']['max']:.3f}" if "speedup" in f else ""
        print(f"score --precision {p}: {f['images_per_s']:.1f} images/s, {f['share_of_peak']:.0%} of the peak{extra}")
    for name, f in figures["model_alone"].items():
        print(f"model alone, {name}: {f['images_per_s']:.1f} images/s, scores differ from float32 by at most {f['max_abs_diff']:.3f}")
    for p, srocc in figures.get("livec_test_srocc", {}).items():
        print(f"LIVE-C test SROCC, {p}: {srocc:.4f}")
    write_results(args.json, figures)


if __name__ == "__main__":
    main()
