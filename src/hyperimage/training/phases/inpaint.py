"""Context-encoder pre-training (Pathak et al. 2016, ``shared/papers/related-methods.md``):
stage 1's trunk encodes a patch whose centre is hidden, a small decoder reconstructs the
centre from the features, on unlabeled photos; then the model's own phase fine-tunes.

The patches are random crops of pristine photos, preprocessed like the model's images (a
crop with context around it, so LCN sees the same neighbourhood as at test time); the
centre square (``hole`` of the side) is set to the batch's mean value per channel (as the
paper fills it with the mean pixel; about 0 for LCN'd patches), and the loss is
the L2 error of the reconstructed centre. The decoder is dropped after the phase; only the
trunk's weights carry over. (Not built: the paper's optional adversarial loss.)

It needs a trunk whose features keep the patch's layout, as the synthetic and forgery
stage-1 networks do (the synthetic net, 5 epochs of 1,024 built-in photo patches with Adam:
validation error 0.0148 against 0.0223 for predicting 0;
``tests/training/phases/test_inpaint.py`` checks it beats 0.8 x). Kang's IQA network pools
each map to its global minimum and maximum, so its features cannot say what is where: on LCN'd
photos it did no better than predicting 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from hyperimage.inference.model import HyperImageModel
from hyperimage.training.crops import PhotoCrops, pristine_photos
from hyperimage.training.loop import LoopState, fit
from hyperimage.training.phases import PhaseRun, register


class Inpainter(nn.Module):
    """Stage 1's features of a masked patch -> the hidden centre ``(N, C * h * h)``."""

    def __init__(self, stage1: nn.Module, channels: int, hole: int):
        super().__init__()
        self.stage1 = stage1
        self.decoder = nn.Sequential(nn.Linear(stage1.num_features, 512), nn.ReLU(), nn.Linear(512, channels * hole * hole))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.stage1.forward_features(patches))


class MaskedPatches:
    """Random crops of ``photos``, preprocessed as ``model`` does, with their centre hidden."""

    def __init__(self, model: HyperImageModel, photos: list[np.ndarray], hole: float):
        self.crops = PhotoCrops(model, photos)
        self.hole = max(1, int(round(hole * self.crops.patch)))

    def draw(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` masked patches ``(n, C, p, p)`` and their hidden centres ``(n, C * h * h)``."""
        patches = self.crops.patches([self.crops.crop(rng) for _ in range(n)])
        c0, h = (self.crops.patch - self.hole) // 2, self.hole
        centre = patches[:, :, c0 : c0 + h, c0 : c0 + h].reshape(n, -1).clone()
        patches[:, :, c0 : c0 + h, c0 : c0 + h] = patches.mean(dim=(0, 2, 3), keepdim=True)
        return patches, centre


@dataclass(frozen=True)
class InpaintArgs:
    """The settings of the ``inpaint`` phase."""

    photos: str | None = None
    """Folder of pristine photos to crop from (e.g. from ``hyperimage photos``); ``None``: the built-in photos."""
    hole: float = 0.5
    """The hidden centre's share of the patch side: half the side, as the paper's central region."""
    patches: int = 4096
    """Masked patches per epoch (new ones each epoch)."""
    val_patches: int = 512
    """Fixed validation patches the stopping error is measured on."""


@register("inpaint", args=InpaintArgs)
def train_inpaint(run: PhaseRun) -> LoopState:
    """Context-encoder pre-training of stage 1's trunk (settings: :class:`InpaintArgs`).

    The validation error is the mean squared error of the reconstructed centres of a fixed
    set of validation patches.
    """
    model, world, args = run.model, run.world, run.args
    source = MaskedPatches(model, pristine_photos(args.photos, model.config.image_mode), args.hole)
    net = Inpainter(model.stage1, model.config.channels, source.hole).to(world.device)
    cfg = replace(run.spec.train, loss="mse")
    per_epoch = args.patches
    val_x, val_y = source.draw(args.val_patches, np.random.default_rng(cfg.seed + 10_000))

    def batches(gen: torch.Generator):
        rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen)))
        for start in range(0, per_epoch, cfg.batch_size):
            x, y = source.draw(min(cfg.batch_size, per_epoch - start), rng)
            yield world.part(x), world.part(y)

    def validate() -> tuple[float, float]:
        pred = torch.cat([net(val_x[i : i + 512].to(world.device)).cpu() for i in range(0, len(val_x), 512)])
        return float(((pred - val_y) ** 2).mean(dim=1).sum()), float(len(val_y))

    return fit(
        net, batches, validate, cfg, run.checkpoint, desc="stage 1 (inpainting)", progress=run.progress, world=world,
        plan=run.plan("stage 1 (context-encoder pre-training)", "masked patches", per_epoch, cfg.batch_size),
    )
