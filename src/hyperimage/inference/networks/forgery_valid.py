"""The forgery stage 1 with unpadded convolutions: every grid patch's features in one pass
over the whole image (the fast path of the forgery model).

Table 4's "Forgery channel" pads each convolution ("same"), so a patch's maps depend on
where its borders are, and the 225 overlapping 64-px patches of the 15 x 15 grid must go
through it one by one: 9.4 times the pixels of a 384 x 256 photo. Here every convolution
is unpadded ("valid", the SRM front end too) and the mean subtracted from the input is one
value per channel, so a patch's maps are windows of the whole image's maps. With three MP(2)
layers, one cell of the last map is one 8-px step of the patch's origin: on a grid aligned
to 8 px (:class:`~hyperimage.inference.grid.PatchGrid` with ``align`` = :attr:`GridRanker.grid_step`,
which :class:`~hyperimage.inference.model.HyperImageModel` sets from the network) the
convolutions run once per image, and the dense layers once per grid patch, on the 2 x 2
cells of the last map it covers.

On 64-px patches: SRM 5 x 5 -> 60, C(64) C(64) -> 56, MP(2) -> 28, C(128) C(128) -> 24,
MP(2) -> 12, C(128) C(128) -> 8, MP(2) -> 4, C(256) -> 2 x 2 x 256, FC(500)-Drop-FC(500):
Table 4's channel less its last C(256) and MP(2), which an unpadded 2 x 2 map cannot hold
(``conv_width`` thins the filters as in :func:`~hyperimage.inference.networks.forgery.scaled`).
The features are the ranker's, as ``forgery-stage1``'s: :class:`GridRanker` is the
:class:`~hyperimage.inference.ranking.SiameseRanker` with the fast path added.
"""

from __future__ import annotations

import torch
from torch import nn

from hyperimage.inference.grid import gather_windows
from hyperimage.inference.hyper_image import chunk_size
from hyperimage.inference.networks import register
from hyperimage.inference.networks.forgery import NoiseResidual, scaled
from hyperimage.inference.networks.layers import conv_stack, init_weights
from hyperimage.inference.ranking import SiameseRanker

VALID_SPEC: list[int | str] = [64, 64, "M", 128, 128, "M", 128, 128, "M", 256]


class ValidChannel(nn.Module):
    """SRM residual and an unpadded conv stack (:attr:`convolutions`), then FC-ReLU-Drop-FC-ReLU
    (:attr:`dense`) over the ``window`` x ``window`` cells of the last map a patch covers.

    ``(N, C, p, p)`` -> ``(N, width)``; :meth:`cells` gives the same for the patches at
    map cells ``rows`` x ``cols`` of a whole image.
    """

    def __init__(self, in_channels: int, patch: int, spec: list[int | str], width: int, dropout: float):
        super().__init__()
        self.convolutions = nn.Sequential(NoiseResidual(in_channels, padding=0), conv_stack(3 * in_channels, spec, same=False))
        self.step = 2 ** spec.count("M")
        with torch.no_grad():
            try:
                last = self.convolutions(torch.zeros(1, in_channels, patch, patch))
            except RuntimeError:
                last = torch.zeros(0, 0, 0, 0)
        if last.numel() == 0 or last.shape[2] != last.shape[3]:
            raise ValueError(f"a {patch}-px patch vanishes in the unpadded stack {spec}; use a larger patch")
        self.window = int(last.shape[2])
        self.dense = nn.Sequential(
            nn.Linear(last[0].numel(), width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.dense(self.convolutions(patches).flatten(1))

    def cells(self, images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Features of the patches whose last-map windows start at cells ``rows`` x ``cols``
        of ``images`` ``(B, C, H, W)``: ``(B, U, V, width)``."""
        maps = self.convolutions(images)
        return self.dense(gather_windows(maps, rows, cols, self.window).flatten(3))


class GridRanker(SiameseRanker):
    """The Siamese ranker over a :class:`ValidChannel`, with the fast path
    (:class:`~hyperimage.inference.networks.GridStage1`): grid origins must lie
    :attr:`grid_step` pixels apart (ValueError otherwise)."""

    def __init__(self, channel: ValidChannel, patch: int, num_features: int, hidden: int | None, dropout: float, in_channels: int):
        super().__init__(channel, num_features, hidden, dropout, input_shape=(in_channels, 1, 1))
        self.patch = patch
        self.grid_step = channel.step

    def grid_features(self, images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Features of the patches at ``rows`` x ``cols`` of ``images`` ``(B, C, H, W)`` -> ``(B, U, V, D)``,
        equal to :meth:`forward_features` on those patches up to float rounding. Images go
        through the convolutions a few at a time (:func:`~hyperimage.inference.hyper_image.chunk_size`
        of the grid's span), channels-last."""
        rows, cols = torch.as_tensor(rows), torch.as_tensor(cols)
        dr, dc = rows - rows[0], cols - cols[0]
        if len(rows) == 0 or len(cols) == 0 or (dr % self.grid_step).any() or (dc % self.grid_step).any() or (dr < 0).any() or (dc < 0).any():
            raise ValueError(
                f"grid origins must start at the first one and lie {self.grid_step} px apart "
                f"(a grid aligned to {self.grid_step}), got rows {rows.tolist()}, cols {cols.tolist()}"
            )
        r0, c0, p = int(rows[0]), int(cols[0]), self.patch
        span = images[:, :, r0 : int(rows.max()) + p, c0 : int(cols.max()) + p]
        if span.shape[2] < int(dr.max()) + p or span.shape[3] < int(dc.max()) + p:
            raise ValueError(f"grid patches run past the {images.shape[3]}x{images.shape[2]} image")
        per = chunk_size(span[0].numel())
        return torch.cat(
            [
                self.channel.cells(
                    (span[i : i + per] - self.input_mean).contiguous(memory_format=torch.channels_last),
                    dr // self.grid_step,
                    dc // self.grid_step,
                )
                for i in range(0, span.shape[0], per)
            ]
        )


@register("forgery-stage1-valid")
def forgery_stage1_valid(
    in_channels: int = 3,
    patch: int = 64,
    width: int = 500,
    hidden: int | None = None,
    dropout: float = 0.5,
    conv_width: float = 1.0,
) -> GridRanker:
    """:class:`GridRanker` over the unpadded "Forgery channel" on ``patch`` x ``patch`` patches; D = ``width``."""
    channel = ValidChannel(in_channels, patch, scaled(VALID_SPEC, conv_width), width, dropout)
    ranker = GridRanker(channel, patch, width, hidden, dropout, in_channels)
    init_weights(ranker)
    return ranker
