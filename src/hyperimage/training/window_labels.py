"""Stage-1 training labels for the windows of the patch grid.

The paper trains stage 1 on patches whose labels are "inferred from the image label or
provided as ground truth". A rule maps a batch of images ``(B, C, H, W)`` (the stored
pixels, before any preprocessing), their image targets ``(B,)``, the grid and, where
known, the pristine references ``(B, C, H, W)`` to window labels ``(B, U, V)`` and
sampling weights ``(B, U, V)``: each epoch stage 1 draws windows in proportion to their
weights (0: never used), and its validation error is weighted the same way. Extra keyword
arguments come from the model config's ``window_label_args``.

* ``image`` (Kang et al. 2014): every window inherits its image's label.
* ``selective``: selective patch training (section "Data generation"): every window gets
  its image's label, but a distorted image keeps only the windows whose mean SSIM
  (Wang et al. 2004, scikit-image) against the same window of its reference is below
  ``threshold``; a pristine image (no reference, or its own reference) keeps all windows.
  The training set is then balanced so that pristine and distorted windows carry equal
  total weight (the paper makes their counts equal).
* ``synthetic``: the synthetic task's own definition, read from the pixels. The background
  s0 is the most frequent value of the image; a window's label is
  ``5 - sum_{x in window, I(x) != s0} |s0 - I(x)| / 256``, i.e. Eq. 3's dissimilarity term
  of every patch, weighted by the share of the patch inside the window. A window holding
  one whole patch gets ``5 - (first term of alpha_i)``; an empty one gets 5. The position
  term is left out on purpose: a window does not see where it is, so position is stage 2's
  job. Only the task definition is used, so any generator's folder can be labelled.
  Windows holding artefact pixels and clean windows get half the sampling weight each:
  most windows are clean, and under a mean-absolute-error loss a patch network trained on
  them uniformly learns to predict "clean" everywhere (the median).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from skimage.metrics import structural_similarity

from hyperimage.inference.grid import PatchGrid
from hyperimage.registry import Registry

Rule = Callable[..., tuple[torch.Tensor, torch.Tensor]]
RULES: Registry[Rule] = Registry("window-label rule")
register = RULES.register
get = RULES.get


@register("image")
def image_labels(
    images: torch.Tensor, targets: torch.Tensor, grid: PatchGrid, references: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Kang et al. 2014: every window gets its image's target; all weigh the same."""
    b = images.shape[0]
    labels = targets.view(b, 1, 1).expand(b, *grid.grid).clone()
    return labels, torch.ones_like(labels)


@register("selective")
def selective_labels(
    images: torch.Tensor,
    targets: torch.Tensor,
    grid: PatchGrid,
    references: torch.Tensor | None = None,
    threshold: float = 0.9,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Selective patch training: the image label on the low-SSIM windows of distorted images."""
    labels, weights = image_labels(images, targets, grid)
    if references is None:
        return labels, weights
    ssim = torch.stack([torch.from_numpy(_ssim_map(img, ref)) for img, ref in zip(images, references)])[:, None]
    window_ssim = grid.window_sums(ssim) / grid.patch**2
    return labels, (window_ssim < threshold).float()


selective_labels.balance_references = True  # type: ignore[attr-defined]
selective_labels.uses_reference = True  # type: ignore[attr-defined]


def _ssim_map(image: torch.Tensor, reference: torch.Tensor) -> np.ndarray:
    """Per-pixel SSIM of two ``(C, H, W)`` images in [0, 1], on their luminance (mean of channels)."""
    a = image.mean(dim=0).double().numpy()
    b = reference.mean(dim=0).double().numpy()
    _, full = structural_similarity(b, a, data_range=1.0, full=True)
    return full.astype(np.float32)


@register("synthetic")
def synthetic_labels(
    images: torch.Tensor, targets: torch.Tensor, grid: PatchGrid, references: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic task: 5 minus Eq. 3's dissimilarity mass inside each window (module docstring)."""
    gray = images.mean(dim=1, keepdim=True)
    levels = torch.round(gray * 65535).long().flatten(1)
    background = torch.mode(levels, dim=1).values.view(-1, 1, 1, 1).float() / 65535
    quantised = levels.view_as(gray).float() / 65535
    dissimilarity = (quantised - background).abs() / 256.0  # per pixel, zero on the background
    mass = grid.window_sums(dissimilarity)
    return 5.0 - mass, balanced_weights(mass > 0)


def balanced_weights(flagged: torch.Tensor) -> torch.Tensor:
    """Per image, half the weight on flagged windows and half on the others ``(B, U, V)``.

    If an image has windows of only one kind, they share all the weight.
    """
    flat = flagged.flatten(1).float()
    n_flag = flat.sum(dim=1, keepdim=True)
    n_rest = flat.shape[1] - n_flag
    both = (n_flag > 0) & (n_rest > 0)
    w_flag = torch.where(both, 0.5, 1.0) / n_flag.clamp(min=1)
    w_rest = torch.where(both, 0.5, 1.0) / n_rest.clamp(min=1)
    return torch.where(flat > 0, w_flag, w_rest).view_as(flagged)
