"""The end-to-end CNN baseline of the forgery experiment (Table 3, "Experiment 1").

Chandakkar & Li first train the "Forgery end-to-end CNN" of Table 4 on whole images
resized to 256x384 and report 75.22% accuracy on CASIA-2, below the DCT-Markov SVM: a plain
CNN on a few thousand images does not find small tampered regions. This module trains that
network the way the rest of hyperimage trains (:func:`hyperimage.training.fit`: the paper's
SGD recipe, early stopping on the validation loss), with class-weighted binary cross-entropy,
left-right mirroring, and the mean training image (per channel) subtracted.

Images are read and validated by :func:`hyperimage.io.load_image` and resized to the
network's input size; a portrait image is turned a quarter first so that it fills the
landscape input instead of being squashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..io import load_image
from ..networks import create
from ..training import LOSSES, LoopState, TrainConfig, class_weighted, fit


def load_resized(path: str | Path, size: tuple[int, int]) -> torch.Tensor:
    """An RGB image file as ``(3, H, W)`` float32 at ``size`` (height, width).

    Portrait images are rotated to landscape when ``size`` is landscape (and vice versa);
    then the image is resized (bilinear) unless it already has ``size``.
    """
    image = load_image(path, mode="RGB")
    if (image.shape[0] > image.shape[1]) != (size[0] > size[1]):
        image = np.rot90(image)
    if image.shape[:2] != tuple(size):
        channels = [Image.fromarray(np.ascontiguousarray(image[..., c]), mode="F") for c in range(3)]
        image = np.stack([np.asarray(c.resize((size[1], size[0]), Image.BILINEAR)) for c in channels], axis=-1)
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))


class EndToEndCNN:
    """Table 4's "Forgery end-to-end CNN" as a whole-image binary classifier.

    Parameters
    ----------
    size : input (height, width); the paper's 256x384.
    conv_width : multiplier of the convolutions' filter counts (1 is Table 4; a CPU budget
        may thin the network, see :func:`hyperimage.networks.forgery.scaled`).
    seed : seed of the initial weights.
    residual : put the fixed noise-residual front end
        (:class:`hyperimage.networks.forgery.NoiseResidual`) before the first convolution.
    """

    def __init__(self, size: tuple[int, int] = (256, 384), conv_width: float = 1.0, seed: int = 0, residual: bool = False):
        torch.manual_seed(seed)
        self.size = tuple(size)
        self.network = create("forgery-end-to-end", size=self.size, conv_width=conv_width, residual=residual)
        self.mean = torch.zeros(3, 1, 1)

    def fit(
        self,
        train: Sequence[tuple[str | Path, float]],
        val: Sequence[tuple[str | Path, float]],
        config: TrainConfig,
        progress: bool = False,
    ) -> LoopState:
        """Train on ``(path, label)`` pairs (1 authentic, 0 tampered); early stopping on ``val``."""
        x = torch.stack([load_resized(p, self.size) for p, _ in train])
        self.mean = x.mean(dim=(0, 2, 3)).view(3, 1, 1)
        x = x - self.mean
        y = class_weighted(torch.tensor([float(t) for _, t in train]))
        vx = torch.stack([load_resized(p, self.size) for p, _ in val]) - self.mean
        vy = class_weighted(torch.tensor([float(t) for _, t in val]))
        cfg = replace(config, loss="bce")

        def batches(gen: torch.Generator):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(order), cfg.batch_size):
                b = order[start : start + cfg.batch_size]
                mirror = (torch.rand(len(b), generator=gen) < 0.5).view(-1, 1, 1, 1)
                yield torch.where(mirror, x[b].flip(3), x[b]), y[b]

        def validate() -> float:
            logits = torch.cat([self.network(vx[i : i + 32]) for i in range(0, len(vx), 32)])
            return float(LOSSES["bce"](logits, vy))

        return fit(self.network, batches, validate, cfg, desc="end-to-end", progress=progress)

    @torch.no_grad()
    def predict_proba(self, paths: Sequence[str | Path], batch_size: int = 32) -> np.ndarray:
        """Probability that each image is authentic, ``(N,)``."""
        self.network.eval()
        out = []
        for start in range(0, len(paths), batch_size):
            x = torch.stack([load_resized(p, self.size) for p in paths[start : start + batch_size]]) - self.mean
            out.append(torch.sigmoid(self.network(x)))
        return torch.cat(out).numpy() if out else np.zeros(0)
