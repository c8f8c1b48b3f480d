"""Model presets: the paper's architectures and settings for each application, by name."""

from __future__ import annotations

import math
from typing import Callable

from .model import ModelConfig, ScoreSpec
from .registry import Registry

PRESETS: Registry[Callable[[str], ModelConfig]] = Registry("preset")
register = PRESETS.register
available = PRESETS.available


def get(name: str, method: str = "two-stage") -> ModelConfig:
    """A fresh :class:`ModelConfig` of preset ``name`` for ``method``."""
    return PRESETS.get(name)(method)


@register("synthetic")
def synthetic(method: str) -> ModelConfig:
    """The synthetic task: gray 128x128 images, 32x32 windows on a 10x10 grid, Table 4 nets."""
    return ModelConfig(
        method=method,
        stage1="synthetic-stage1",
        stage2="synthetic-stage2",
        patch=32,
        grid=(10, 10),
        max_size=(128, 128),
        channels=1,
        preprocess="image-mean",
        window_labels="synthetic",
        score=ScoreSpec(name="synthetic score (Eq. 3)", low=5.0 - 2.0 * math.sqrt(5.0), high=5.0, higher_is_better=True),
        preset="synthetic",
    )


def _iqa(method: str, channels: int, grid: tuple[int, int], max_size: tuple[int, int], stage2: str, preset: str) -> ModelConfig:
    return ModelConfig(
        method=method,
        stage1="kang-stage1",
        stage2=stage2,
        patch=32,
        grid=grid,
        max_size=max_size,
        channels=channels,
        preprocess="lcn",
        window_labels="selective",
        window_label_args={"threshold": 0.9},
        score=ScoreSpec(name="image quality", higher_is_better=True),
        preset=preset,
    )


@register("tid")
def tid(method: str) -> ModelConfig:
    """NR-IQA on colour photos (TID2013, Table 2 experiments 2-3): Kang stage 1 (Table 5) on
    LCN'd 32x32 RGB patches, selective patch training, "TID stage 2" on a 23x31 grid (32-px
    patches at stride 16 on 384x512 images)."""
    return _iqa(method, 3, (23, 31), (384, 512), "tid-stage2", "tid")


@register("live")
def live(method: str) -> ModelConfig:
    """NR-IQA on gray images (LIVE, Table 2 experiment 1): Kang stage 1 on LCN'd 32x32 gray
    patches, selective patch training, "LIVE stage 2" on a 24x23 grid."""
    return _iqa(method, 1, (24, 23), (512, 768), "live-stage2", "live")


@register("forgery")
def forgery(method: str) -> ModelConfig:
    """Image forgery classification (CASIA-2, Table 3, Experiment 2): the "Forgery channel" of
    Table 4 in a Siamese ranker trained on 64x64 patch pairs along the tampering's contour,
    "Forgery stage 2" on a 15x15x500 hyper-image with class-weighted cross-entropy. The score
    is the probability that the image is authentic (label 1, CASIA-2's "Au").

    Not in the paper: stage 1 sees the patch through a fixed noise-residual front end
    (:class:`hyperimage.networks.forgery.NoiseResidual`, the SRM filters of steganalysis and
    forensics). On the generated benchmark it raised the image-level AUC of stage 1's pooled
    patch scores from 0.55-0.56 to 0.66-0.71 (``benchmarks/forgery_readout.py``, README): a
    tampered seam shows in the noise, which an RGB network trained on a few thousand patches
    does not find.
    """
    return ModelConfig(
        method=method,
        task="classification",
        stage1_data="contour-pairs",
        stage1="forgery-stage1",
        stage1_args={"residual": True},
        stage2="forgery-stage2",
        patch=64,
        grid=(15, 15),
        max_size=(384, 384),
        channels=3,
        preprocess="none",
        window_labels="image",
        score=ScoreSpec(name="probability authentic", low=0.0, high=1.0, higher_is_better=True),
        preset="forgery",
    )
