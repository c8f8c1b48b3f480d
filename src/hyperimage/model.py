"""The two-stage hyper-image model (Eq. 1) and its patch-averaging baseline.

``forward`` is the method in four steps: preprocess the image, cut the Eq. 2 patch grid,
compute stage-1 features of every patch and lay them on the grid (the hyper-image), and
run stage 2. The patch-averaging baseline replaces stage 2 with the mean of the stage-1
patch scores over the grid, so both are trained and evaluated by the same code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import __version__, networks, preprocess
from .storage import CONFIG, WEIGHTS, is_model_dir, load_tensors, save_tensors, write_json
from .grid import PatchGrid, gather_windows
from .hyper_image import chunk_size, lay_on_grid, stage1_features

METHODS = ("two-stage", "patch-average")
TASKS = ("regression", "classification")
STAGE1_DATA = ("windows", "contour-pairs")


@dataclass
class ScoreSpec:
    """What a model's score means: its range and direction.

    Scores are clipped to ``[low, high]``: the task's own range where it has one, else
    (``None``) the range of the training targets, so a model never reports values outside
    what it learnt.
    """

    name: str = "score"
    low: float | None = None
    high: float | None = None
    higher_is_better: bool = True


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; saved as ``config.json`` beside its weights.

    ``task``: ``"regression"`` (a score, e.g. quality) or ``"classification"`` (stage 2 gives
    a logit; the score is the probability of class 1, e.g. "authentic" for forgery).
    ``stage1_data``: what stage 1 learns from: ``"windows"`` (grid windows labelled by the
    ``window_labels`` rule) or ``"contour-pairs"`` (the forgery experiment's Siamese ranking
    of authentic/tampered patch pairs cut along the tampering's contour, which needs a mask
    and an authentic reference for every tampered training image).
    """

    method: str = "two-stage"
    task: str = "regression"
    stage1_data: str = "windows"
    stage1: str = "synthetic-stage1"
    stage1_args: dict[str, Any] = field(default_factory=dict)
    stage2: str = "synthetic-stage2"
    stage2_args: dict[str, Any] = field(default_factory=dict)
    patch: int = 32
    grid: tuple[int, int] = (10, 10)
    max_size: tuple[int, int] = (128, 128)
    channels: int = 1
    preprocess: str = "none"
    window_labels: str = "image"
    window_label_args: dict[str, Any] = field(default_factory=dict)
    score: ScoreSpec = field(default_factory=ScoreSpec)
    preset: str = "synthetic"
    stage1_norm: tuple[float, float] = (0.0, 1.0)
    stage2_norm: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.stage1_data not in STAGE1_DATA:
            raise ValueError(f"stage1_data must be one of {STAGE1_DATA}, got {self.stage1_data!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        self.grid = tuple(self.grid)
        self.max_size = tuple(self.max_size)
        self.stage1_norm = tuple(self.stage1_norm)
        self.stage2_norm = tuple(self.stage2_norm)
        if isinstance(self.score, dict):
            self.score = ScoreSpec(**self.score)

    @property
    def image_mode(self) -> str:
        """Pillow mode images are read in: ``"L"`` or ``"RGB"``."""
        return "L" if self.channels == 1 else "RGB"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return cls(**data)


class HyperImageModel(nn.Module):
    """Stage 1 + hyper-image + stage 2 (or patch averaging), built from a :class:`ModelConfig`."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.grid = PatchGrid(config.patch, config.grid, config.max_size)
        self.preprocess = preprocess.get(config.preprocess)
        self.stage1 = networks.create(config.stage1, in_channels=config.channels, patch=config.patch, **config.stage1_args)
        self.stage2: nn.Module | None = None
        if config.method == "two-stage":
            self.stage2 = networks.create(
                config.stage2, in_features=self.stage1.num_features, grid=config.grid, **config.stage2_args
            )

    def grid_features(self, x: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
        """Stage-1 features of the patches at ``rows`` x ``cols`` of preprocessed images.

        ``(B, C, H, W)`` -> ``(B, U, V, D)``. A stage-1 network with a ``grid_features``
        method computes them in one fully convolutional pass (the fast path); otherwise the
        patches are cut out a few images at a time (as many as fill one stage-1 chunk, at
        least one: a 15 x 15 grid of 64-px RGB patches is 11 MB per image) and pushed
        through stage 1 in channels-last chunks (:func:`~hyperimage.hyper_image.stage1_features`).
        """
        fast = getattr(self.stage1, "grid_features", None)
        if fast is not None:
            return fast(x, torch.as_tensor(rows), torch.as_tensor(cols))
        p = self.grid.patch
        per = max(1, chunk_size(x.shape[1] * p * p) // (len(rows) * len(cols)))
        return torch.cat([stage1_features(self.stage1, gather_windows(x[i : i + per], rows, cols, p)) for i in range(0, x.shape[0], per)])

    def hyper_image(self, images: torch.Tensor, preprocessed: bool = False) -> torch.Tensor:
        """Images ``(B, C, H, W)`` (all one size) -> hyper-image ``(B, D, U, V)``.

        ``preprocessed``: the images already went through :attr:`preprocess` (which works
        image by image), e.g. in the decoding workers of :func:`~hyperimage.scoring.score_files`.
        """
        rows, cols = self.grid.origins(images.shape[2], images.shape[3])
        return lay_on_grid(self.grid_features(images if preprocessed else self.preprocess(images), rows, cols))

    def cell_scores(self, hyper: torch.Tensor) -> torch.Tensor:
        """Stage-1 patch scores of every grid cell, in window-label units.

        Hyper-image ``(B, D, U, V)`` -> ``(B, U, V)``; this is also the heat map of where
        stage 1 sees artefacts.
        """
        b, d, u, v = hyper.shape
        shift, scale = self.config.stage1_norm
        return shift + scale * self.stage1.head(hyper.permute(0, 2, 3, 1).reshape(-1, d)).view(b, u, v)

    def aggregate_raw(self, hyper: torch.Tensor) -> torch.Tensor:
        """Stage-2 output (normalised units), or the mean patch score for patch averaging."""
        if self.stage2 is None:
            return self.cell_scores(hyper).mean(dim=(1, 2))
        return self.stage2(hyper)

    def aggregate(self, hyper: torch.Tensor) -> torch.Tensor:
        """Image score ``(B,)`` from a hyper-image: in the units of the training targets, or
        for classification the probability of class 1 (the sigmoid of the stage-2 logit)."""
        shift, scale = self.config.stage2_norm
        out = shift + scale * self.aggregate_raw(hyper)
        return torch.sigmoid(out) if self.config.task == "classification" else out

    def forward(self, images: torch.Tensor, preprocessed: bool = False) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> raw image scores ``(B,)`` (Eq. 1); ``preprocessed`` as in :meth:`hyper_image`."""
        return self.aggregate(self.hyper_image(images, preprocessed))

    def clip(self, scores: torch.Tensor) -> torch.Tensor:
        """Clip raw scores to the model's declared range."""
        return scores.clamp(self.config.score.low, self.config.score.high)

    def save(self, folder: str | Path, half: bool = False) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``folder`` (atomically).

        ``half`` stores floating-point weights as float16: half the file, for shipping a
        model; they are read back into float32, so scores move only slightly (the model
        cards give the measured change).
        """
        folder = Path(folder)
        state = {k: v.half() if half and v.is_floating_point() else v for k, v in self.state_dict().items()}
        save_tensors(folder / WEIGHTS, state, {"format": "hyperimage", "version": __version__})
        write_json(folder / CONFIG, {"format": "hyperimage", "version": __version__, **self.config.to_dict()})
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "HyperImageModel":
        """Rebuild a model saved by :meth:`save`; no pickle is involved."""
        folder = Path(folder)
        if not is_model_dir(folder):
            raise ValueError(f"{folder}: not a hyperimage model folder (needs {CONFIG} and {WEIGHTS})")
        data = json.loads((folder / CONFIG).read_text())
        data.pop("format", None)
        data.pop("version", None)
        model = cls(ModelConfig.from_dict(data))
        tensors, _ = load_tensors(folder / WEIGHTS)
        model.load_state_dict(tensors)
        return model.eval()
