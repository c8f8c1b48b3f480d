"""Where a model sees artefacts: heat maps over the patch grid, drawn over the image.

Two read-outs of the same forward pass:

* ``patch``: the stage-1 score of every grid cell (what each patch alone says);
* ``gradient``: for a two-stage model, how much each cell of the hyper-image moves the
  image score (gradient x input of stage 2, summed over the D features; Simonyan et al.
  2014 / Shrikumar et al. 2017), i.e. which patches stage 2 actually relies on.

Both are oriented so that larger means "more damage" (or "more evidence against the
image"), whatever the model's score direction. A cell's value is spread over the pixels of
its window, averaging where windows overlap: a map ``(B, 1, H, W)``, NaN outside the grid.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .model import HyperImageModel

READOUTS = ("patch", "gradient")


def cell_map(model: HyperImageModel, images: torch.Tensor, readout: str = "patch") -> torch.Tensor:
    """Per-cell damage evidence ``(B, U, V)`` for images ``(B, C, H, W)`` of one size."""
    model.eval()
    with torch.no_grad():
        hyper = model.hyper_image(images)
    return evidence(model, hyper, readout)


def evidence(model: HyperImageModel, hyper: torch.Tensor, readout: str = "patch") -> torch.Tensor:
    """Per-cell damage evidence ``(B, U, V)`` from hyper-images ``(B, D, U, V)`` already computed."""
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    model.eval()
    sign = -1.0 if model.config.score.higher_is_better else 1.0
    if readout == "patch" or model.stage2 is None:
        with torch.no_grad():
            return sign * model.cell_scores(hyper)
    hyper = hyper.detach().requires_grad_(True)
    model.aggregate(hyper).sum().backward()
    return sign * (hyper.grad * hyper).sum(dim=1).detach()


def to_pixels(model: HyperImageModel, cells: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Spread cell values ``(B, U, V)`` over their windows: ``(B, 1, H, W)``, NaN where no window."""
    rows, cols = model.grid.origins(height, width)
    sy, sx = model.grid.strides(height, width)
    p = model.grid.patch
    u, v = model.grid.grid
    span = (int(rows[-1]) + p - int(rows[0]), int(cols[-1]) + p - int(cols[0]))
    stride = (max(sy, 1), max(sx, 1))
    values = cells.reshape(cells.shape[0], 1, u * v).expand(-1, p * p, -1)
    total = F.fold(values, span, kernel_size=p, stride=stride)
    count = F.fold(torch.ones_like(values), span, kernel_size=p, stride=stride)
    out = torch.full((cells.shape[0], 1, height, width), float("nan"))
    out[:, :, rows[0] : rows[0] + span[0], cols[0] : cols[0] + span[1]] = total / count
    return out


def heat_map(model: HyperImageModel, images: torch.Tensor, readout: str = "patch") -> torch.Tensor:
    """Damage heat map ``(B, 1, H, W)`` of images ``(B, C, H, W)``."""
    return to_pixels(model, cell_map(model, images, readout), images.shape[2], images.shape[3])


def save_overlay(
    path: str | Path, image: np.ndarray, heat: np.ndarray, title: str = "", label: str = "damage evidence"
) -> Path:
    """Draw ``heat`` (H, W) over ``image`` ((H, W) or (H, W, 3) in [0, 1]) and save a PNG; ``label`` names the colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = heat.shape
    fig, ax = plt.subplots(figsize=(6.0, 6.0 * h / w + 0.4), dpi=100)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    shown = ax.imshow(np.ma.masked_invalid(heat), cmap="inferno", alpha=0.55)
    fig.colorbar(shown, ax=ax, fraction=0.035, pad=0.02, label=label)
    ax.set_title("\n".join(textwrap.fill(line, 72) for line in title.splitlines()), fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
