"""Where a model sees artefacts: heat maps over the patch grid, drawn over the image.

Two read-outs of the same forward pass:

* ``patch``: the stage-1 score of every grid cell (what each patch alone says). Window
  labels are image scores, so for a regression model this is in the units of the image
  score (e.g. image quality); the forgery ranker's is its decision ``d(C, r)`` between the
  patch and the mean training patch (:mod:`hyperimage.inference.ranking`);
* ``gradient``: for a two-stage model, how much each cell of the hyper-image moves the
  image score (gradient x input of stage 2, summed over the D features; Simonyan et al.
  2014 / Shrikumar et al. 2017), i.e. which patches stage 2 actually relies on, in units
  of the image score.

:func:`cell_values` gives them as the model says them (its units and direction);
:func:`evidence` turns them so that larger means "more damage" (or "more evidence against
the image") whatever the score direction, which is what localisation thresholds. A cell's
value is spread over the pixels of its window, averaging where windows overlap: a map
``(B, 1, H, W)``, NaN outside the grid.

:func:`heat_scale` says how a person reads a map: what the colours show in words, which end
of the colour bar is the bad one, and one fixed range per model and read-out, so that the
maps of every image a model explains share a colour scale and can be compared:

* ``patch`` read-out: the model's score range ``[low, high]`` (scores are clipped to it;
  patch scores beyond it take the end colours), or, where a model declares none, the mean
  +- 3 standard deviations of its stage-1 training labels (``stage1_norm``); for a stage 1
  trained on contour pairs (the forgery ranker) ``+-DELTA``, the Siamese margin the
  ranker was trained to clear: beyond it the ranker is as sure as training asked, and 0
  is undecided;
* ``gradient`` read-out: symmetric about 0, its ends at ``GRADIENT_SHARES`` times a cell's
  even share ``(high - low) / (U V)`` of the score range: the first-order contributions of
  the ``U V`` cells add up to the score's distance from that of an all-zero hyper-image, so
  this unit does not depend on the grid's size.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from hyperimage.inference.model import HyperImageModel
from hyperimage.inference.ranking import DELTA, SiameseRanker

READOUTS = ("patch", "gradient")

#: The ``gradient`` read-out's colour range, in even shares of the score range per cell.
GRADIENT_SHARES = 4.0


def cell_values(model: HyperImageModel, hyper: torch.Tensor, readout: str = "patch") -> torch.Tensor:
    """Per-cell read-out ``(B, U, V)`` from hyper-images ``(B, D, U, V)``, in the model's units and direction."""
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    model.eval()
    if readout == "patch" or model.stage2 is None:
        with torch.no_grad():
            return model.cell_scores(hyper)
    hyper = hyper.detach().requires_grad_(True)
    model.aggregate(hyper).sum().backward()
    return (hyper.grad * hyper).sum(dim=1).detach()


def evidence(model: HyperImageModel, hyper: torch.Tensor, readout: str = "patch") -> torch.Tensor:
    """Per-cell damage evidence ``(B, U, V)`` (larger = worse) from hyper-images ``(B, D, U, V)``."""
    sign = -1.0 if model.config.score.higher_is_better else 1.0
    return sign * cell_values(model, hyper, readout)


def cell_map(model: HyperImageModel, images: torch.Tensor, readout: str = "patch") -> torch.Tensor:
    """Per-cell damage evidence ``(B, U, V)`` for images ``(B, C, H, W)`` of one size."""
    model.eval()
    with torch.no_grad():
        hyper = model.hyper_image(images)
    return evidence(model, hyper, readout)


def to_pixels(model: HyperImageModel, cells: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Spread cell values ``(B, U, V)`` over their windows: ``(B, 1, H, W)`` on their device,
    each pixel the mean over the windows that cover it, NaN where none does.

    A window is the outer product of a row and a column interval, so the sums are two
    matrix products with the 0/1 cover matrices ``R (U, H)`` and ``C (V, W)``: ``R^T X C``,
    for any origins (Eq. 2's even ones or an aligned grid's).
    """
    rows, cols = model.grid.origins(height, width)
    p = model.grid.patch
    cover_rows = cover(rows, p, height, cells.dtype).to(cells.device)
    cover_cols = cover(cols, p, width, cells.dtype).to(cells.device)
    total = torch.einsum("uy,buv,vx->byx", cover_rows, cells, cover_cols)
    count = cover_rows.sum(0)[:, None] * cover_cols.sum(0)[None, :]
    return torch.where(count > 0, total / count.clamp(min=1), float("nan")).unsqueeze(1)


def cover(origins: np.ndarray, patch: int, size: int, dtype: torch.dtype) -> torch.Tensor:
    """``(len(origins), size)``: 1 where pixel ``x`` lies in the window ``[origin, origin + patch)``."""
    x = torch.arange(size)
    start = torch.as_tensor(origins)[:, None]
    return ((x >= start) & (x < start + patch)).to(dtype)


def heat_map(model: HyperImageModel, images: torch.Tensor, readout: str = "patch") -> torch.Tensor:
    """Damage heat map ``(B, 1, H, W)`` (larger = worse) of images ``(B, C, H, W)``."""
    return to_pixels(model, cell_map(model, images, readout), images.shape[2], images.shape[3])


@dataclass(frozen=True)
class HeatScale:
    """How to read the :func:`cell_values` of one model and read-out.

    ``label`` says what a value is, in which units; ``low`` / ``high`` is the fixed colour
    range; ``worse`` / ``better`` are the words for the bad and the good end, and
    ``worse_is_low`` tells which end of the range is the bad one (then the colour bar is
    drawn upside down, so that the bad end is always at the top); ``cmap`` is a matplotlib
    colour map whose bright (sequential) or red (diverging) end is the bad one.
    """

    label: str
    low: float
    high: float
    worse: str
    better: str
    worse_is_low: bool
    cmap: str


def _score_range(model: HyperImageModel) -> tuple[float, float]:
    """The score range (:attr:`HyperImageModel.score_range`), else the stage-1 training labels'
    mean +- 3 standard deviations."""
    low, high = model.score_range
    if low is not None and high is not None:
        return float(low), float(high)
    shift, scale = model.fitted.stage1_norm
    return float(shift - 3 * scale), float(shift + 3 * scale)


def heat_scale(model: HyperImageModel, readout: str = "patch") -> HeatScale:
    """The fixed colour scale and the words of ``model``'s heat maps (see the module docstring)."""
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    config = model.config
    worse_is_low = config.score.higher_is_better
    worse, better = model.task.worse, model.task.better
    low, high = _score_range(model)
    if readout == "gradient" and model.stage2 is not None:
        u, v = config.grid
        end = GRADIENT_SHARES * (high - low) / (u * v)
        label = f"each patch's pull on the {config.score.name} (gradient × input)"
        return HeatScale(label, -end, end, worse, better, worse_is_low, "coolwarm_r" if worse_is_low else "coolwarm")
    if isinstance(model.stage1, SiameseRanker):
        label = f"each patch's ranker decision d(C, r); 0 undecided, ±{DELTA:g} the training margin"
        return HeatScale(label, -DELTA, DELTA, worse, better, worse_is_low, "coolwarm_r" if worse_is_low else "coolwarm")
    label = f"each patch's {config.score.name} (stage-1 score)"
    return HeatScale(label, low, high, worse, better, worse_is_low, "inferno_r" if worse_is_low else "inferno")


@dataclass(frozen=True, eq=False)
class Panel:
    """One map to draw: ``heat`` ``(H, W)`` over ``image`` (``(H, W)`` or ``(H, W, 3)`` in
    [0, 1], the same size) on ``scale``, under ``title`` (e.g. an evidence channel's legend)."""

    title: str
    image: np.ndarray
    heat: np.ndarray
    scale: HeatScale


def _draw(fig, ax, panel: Panel, width: int) -> None:
    """``panel`` on ``ax`` of ``fig``: the image, the heat over it, its colour bar with the
    scale's label, the bad end on top with ``scale.worse`` above it and ``scale.better``
    below, values beyond the range in the end colours (the bar's arrows); the title wrapped
    at ``width`` characters."""
    scale = panel.scale
    ax.imshow(panel.image, cmap="gray" if panel.image.ndim == 2 else None, vmin=0, vmax=1)
    shown = ax.imshow(np.ma.masked_invalid(panel.heat), cmap=scale.cmap, vmin=scale.low, vmax=scale.high, alpha=0.55)
    bar = fig.colorbar(shown, ax=ax, fraction=0.035, pad=0.02, extend="both")
    bar.set_label("\n".join(textwrap.wrap(scale.label, 44)), fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if scale.worse_is_low:
        bar.ax.invert_yaxis()
    for y, words, va in ((1.06, scale.worse, "bottom"), (-0.06, scale.better, "top")):
        bar.ax.text(0.5, y, textwrap.fill(words, 12), transform=bar.ax.transAxes, ha="center", va=va, fontsize=7.5)
    ax.set_title("\n".join(textwrap.fill(line, width) for line in panel.title.splitlines()), fontsize=9)
    ax.axis("off")


def _pixels(fig) -> Image.Image:
    """``fig`` drawn on matplotlib's Agg canvas, as an RGB Pillow image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    fig.tight_layout()
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")


def render_overlay(image: np.ndarray, heat: np.ndarray, scale: HeatScale, title: str = "") -> Image.Image:
    """Draw ``heat`` (H, W) over ``image`` ((H, W) or (H, W, 3) in [0, 1]) on ``scale``: an RGB Pillow image.

    The colour bar carries ``scale.label``, its bad end on top with ``scale.worse`` above it
    and ``scale.better`` below; values beyond the range take the end colours (the bar's
    arrows). Uses matplotlib's object API and its Agg canvas, not pyplot, so that threads
    may draw at once.
    """
    from matplotlib.figure import Figure

    h, w = heat.shape
    fig = Figure(figsize=(6.6, 6.0 * h / w + 0.6), dpi=100)
    _draw(fig, fig.subplots(), Panel(title, image, heat, scale), 84)
    return _pixels(fig)


#: Panels in a row of :func:`panel_figure`.
PANELS_PER_ROW = 3


def panel_figure(panels: Sequence[Panel], title: str = ""):
    """A matplotlib figure of ``panels``, :data:`PANELS_PER_ROW` to a row, each as
    :func:`render_overlay` draws one (an axes and its colour bar each), under ``title``."""
    from matplotlib.figure import Figure

    if not panels:
        raise ValueError("no panel to draw")
    columns = min(PANELS_PER_ROW, len(panels))
    rows = -(-len(panels) // columns)
    h, w = panels[0].heat.shape
    fig = Figure(figsize=(4.8 * columns, (4.2 * h / w + 1.2) * rows + (0.4 if title else 0.0)), dpi=100)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, panel in zip(axes, panels):
        _draw(fig, ax, panel, 56)
    for ax in axes[len(panels):]:
        fig.delaxes(ax)
    if title:
        fig.suptitle("\n".join(textwrap.fill(line, 40 * columns) for line in title.splitlines()), fontsize=10)
    return fig


def render_panels(panels: Sequence[Panel], title: str = "") -> Image.Image:
    """:func:`panel_figure` drawn as an RGB Pillow image (threads may draw at once, as for :func:`render_overlay`)."""
    return _pixels(panel_figure(panels, title))


def save_png(path: str | Path, picture: Image.Image) -> Path:
    """Write ``picture`` as a PNG at ``path`` (its folder made where missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, format="PNG")
    return path


def save_overlay(path: str | Path, image: np.ndarray, heat: np.ndarray, scale: HeatScale, title: str = "") -> Path:
    """Save :func:`render_overlay`'s drawing of ``heat`` over ``image`` as a PNG at ``path``."""
    return save_png(path, render_overlay(image, heat, scale, title))


def save_panels(path: str | Path, panels: Sequence[Panel], title: str = "") -> Path:
    """Save :func:`render_panels`' drawing of ``panels`` as a PNG at ``path``."""
    return save_png(path, render_panels(panels, title))


def save_grid(path: str | Path, cells: np.ndarray, scale: HeatScale) -> tuple[Path, Path]:
    """Save a ``(U, V)`` grid of cell values beside ``path`` as ``.npy`` and ``.csv`` (rows top to bottom).

    The CSV's first line, a ``#`` comment (``numpy.loadtxt`` skips it), says what the values are.
    """
    path = Path(path)
    npy, csv = path.with_suffix(".npy"), path.with_suffix(".csv")
    np.save(npy, np.asarray(cells, dtype=np.float32))
    np.savetxt(csv, cells, delimiter=",", fmt="%.6g", header=f"{scale.label}; {scale.worse} towards {scale.low if scale.worse_is_low else scale.high:.4g}")
    return npy, csv
