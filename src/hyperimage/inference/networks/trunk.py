"""A stage 1 over a pre-trained trunk (Table 2, experiment 5), whatever the trunk.

A trunk (:class:`Trunk`) names its outputs ("taps": a block's output, each with its channels
and stride in pixels per cell) and computes their maps over whole images. Run over a whole
image, those maps are already grids of patch features, one cell per ``stride`` x ``stride``
block, each seeing its whole receptive field: :class:`ImageNetStage1` reads them at the
patch centres (:func:`sample_at`) and puts FC(800) + FC(800) + an output node on top, as
experiment 5 does. Trunks: EfficientNet-Lite0 (:mod:`.efficientnet_lite`, ImageNet weights
shipped) and VGG-16 (:mod:`.vgg`, the paper's own, weights a user supplies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hyperimage.storage import load_tensors


class Trunk(Protocol):
    """A pre-trained network seen through its outputs: ``tap_channels[i]`` channels at
    ``tap_strides[i]`` pixels per cell for output ``i`` (``tap_index(name)``)."""

    tap_channels: Sequence[int]
    tap_strides: Sequence[int]

    def tap_index(self, name: str) -> int: ...

    def feature_maps(self, images: torch.Tensor, taps: Sequence[int]) -> list[torch.Tensor]: ...

    def folded(self) -> "Trunk":
        """The trunk as a frozen one computes: e.g. its batch norms folded into its convolutions
        (itself where there is nothing to fold)."""
        ...


def load_trunk_weights(trunk: nn.Module, path: str | Path, what: str) -> None:
    """Load a safetensors file into ``trunk``: every tensor the trunk has, of its shape (other
    tensors of the file, e.g. a classifier, are ignored).

    Raises ValueError, one line naming the file: not a safetensors file, or a tensor missing
    or of another shape (weights of another network).
    """
    tensors, _ = load_tensors(path, kind=f"{what} weights file")
    for name, own in trunk.state_dict().items():
        if name not in tensors:
            raise ValueError(f"{path}: not {what} weights (no tensor {name!r})")
        if tensors[name].shape != own.shape:
            raise ValueError(f"{path}: not {what} weights (tensor {name!r} has shape {list(tensors[name].shape)}, needs {list(own.shape)})")
    trunk.load_state_dict({k: tensors[k] for k in trunk.state_dict()})


def sample_at(maps: torch.Tensor, stride: int, rows: torch.Tensor, cols: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, K, h, w)`` maps of ``stride`` px per cell, read bilinearly at the centres of the
    ``patch``-px patches at ``rows`` x ``cols``: ``(B, U, V, K)``.

    Cell ``i`` is centred at pixel ``stride * i + (stride - 1) / 2`` (TensorFlow's padding puts
    no pixels in front); positions beyond the outer cells are clamped to them.
    """
    where = []
    for origins, cells in ((cols, maps.shape[3]), (rows, maps.shape[2])):
        centres = torch.as_tensor(origins, dtype=torch.float32) + (patch - 1) / 2
        pos = ((centres - (stride - 1) / 2) / stride).clamp(0, cells - 1)
        where.append(2 * pos / max(cells - 1, 1) - 1)
    gy, gx = torch.meshgrid(where[1], where[0], indexing="ij")
    grid = torch.stack([gx, gy], dim=-1).to(maps)[None].expand(maps.shape[0], -1, -1, -1)
    return F.grid_sample(maps, grid, mode="bilinear", align_corners=True).permute(0, 2, 3, 1)


class ImageNetStage1(nn.Module):
    """Experiment 5's stage 1: an ImageNet trunk, FC(D)+ReLU, FC(D)+ReLU, then the output node.

    The trunk values of a cell are the maps of the trunk outputs ``taps`` (named by the trunk,
    e.g. ``"block14"``) read at the cell, concatenated and standardised per channel with the
    training cells' statistics (``cell_mean`` / ``cell_std``, set by :meth:`fit_input_norm`).

    Parameters
    ----------
    trunk : the pre-trained network (:class:`Trunk`), with its weights.
    in_channels, patch : must be 3 (an RGB trunk) and the grid's patch side (for the per-patch path).
    width : D (800, as experiment 5).
    dropout : rate of the dropout in front of the output node (as :class:`~.kang.KangNet`).
    freeze : keep the trunk's ImageNet weights and batch statistics fixed (only the dense
        layers train); ``False`` fine-tunes it too.
    taps : the trunk outputs each cell reads.
    """

    def __init__(
        self, trunk: Trunk, in_channels: int = 3, patch: int = 32, width: int = 800, dropout: float = 0.5,
        freeze: bool = True, taps: Sequence[str] = ("head",),
    ):
        super().__init__()
        if in_channels != 3:
            raise ValueError(f"the ImageNet trunk reads RGB images, got {in_channels} channel(s)")
        self.taps = [trunk.tap_index(t) for t in taps]
        if not self.taps or self.taps != sorted(set(self.taps)):
            raise ValueError(f"taps must be distinct trunk outputs, from the input up, got {list(taps)}")
        self.patch, self.in_channels, self.num_features, self.frozen = patch, in_channels, width, freeze
        self.trunk_depth = sum(trunk.tap_channels[t] for t in self.taps)
        self.trunk = trunk.to(memory_format=torch.channels_last)
        self.trunk.requires_grad_(not freeze)
        self.register_buffer("cell_mean", torch.zeros(self.trunk_depth))
        self.register_buffer("cell_std", torch.ones(self.trunk_depth))
        self.dense = nn.Sequential(
            nn.Linear(self.trunk_depth, width), nn.ReLU(inplace=True), nn.Linear(width, width), nn.ReLU(inplace=True)
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, 1), nn.Flatten(0))

    def train(self, mode: bool = True) -> "ImageNetStage1":
        """As :meth:`nn.Module.train`, except that a frozen trunk stays in eval mode (its ImageNet batch statistics)."""
        super().train(mode)
        if self.frozen:
            self.trunk.eval()
        return self

    def _maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        images = images.contiguous(memory_format=torch.channels_last)
        if self.frozen:
            with torch.no_grad():
                return self._frozen_trunk().feature_maps(images, self.taps)
        return self.trunk.feature_maps(images, self.taps)

    def _frozen_trunk(self) -> Trunk:
        """:meth:`Trunk.folded` of the trunk, made again whenever a weight of the trunk changed
        (a load writes into them, a move to a device replaces them). Kept outside the module's
        children, so neither saved nor moved."""
        key = tuple((t.data_ptr(), t._version) for t in self.trunk.state_dict().values())
        if self.__dict__.get("_folded_key") != key:
            self.__dict__["_folded"], self.__dict__["_folded_key"] = self.trunk.folded(), key
        return self.__dict__["_folded"]

    def fit_input_norm(self, cells: torch.Tensor) -> None:
        """Standardise trunk values with the per-channel mean and deviation of ``cells`` ``(N, trunk_depth)``.

        A deviation is at least a tenth of the median channel's: a ReLU6 channel that stays at
        0 on the training cells must not turn a small value on a new photo into a huge input.
        """
        std = cells.std(dim=0)
        self.cell_mean.copy_(cells.mean(dim=0))
        self.cell_std.copy_(std.clamp_min(0.1 * float(std.median()) + 1e-6))

    def forward_features(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, 3, p, p)`` -> ``(N, D)``: each patch alone through the trunk, its maps averaged."""
        return self.from_trunk(torch.cat([m.mean(dim=(2, 3)) for m in self._maps(patches)], dim=1))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(patches))

    def trunk_grid(self, images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, U, V, trunk_depth)``: the whole image's tap maps read at each patch's centre (:func:`sample_at`).

        One image at a time: on CPU the trunk runs 1.8x faster per image on one 500 x 500
        image than on a batch of 8 (their maps overflow the caches).
        """
        return torch.cat([
            torch.cat([sample_at(m, self.trunk.tap_strides[t], rows, cols, self.patch) for m, t in zip(self._maps(one), self.taps)], dim=-1)
            for one in images.split(1)
        ])

    def from_trunk(self, cells: torch.Tensor) -> torch.Tensor:
        """Trunk values ``(..., trunk_depth)`` -> hyper-image pixels ``(..., D)``: standardised, then the two FC layers."""
        return self.dense((cells - self.cell_mean) / self.cell_std)

    def grid_features(self, images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, U, V, D)``: one trunk pass over each whole image, not one per patch."""
        return self.from_trunk(self.trunk_grid(images, rows, cols))
