"""Speed and peak memory of the forensic evidence channels at native resolution (issue 31).

Two workloads, each in a fresh process so that its peak resident memory is its own:

* one 4000 x 3000 JPEG (a photo of the package scaled up, saved at quality 90), analysed with
  every registered channel (:func:`hyperimage.inference.evidence.analyse`), read from the file;
  budget: 20 s wall and 2 GB peak on 2 cores;
* CASIA v1's size, 384 x 256 JPEGs, ``--small`` of them one after another; budget: 10 images/s.

Each channel's own time (per image) is listed for both, measured in a second pass over the
same files.

The baseline, in the same run and the same kind of process: the shipped forgery model scoring
the same files (``hyperimage.load("forgery").score``), which shrinks the large one to 384 px
before it looks; beside it the shipped forensic model end to end (``hyperimage.load("forensic")``:
its channels on its own 16-px cells, whatever ``--cell`` says, then its stage 2).

    python benchmarks/evidence_speed.py [--channels noise,jpeg,...] [--cell 64] [--json results/evidence-speed.json]
"""

from __future__ import annotations

import argparse
import multiprocessing
from functools import partial
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from _results import write_results

LARGE = (3000, 4000)
#: The shipped models timed on the same files, by results key: the baseline, which shrinks
#: every image to 384 px, and the forensic model, whose channels read every image whole.
MODELS = {"shipped_model": "forgery", "shipped_forensic": "forensic"}
SMALL = (256, 384)


def _photo(size: tuple[int, int], seed: int) -> Image.Image:
    """scikit-image's ``astronaut`` resized to ``size`` (H, W), with a little seeded noise so
    no two files are alike."""
    rng = np.random.default_rng(seed)
    image = np.asarray(Image.fromarray(data.astronaut()).resize(size[::-1], Image.BICUBIC), dtype=np.float32)
    return Image.fromarray(np.clip(image + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8))


def _evidence(paths: list[str], channels: list[str], cell: int, out) -> None:
    from hyperimage.inference.evidence import CHANNELS, CellGrid, Evidence, analyse

    grid = CellGrid(cell)
    analyse(Evidence(np.full((64, 64, 3), 128, np.uint8)), channels, grid)  # warm: loads what the channels load once
    started = time.perf_counter()
    for path in paths:
        analyse(Evidence.read(path), channels, grid)
    wall = time.perf_counter() - started
    each = dict.fromkeys(channels, 0.0)
    for path in paths:  # again, one channel at a time: each one's share of the work
        evidence = Evidence.read(path)
        for name in channels:
            t = time.perf_counter()
            CHANNELS.get(name)(evidence, grid)
            each[name] += (time.perf_counter() - t) / len(paths)
    out.put({"wall_s": wall, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "per_channel_s": each})


def _model(name: str, paths: list[str], channels: list[str], cell: int, out) -> None:
    import hyperimage

    predictor = hyperimage.load(name)
    predictor.score(paths[:1])  # warm: the first call builds the kernels
    started = time.perf_counter()
    predictor.score(paths)
    out.put({"wall_s": time.perf_counter() - started, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _in_fresh_process(target, paths: list[str], channels: list[str], cell: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(paths, channels, cell, out))
    proc.start()
    result = out.get()
    proc.join()
    return result


def main() -> None:
    from hyperimage.inference.evidence import CELL, available

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", default=",".join(available()), help="comma-separated (default: every registered channel)")
    parser.add_argument("--small", type=int, default=20, help="384 x 256 images in the throughput run")
    parser.add_argument("--cell", type=int, default=CELL, help="side of the grid's cells (pixels)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    channels = [c for c in args.channels.split(",") if c]
    with tempfile.TemporaryDirectory() as tmp:
        large = str(Path(tmp) / "large.jpg")
        _photo(LARGE, 0).save(large, quality=90)
        small = []
        for i in range(args.small):
            small.append(str(Path(tmp) / f"small{i}.jpg"))
            _photo(SMALL, i + 1).save(small[-1], quality=90)
        figures = {
            "channels": channels,
            "cell": args.cell,
            "large": {"size": list(LARGE), "evidence": _in_fresh_process(_evidence, [large], channels, args.cell),
                      **{key: _in_fresh_process(partial(_model, name), [large], channels, args.cell) for key, name in MODELS.items()}},
            "small": {"size": list(SMALL), "images": len(small), "evidence": _in_fresh_process(_evidence, small, channels, args.cell),
                      **{key: _in_fresh_process(partial(_model, name), small, channels, args.cell) for key, name in MODELS.items()}},
        }
    for run in ("evidence", *MODELS):
        figures["small"][run]["images_per_s"] = len(small) / figures["small"][run]["wall_s"]
    ev, base = figures["large"]["evidence"], figures["large"]["shipped_model"]
    print(f"channels: {', '.join(channels)} on {args.cell}-px cells")
    print(f"4000 x 3000 JPEG: evidence {ev['wall_s']:.1f} s, peak {ev['peak_mib']:.1f} MiB "
          f"(budget 20 s, 2048 MiB); shipped model at 384 px {base['wall_s']:.2f} s, peak {base['peak_mib']:.1f} MiB; "
          f"ratio {ev['wall_s'] / base['wall_s']:.1f}x")
    print("  per channel: " + ", ".join(f"{k} {v:.2f} s" for k, v in ev["per_channel_s"].items()))
    s_ev, s_base = figures["small"]["evidence"], figures["small"]["shipped_model"]
    print(f"384 x 256 JPEGs: evidence {s_ev['images_per_s']:.1f} images/s (budget 10), "
          f"shipped model {s_base['images_per_s']:.1f} images/s; ratio {s_ev['images_per_s'] / s_base['images_per_s']:.2f}")
    print("  per channel and image: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in s_ev["per_channel_s"].items()))
    forensic = figures["large"]["shipped_forensic"], figures["small"]["shipped_forensic"]
    print(f"shipped forensic model (every channel on its 16-px cells, then stage 2): 4000 x 3000 {forensic[0]['wall_s']:.1f} s, "
          f"peak {forensic[0]['peak_mib']:.1f} MiB; 384 x 256 {forensic[1]['images_per_s']:.1f} images/s")
    write_results(args.json, figures)


if __name__ == "__main__":
    main()
