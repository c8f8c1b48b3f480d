"""Model presets: the paper's architectures and settings for each application, by name."""

from __future__ import annotations

import math
from typing import Callable

from .model import ModelConfig, ScoreSpec

_PRESETS: dict[str, Callable[[str], ModelConfig]] = {}


def register(name: str) -> Callable[[Callable[[str], ModelConfig]], Callable[[str], ModelConfig]]:
    """Decorator: a function ``method -> ModelConfig`` becomes the preset ``name``."""

    def wrap(fn: Callable[[str], ModelConfig]) -> Callable[[str], ModelConfig]:
        _PRESETS[name] = fn
        return fn

    return wrap


def get(name: str, method: str = "two-stage") -> ModelConfig:
    """A fresh :class:`ModelConfig` of preset ``name`` for ``method``."""
    try:
        return _PRESETS[name](method)
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(available())}") from None


def available() -> list[str]:
    return sorted(_PRESETS)


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
