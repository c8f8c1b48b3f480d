"""Table 4, the two end-to-end NR-IQA networks of Experiment 4 (Table 2), whole image -> score.

Shallow end-to-end network for TID (8 layers, the paper's count, which leaves out the linear
output): Input(384,512,3) - C(32,7,2) - MP(2) - C(64,7,1) - MP(2) - 2x(C(128) - MP(2)) -
2xC(256) - MP(2) - FC(400) - Drop(0.25) - FC(400,tanh) - Drop(0.25) - FC(1,linear).

Deep end-to-end network for TID (14 layers): Input(384,512,3) - C(32) - MP(2) - C(64)
- MP(2) - 2x(C(128) - MP(2)) - 2x(C(256) - C(256) - MP(2)) - 2x(C(512) - C(512) - MP(2)) -
FC(400) - Drop(0.25) - FC(400,tanh) - Drop(0.25) - FC(1,linear).

``C(n, k, s)`` is a k x k convolution of stride s (padded by k // 2), plain ``C(n)`` 3x3 of
stride 1; every convolution and the first FC are ReLU'd. The head is the one of the paper's
IQA stage-2 networks (:class:`~hyperimage.inference.networks.layers.GridNet`, here over an RGB image
instead of a hyper-image). Chandakkar & Li train both from scratch on TID2013's 512x384
images and report them as the worst rows of Table 2: a whole-image CNN needs far more than a
few thousand images.

Input size: the paper's ``(384, 512)`` is the default. Other data sets should keep their
aspect ratio: LIVE In the Wild's 500x500 photos go in at ``(384, 384)`` (the paper's height,
a 0.77x isotropic resize), KonIQ-10k's 1024x768 at ``(384, 512)`` (exactly half). The
shallow network downsamples 64x, the deep one 256x, so inputs must be at least that large.
Outputs are scores ``(B,)``, on the (standardised) scale of the training targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

from hyperimage.inference.networks import register
from hyperimage.inference.networks.forgery import scaled
from hyperimage.inference.networks.layers import GridNet

SHALLOW_SPEC: list = [(32, 7, 2), "M", (64, 7, 1), "M", 128, "M", 128, "M", 256, 256, "M"]
DEEP_SPEC: list = [32, "M", 64, "M", 128, "M", 128, "M", 256, 256, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


def whole_image_net(
    name: str, in_channels: int, size: Sequence[int], spec: list, width: int, dropout: float, conv_width: float
) -> GridNet:
    """A :class:`GridNet` over ``(B, C, H, W)`` images, after checking ``size`` survives the downsampling."""
    size = tuple(int(s) for s in size)
    spec = scaled(spec, conv_width)
    factor = 2 ** spec.count("M") * prod(item[2] for item in spec if isinstance(item, tuple))
    if len(size) != 2 or min(size) < factor:
        raise ValueError(f"{name}: input size {size} vanishes under its {factor}x downsampling; the minimum is {factor}x{factor}")
    return GridNet(in_channels, size, spec, width, dropout)


@register("iqa-shallow-end-to-end")
def iqa_shallow_end_to_end(
    in_channels: int = 3,
    size: Sequence[int] = (384, 512), width: int = 400, dropout: float = 0.25, conv_width: float = 1.0
) -> GridNet:
    """Table 4 "Shallow end-to-end network for TID (Expt 4)": images ``(B, 3, H, W)`` -> score ``(B,)``.

    ``conv_width`` scales the convolutions' filter counts (:func:`~hyperimage.inference.networks.forgery.scaled`;
    1 is Table 4).
    """
    return whole_image_net("iqa-shallow-end-to-end", in_channels, size, SHALLOW_SPEC, width, dropout, conv_width)


@register("iqa-deep-end-to-end")
def iqa_deep_end_to_end(
    in_channels: int = 3,
    size: Sequence[int] = (384, 512), width: int = 400, dropout: float = 0.25, conv_width: float = 1.0
) -> GridNet:
    """Table 4 "Deep end-to-end network for TID (Expt 4)": images ``(B, 3, H, W)`` -> score ``(B,)``."""
    return whole_image_net("iqa-deep-end-to-end", in_channels, size, DEEP_SPEC, width, dropout, conv_width)
