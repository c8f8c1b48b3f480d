"""The number format a two-stage model computes in when it scores: float32, or bfloat16 where the
hardware has it.

float32 is the default and what every figure of a model card is measured in. ``bfloat16`` runs
the convolutions and dense layers under :func:`torch.autocast` (weights stay float32; the
hyper-image and the score come back as float32): on a CPU with AVX-512 BF16 or AMX the shipped
quality model scores about 1.5x as many images per second, at a cost in agreement with float32
that ``benchmarks/score_speed.py`` measures (per-image score differences and the LIVE-C test
SROCC of both, in the same run). On hardware without native bfloat16 it would be emulated
(slower than float32), so it is refused there with one line saying why. Scores in bfloat16
agree with float32 to the benchmark's figures, not to the last digit: they are not
interchangeable with float32 ones in a golden file.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

#: Precisions a model can score in, and the autocast type each means (None: none).
PRECISIONS: dict[str, torch.dtype | None] = {"float32": None, "bfloat16": torch.bfloat16}


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 convolutions and matrix products natively."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return device.type == "mps"


def check_precision(name: str, device: torch.device) -> str:
    """``name`` if a model on ``device`` can score in it, else a ValueError of one line."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}: {' or '.join(PRECISIONS)}")
    if PRECISIONS[name] is torch.bfloat16 and not native_bfloat16(device):
        raise ValueError(
            f"precision bfloat16: this {device.type} has no native bfloat16 (on a CPU: AVX-512 BF16 or AMX), "
            "where it would be slower than float32; use float32"
        )
    return name


def computing_in(name: str, device: torch.device) -> AbstractContextManager:
    """The context a forward pass in precision ``name`` runs under (autocast, or nothing for float32)."""
    dtype = PRECISIONS[name]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)
