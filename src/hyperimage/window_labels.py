"""Stage-1 training labels for the windows of the patch grid.

The paper trains stage 1 on patches whose labels are "inferred from the image label or
provided as ground truth". A rule maps a batch of images ``(B, C, H, W)`` (the stored
pixels, before any preprocessing), their image targets ``(B,)``
and the grid to window labels ``(B, U, V)`` and sampling weights ``(B, U, V)``: each epoch
stage 1 draws windows of an image in proportion to their weights (0: never used), and its
validation error is weighted the same way.

* ``image`` (Kang et al. 2014): every window inherits its image's label.
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

import torch

from .grid import PatchGrid

Rule = Callable[[torch.Tensor, torch.Tensor, PatchGrid], tuple[torch.Tensor, torch.Tensor]]
_RULES: dict[str, Rule] = {}


def register(name: str) -> Callable[[Rule], Rule]:
    """Decorator: make a window-label rule available under ``name``."""

    def wrap(rule: Rule) -> Rule:
        _RULES[name] = rule
        return rule

    return wrap


def get(name: str) -> Rule:
    """The window-label rule called ``name``."""
    try:
        return _RULES[name]
    except KeyError:
        raise ValueError(f"unknown window-label rule {name!r}; known: {', '.join(sorted(_RULES))}") from None


@register("image")
def image_labels(images: torch.Tensor, targets: torch.Tensor, grid: PatchGrid) -> tuple[torch.Tensor, torch.Tensor]:
    """Kang et al. 2014: every window gets its image's target; all weigh the same."""
    b = images.shape[0]
    labels = targets.view(b, 1, 1).expand(b, *grid.grid).clone()
    return labels, torch.ones_like(labels)


@register("synthetic")
def synthetic_labels(images: torch.Tensor, targets: torch.Tensor, grid: PatchGrid) -> tuple[torch.Tensor, torch.Tensor]:
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
