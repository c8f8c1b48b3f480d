"""VGG-16 as a trunk (Table 2, experiment 5 exactly as the paper ran it), weights a user supplies.

VGG-16 (Simonyan and Zisserman 2015): 13 3x3 convolutions with ReLU in five blocks, each
closed by a 2x2 max-pool. The tensors are named as in torchvision's ``vgg16`` (``features.0``
... ``features.28``), so its ImageNet weights, converted once to safetensors by whoever has
them (``safetensors.torch.save_file(torchvision.models.vgg16(weights=...).state_dict(), F)``),
load as they are: the ``load-weights`` training phase reads such a file into the trunk.
None ship with hyperimage and none are downloaded; without a file the trunk is random. Its
inputs are RGB standardised with the ImageNet mean and deviation (preprocessing
``"imagenet"``).

Outputs (taps): ``"conv1_2"`` ... ``"conv5_3"`` (after their ReLU; strides 1, 2, 4, 8, 16)
and ``"pool5"`` (stride 32).

References
----------
K. Simonyan, A. Zisserman, "Very deep convolutional networks for large-scale image
recognition", ICLR 2015.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from hyperimage.inference.networks import register
from hyperimage.inference.networks.trunk import ImageNetStage1

#: Output channels of the convolutions of each block.
BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def _taps() -> tuple[list[str], list[int], list[int], list[int]]:
    """Names, channels and strides of the taps, and the index in ``features`` after which each is read."""
    names, channels, strides, ends, k = [], [], [], [], 0
    for b, widths in enumerate(BLOCKS):
        for c, width in enumerate(widths):
            k += 2  # conv, ReLU
            names.append(f"conv{b + 1}_{c + 1}")
            channels.append(width)
            strides.append(2**b)
            ends.append(k)
        k += 1  # max-pool
    return names + ["pool5"], channels + [512], strides + [32], ends + [k]


TAP_NAMES, TAP_CHANNELS, TAP_STRIDES, TAP_ENDS = _taps()
DEFAULT_TAPS = ("conv4_3", "conv5_3")


class VGG16(nn.Module):
    """VGG-16's convolutional part in torchvision's naming (``features.N``)."""

    tap_channels, tap_strides = TAP_CHANNELS, TAP_STRIDES

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for widths in BLOCKS:
            for width in widths:
                layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True)]
                c = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)

    @staticmethod
    def tap_index(name: str) -> int:
        """``"conv4_3"`` -> its index among :data:`TAP_NAMES`."""
        if name not in TAP_NAMES:
            raise ValueError(f"unknown trunk output {name!r}: one of {', '.join(TAP_NAMES)}")
        return TAP_NAMES.index(name)

    def feature_maps(self, images: torch.Tensor, taps: Sequence[int]) -> list[torch.Tensor]:
        """The maps of outputs ``taps`` (indices of :data:`TAP_NAMES`), in order; later layers are not run."""
        x, maps, done = images, [], 0
        for t in taps:
            x = self.features[done : TAP_ENDS[t]](x)
            done = TAP_ENDS[t]
            maps.append(x)
        return maps

    def folded(self) -> "VGG16":
        """Itself: VGG-16 has no batch norm to fold."""
        return self


@register("vgg16-stage1")
def vgg16_stage1(
    in_channels: int = 3, patch: int = 32, width: int = 800, dropout: float = 0.5, freeze: bool = True,
    taps: Sequence[str] = DEFAULT_TAPS,
) -> ImageNetStage1:
    """Experiment 5 as the paper ran it: a VGG-16 trunk (its weights from the ``load-weights``
    phase; frozen by default) + FC(800) x 2, each cell reading conv4_3 and conv5_3."""
    return ImageNetStage1(VGG16(), in_channels, patch, width, dropout, freeze, taps)
