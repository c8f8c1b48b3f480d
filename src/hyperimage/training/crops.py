"""Patches cut from pristine photos for the label-free pre-training phases (ranking,
inpainting): a crop with context around the patch, preprocessed as the model preprocesses
its images, so the patch sees the neighbourhood it would see at test time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hyperimage.data.io import ImageError, load_image, walk_images
from hyperimage.data.photos import builtin_photos
from hyperimage.inference.model import HyperImageModel

#: Context around the patch that a distortion and the preprocessing see (LCN's 7 x 7
#: window, blur kernels), on each side, as a share of the patch.
CONTEXT = 0.5


def pristine_photos(folder: str | Path | None, mode: str) -> list[np.ndarray]:
    """The pristine photos to cut from: every readable image in ``folder`` (e.g. from
    ``hyperimage photos --debian``), or the built-in ones; unreadable files are skipped."""
    if folder is None:
        photos = [img for _, img in builtin_photos()]
        return [img.mean(axis=2) if mode == "L" else img for img in photos]
    if not Path(folder).is_dir():
        raise ValueError(f"{folder}: no such folder of photos; make one with `hyperimage photos {folder} --debian`")
    found = []
    for path in walk_images(Path(folder)):
        try:
            found.append(load_image(path, mode=mode))
        except ImageError:
            continue
    if not found:
        raise ValueError(f"{folder}: no readable photos to cut training patches from")
    return found


class PhotoCrops:
    """Random crops of ``photos`` for ``model``'s patches, and their preprocessed centre patches."""

    def __init__(self, model: HyperImageModel, photos: list[np.ndarray]):
        self.model, self.photos = model, photos
        self.patch = model.config.patch
        self.size = self.patch + 2 * int(round(CONTEXT * self.patch))
        if min(min(p.shape[:2]) for p in photos) < self.size:
            raise ValueError(f"training patches need photos of at least {self.size} x {self.size} px")

    def crop(self, rng: np.random.Generator) -> np.ndarray:
        """One random ``size`` x ``size`` crop of a random photo, ``(H, W[, C])`` in [0, 1]."""
        photo = self.photos[rng.integers(len(self.photos))]
        top = rng.integers(photo.shape[0] - self.size + 1)
        left = rng.integers(photo.shape[1] - self.size + 1)
        return photo[top : top + self.size, left : left + self.size]

    def patches(self, crops: list[np.ndarray]) -> torch.Tensor:
        """Crops -> preprocessed centre patches ``(N, C, p, p)``."""
        x = torch.from_numpy(np.stack(crops).astype(np.float32))
        x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
        with torch.no_grad():
            x = self.model.preprocess(x)
        off = (self.size - self.patch) // 2
        return x[:, :, off : off + self.patch, off : off + self.patch].contiguous()
