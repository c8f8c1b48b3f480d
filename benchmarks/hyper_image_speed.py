"""Speed of a two-stage model's hyper-image path against cutting out its patches.

``--preset tid`` (default): the ``tid`` preset, Kang et al.'s stage 1 (Table 5) + "TID stage
2" (Table 4), 32-px patches on the 23 x 31 grid of 512 x 384 images (stride 16), random
weights. ``--preset livec-imagenet``: Table 2 exp. 5, the ImageNet EfficientNet-Lite0 trunk + FC(800) x 2 +
"TID stage 2" on the 16 x 16 grid of 500 x 500 photos (LIVE-C's size); its fast path is one
trunk pass per image, read at the patch centres, which is not equal to running the trunk on
each 32-px patch alone (no context, zero padding): the correlation of the two paths'
features says how far apart they are. ``--preset forgery``: Table 4's padded forgery network
(noise residual + quarter-width "Forgery channel" + "Forgery stage 2", random weights; the
shipped model until it became ``forgery-fast``), 64-px patches on the
15 x 15 grid of 384 x 256 RGB images (CASIA v1's size; strides 13 and 22). ``--preset
forgery-fast``: the unpadded forgery stage 1 (:mod:`hyperimage.inference.networks.forgery_valid`,
quarter width) on the same grid aligned to 8 px: the shipped forgery model
(``src/hyperimage/models/forgery``), or random weights where it is of another preset. Eval mode, no
gradients. Timed from preprocessed images to image scores (stage 1 + hyper-image + stage
2); the preprocessing both paths share (LCN for tid, none for forgery) is timed on its own,
in the same rounds, and the end-to-end figure (raw images to scores by path (a)) adds the two.

(a) fast path: ``model.grid_features``. For tid, ``KangNet.grid_features`` (one convolution
    of the whole image, windowed min/max pooling sharing the work of overlapping windows,
    dense layers on all patches). For forgery there is no exact whole-image path (the
    patches' zero padding, the per-position mean patch before the clamped residual, and
    MP(2) grids aligned to origins 13 and 22 px apart), so it is the per-patch path batched
    tightly: patches cut one image at a time, 85 at a time through stage 1 (about 2^20
    input values, :data:`hyperimage.inference.hyper_image.CHUNK_VALUES`), channels-last.
    For forgery-fast, ``GridRanker.grid_features``: the convolutions once over the image,
    the dense layers on the 2 x 2 map cells of each patch.
(b) explicit patches: ``grid.extract`` cuts all patches of the batch. For tid and livec-imagenet
    ``stage1_features`` pushes them through stage 1 (for forgery-fast the tight per-patch
    path of forgery's (a), on the same network); for forgery (b) is the per-patch path
    as it was before the fast path (4096 patches at a time, contiguous NCHW layout; it does
    use the new dense residual convolution, so it is slightly faster than the old code).

Peak memory: each path runs once more in a fresh (spawned) process; the figure is that
process's peak resident set size (``VmHWM``, which counts every touched page: torch
tensors, oneDNN scratch buffers and MKL workspaces alike) minus its resident size just
before the call, after the model and the batch were built. ``tracemalloc`` sees none of
torch's memory, torch's allocator statistics miss oneDNN/MKL buffers, and ``ru_maxrss``
is no use here: Linux carries it from the parent into a spawned child.

CPU-ms/image is the process CPU time per image (all threads): with one thread it is the
work the path needs, whatever else runs on the machine; wall-clock rates depend on the load.

``--device cuda`` (or ``mps``) times the paths there (each timed call waits for the
device to finish); the peak memory is then the device's (``torch.cuda.max_memory_allocated``
above what the model and batch hold; not measured on ``mps``), and CPU-ms/image only the
host's share.

Usage::

    python benchmarks/hyper_image_speed.py [--preset tid|forgery|forgery-fast|livec-imagenet] [--images N] [--batch B]
        [--threads T] [--random] [--device cpu|cuda|mps|auto]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from hyperimage import api, presets
from hyperimage.data.photos import builtin_photos
from hyperimage.distributed import DEVICES, resolve_device
from hyperimage.inference.hyper_image import lay_on_grid, stage1_features
from hyperimage.inference.model import HyperImageModel

from _results import write_results

#: (height, width) of the benchmark images of each preset.
SIZES = {"tid": (384, 512), "forgery": (256, 384), "forgery-fast": (256, 384), "livec-imagenet": (500, 500)}


def benchmark_model(preset: str) -> HyperImageModel:
    """The shipped forgery model for its preset, else the preset with random weights (speed
    does not depend on them; ``livec-imagenet`` keeps its ImageNet trunk; ``forgery-fast`` at
    the shipped model's quarter width)."""
    if preset.startswith("forgery"):
        shipped = api.default_model("forgery").eval()
        if shipped.config.preset == preset:
            return shipped
    torch.manual_seed(0)
    config = presets.get(preset)
    if preset == "forgery-fast":
        config.stage1_args["conv_width"] = 0.25
    return HyperImageModel(config).eval()


def benchmark_images(count: int, random: bool, size: tuple[int, int]) -> tuple[torch.Tensor, str]:
    """``count`` RGB images of ``size``: the built-in photos cycled, or uniform noise."""
    photos = [] if random else builtin_photos(size=size)
    if not photos:
        return torch.rand(count, 3, *size, generator=torch.Generator().manual_seed(0)), "uniform noise"
    stack = np.stack([photos[i % len(photos)][1] for i in range(count)]).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(stack)), f"{len(photos)} built-in photos, cycled"


def fast(model: HyperImageModel, images: torch.Tensor) -> torch.Tensor:
    """(a) What ``model(images)`` does after preprocessing: stage 1 through ``grid_features``."""
    rows, cols = model.grid.origins(images.shape[2], images.shape[3])
    return model.aggregate(lay_on_grid(model.grid_features(images, rows, cols)))


def explicit(model: HyperImageModel, images: torch.Tensor) -> torch.Tensor:
    """(b) Stage 1 on patches cut out of the images, then the same stage 2.

    For the forgery model this is the per-patch path before the fast one: all patches of
    the batch cut at once and 4096 at a time through stage 1 in the contiguous layout.
    """
    patches = model.grid.extract(images)
    if model.config.preset != "forgery":
        return model.aggregate(lay_on_grid(stage1_features(model.stage1, patches)))
    flat = patches.flatten(0, 2)
    feats = torch.cat([model.stage1.forward_features(flat[i : i + 4096]) for i in range(0, flat.shape[0], 4096)])
    return model.aggregate(lay_on_grid(feats.view(*patches.shape[:3], -1)))


PATHS: dict[str, Callable[[HyperImageModel, torch.Tensor], torch.Tensor]] = {"fast": fast, "explicit": explicit}


def memory_kib(field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in KiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (timing an asynchronous GPU call needs it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def peak_extra_memory(path: str, batch: int, threads: int | None, random: bool, preset: str, device: str) -> float:
    """MiB the path needs above the model and its batch, measured in this (fresh) process
    (on a GPU: device memory; NaN on ``mps``)."""
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    model = benchmark_model(preset).to(dev)
    with torch.no_grad():
        images = model.preprocess(benchmark_images(batch, random, SIZES[preset])[0].to(dev))
    if dev.type == "mps":
        return float("nan")
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
        with torch.no_grad():
            PATHS[path](model, images)
        return (torch.cuda.max_memory_allocated(dev) - before) / 2**20
    before = memory_kib("VmRSS")
    with torch.no_grad():
        PATHS[path](model, images)
    return (memory_kib("VmHWM") - before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(SIZES), default="tid", help="model to time (default tid)")
    parser.add_argument("--images", type=int, default=48, help="images timed per path (default 48)")
    parser.add_argument("--batch", type=int, default=8, help="images per forward call (default 8)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--random", action="store_true", help="use noise images instead of the built-in photos")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="where to run (default: cuda where available, else cpu)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (and their provenance) to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))

    model = benchmark_model(args.preset).to(device)
    size = SIZES[args.preset]
    raw, source = benchmark_images(args.batch, args.random, size)
    raw = raw.to(device)
    with torch.no_grad():
        images = model.preprocess(raw)  # also the warm-up of the preprocessing
    rounds = max(1, args.images // args.batch)
    c = model.config
    print(
        f"model: preset {c.preset!r} ({c.stage1} {c.stage1_args} + {c.stage2}, grid {c.grid[0]}x{c.grid[1]}), "
        f"{size[1]}x{size[0]} RGB ({source})"
    )
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__} on {device}, {threads} threads, batch {args.batch}, {rounds * args.batch} images per path")
    load_before = os.getloadavg()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in load_before)}")

    timed = {"lcn": partial(model.preprocess, raw)} | {name: partial(run, model, images) for name, run in PATHS.items()}
    seconds: dict[str, list[float]] = {name: [] for name in timed}
    cpu_seconds = dict.fromkeys(timed, 0.0)
    with torch.no_grad():
        outputs = {name: run(model, images) for name, run in PATHS.items()}  # warm-up
        for _ in range(rounds):  # interleaved, so all see the same background load
            for name, run in timed.items():
                start, cpu_start = time.perf_counter(), time.process_time()
                run()
                synchronize(device)
                seconds[name].append(time.perf_counter() - start)
                cpu_seconds[name] += time.process_time() - cpu_start
    print(f"load average after:  {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    difference = (outputs["fast"] - outputs["explicit"]).abs().max().item()
    print(f"max |score difference| between the paths: {difference:.2e}")
    with torch.no_grad():
        rows, cols = model.grid.origins(*images.shape[2:])
        by_path = [model.grid_features(images, rows, cols), stage1_features(model.stage1, model.grid.extract(images))]
    agreement = np.corrcoef(*[h.flatten().double().cpu().numpy() for h in by_path])[0, 1]
    print(f"correlation of the paths' stage-1 features (all cells, all {by_path[0].shape[-1]} values): {agreement:.4f}")

    rate = {name: args.batch / statistics.median(s) for name, s in seconds.items()}
    cpu_ms = {name: 1e3 * cpu / (rounds * args.batch) for name, cpu in cpu_seconds.items()}
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        memory = {
            name: pool.apply(peak_extra_memory, (name, args.batch, args.threads, args.random, args.preset, str(device)))
            for name in PATHS
        }
    for name in PATHS:
        best = args.batch / min(seconds[name])
        print(
            f"({'a' if name == 'fast' else 'b'}) {name:8s}: {rate[name]:6.2f} images/s (median of {rounds} batches; "
            f"best {best:.2f}); {cpu_ms[name]:6.1f} CPU-ms/image; "
            f"peak extra memory {memory[name]:7.1f} MiB"
        )
    print(
        f"(preprocessing, shared by both: {model.config.preprocess} at {rate['lcn']:.2f} images/s; "
        f"{cpu_ms['lcn']:.1f} CPU-ms/image)"
    )
    end_to_end = 1 / (1 / rate["lcn"] + 1 / rate["fast"])
    print(
        f"end to end, raw images to scores by the fast path: {end_to_end:.2f} images/s; "
        f"{cpu_ms['lcn'] + cpu_ms['fast']:.1f} CPU-ms/image"
    )
    print(f"speed-up of the fast path: {rate['fast'] / rate['explicit']:.1f}x")
    figures = {
        "preset": args.preset, "images": rounds * args.batch, "batch": args.batch, "threads": threads, "device": str(device),
        "source": source, "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "max_score_difference": difference, "feature_correlation": float(agreement),
        "paths": {
            name: {"images_per_s": rate[name], "best_images_per_s": args.batch / min(seconds[name]),
                   "cpu_ms_per_image": cpu_ms[name], "peak_extra_mib": memory[name]}
            for name in PATHS
        },
        "preprocess": {"name": str(model.config.preprocess), "images_per_s": rate["lcn"], "cpu_ms_per_image": cpu_ms["lcn"]},
        "end_to_end_images_per_s": end_to_end,
        "speed_up": rate["fast"] / rate["explicit"],
    }
    write_results(args.json, figures, preset=args.preset)


if __name__ == "__main__":
    main()
