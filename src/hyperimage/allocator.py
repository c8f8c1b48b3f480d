"""Keeping freed memory for the next image: glibc malloc's two thresholds, set for PyTorch on CPU.

PyTorch's CPU tensors come from ``malloc``. glibc serves a block above its mmap threshold
(128 KiB at first, raised as such blocks are freed) with fresh pages from the kernel, and
gives the free top of its heap back to the kernel once that exceeds the trim threshold. A
network's feature maps are megabytes each, allocated and freed once per image, so every
pass faulted in and zeroed its pages again: the ImageNet trunk took 39 ms per 512 x 384
photo on 2 cores over its first 40 images and 19 ms once glibc's thresholds had climbed,
and ``hyperimage score`` with the shipped quality model ran 23.7 images/s with glibc's
defaults against 29.5 with the thresholds below (``benchmarks/score_archive.py``, which
measures both; docs/results/speed.md, "Scoring an archive").
Fixed thresholds keep the freed pages in the process for the next image, which is what
PyTorch's CPU performance guide gets by preloading jemalloc or tcmalloc, without a
preload. Peak memory does not grow: the same pages are reused.
"""

from __future__ import annotations

import ctypes
import os

#: ``mallopt`` parameters (``<malloc.h>``).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: Blocks up to this size come from the heap (a 512 x 384 trunk pass allocates maps of up
#: to 19 MB); larger ones, e.g. a huge image, are still mapped and given back when freed.
MMAP_THRESHOLD = 64 << 20
#: Free memory at the top of the heap is given back to the kernel beyond this.
TRIM_THRESHOLD = 256 << 20
#: ``HYPERIMAGE_MALLOC=system`` leaves glibc's defaults (the benchmark's baseline).
ENV = "HYPERIMAGE_MALLOC"
#: glibc's own settings, which a user's environment may already hold: left alone then.
GLIBC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds to :data:`MMAP_THRESHOLD` and :data:`TRIM_THRESHOLD`
    for this process (and the processes it forks afterwards). Every ``hyperimage`` command
    calls it first (training gains too: docs/results/speed.md); a Python program scoring
    many images can too.

    Returns whether they were set: not where the C library is not glibc (nothing to set),
    where ``HYPERIMAGE_MALLOC=system`` asks for glibc's defaults, or where the environment
    already sets either threshold (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``).
    """
    if os.environ.get(ENV) == "system" or any(name in os.environ for name in GLIBC_ENV):
        return False
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    # glibc only: another C library's mallopt, if it has one, reads these numbers otherwise
    if not (hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt")):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
