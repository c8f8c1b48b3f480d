"""JPEG re-compression of raw patches, a stage-1 augmentation for forgery.

A data set whose authentic and tampered files were saved differently (CASIA v1: no shared
quantisation tables, docs/results/forgery.md) lets a network separate them by their
compression traces instead of the tampering. Re-saving training patches at random qualities
makes those traces unreliable while seams, noise and colour mismatches stay, so stage 1 has
to learn the latter; ``benchmarks/resave_check.py`` measures the effect on whole files.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from hyperimage.training.augment import register


def _resave(patch: torch.Tensor, quality: int) -> torch.Tensor:
    """One ``(C, p, p)`` patch in [0, 1] through a JPEG encode and decode at ``quality``."""
    pixels = (patch.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(buf, format="JPEG", quality=quality)
    back = np.asarray(Image.open(buf), dtype=np.float32) / 255.0
    return torch.from_numpy(back.reshape(pixels.shape)).permute(2, 0, 1)


@register("jpeg")
def jpeg(
    patches: torch.Tensor, gen: torch.Generator, probability: float = 0.5, quality: tuple[int, int] = (60, 95)
) -> torch.Tensor:
    """Each item of raw ``(N, ..., C, p, p)`` patches in [0, 1], with ``probability``, re-saved as
    JPEG at one quality drawn from ``quality`` (inclusive); all patches of an item (e.g. the two
    of a contour pair) at the same quality, as one file would be. PIL encodes one patch at a
    time, so this loops in Python: for training batches only, never at test time."""
    lo, hi = int(quality[0]), int(quality[1])
    if not (0.0 <= probability <= 1.0 and 1 <= lo <= hi <= 95):
        raise ValueError(f"jpeg: probability in [0, 1] and 1 <= quality[0] <= quality[1] <= 95, got {probability}, {quality}")
    n = patches.shape[0]
    chosen = (torch.rand(n, generator=gen) < probability).tolist()
    qualities = torch.randint(lo, hi + 1, (n,), generator=gen).tolist()
    flat = patches.reshape(n, -1, *patches.shape[-3:]).clone()
    for i in (i for i in range(n) if chosen[i]):
        for j in range(flat.shape[1]):
            flat[i, j] = _resave(flat[i, j], qualities[i])
    return flat.view(patches.shape)
