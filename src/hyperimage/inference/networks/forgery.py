"""Table 4, the three forgery networks: "Forgery channel", "Forgery stage 2", "Forgery end-to-end CNN".

Forgery channel (stage 1): Input(64,64,3)-2xC(64)-MP(2)-2xC(128)-MP(2)-2xC(128)-MP(2)
-2xC(256)-MP(2)-FC(500)-Drop(0.5)-FC(500)-Drop(0.5). It is one of the two weight-sharing
channels of the paper's Siamese ranker (Experiment 2), so ``"forgery-stage1"`` builds a
:class:`~hyperimage.inference.ranking.SiameseRanker` around it: its features (D = 500, ReLU'd, before
the last Drop) are the hyper-image pixels, its ``head`` the ranker's authenticity score.

Forgery stage 2: Input(15,15,500)-3xC(64)-MP(2)-3xC(128)-MP(2)-3xC(256)-MP(2)-FC(800)
-Drop(0.5)-FC(800)-Drop(0.5)-FC(1,'sigmoid'). Unlike the other stage-2 networks of Table 4
(:class:`~hyperimage.inference.networks.layers.GridNet`) its second FC has no tanh; both FC(800) are
ReLU, the activation Table 4 leaves implicit.

Forgery end-to-end CNN (Experiment 1): Input(256,384,3)-C(32)-MP(2)-C(64)-MP(2)-2xC(64)
-MP(2)-2xC(128)-MP(2)-2xC(256)-MP(2)-FC(500)-Drop(0.5)-FC(500)-Drop(0.5)-FC(1,'sigmoid').

Both classifiers output LOGITS ``(B,)``: the final sigmoid of Table 4 is left to the loss
(``binary_cross_entropy_with_logits``, the ``"bce"`` loss of :mod:`hyperimage.training`, which
is exact where sigmoid-then-BCE overflows) and to ``torch.sigmoid`` at prediction time. As the
data sets' labels, a higher output means more likely authentic (1 authentic, 0 tampered).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from hyperimage.inference.networks import register
from hyperimage.inference.networks.layers import conv_stack, flat_size, init_weights
from hyperimage.inference.ranking import SiameseRanker

CHANNEL_SPEC: list[int | str] = [64, 64, "M", 128, 128, "M", 128, 128, "M", 256, 256, "M"]
STAGE2_SPEC: list[int | str] = [64, 64, 64, "M", 128, 128, 128, "M", 256, 256, 256, "M"]
END_TO_END_SPEC: list[int | str] = [32, "M", 64, "M", 64, 64, "M", 128, 128, "M", 256, 256, "M"]


def scaled(spec: list, conv_width: float) -> list:
    """``spec`` with every convolution's filter count multiplied by ``conv_width`` (at least 1).

    ``conv_width`` < 1 gives the thinner networks of a CPU budget: the multiply-adds of a
    convolution scale with the square of the factor (0.25 does 1/16 of the work). A
    ``(n, k, s)`` convolution keeps its kernel and stride.
    """
    if conv_width <= 0:
        raise ValueError(f"conv_width must be positive, got {conv_width}")

    def thin(n: int) -> int:
        return max(1, round(int(n) * conv_width))

    return [item if item == "M" else (thin(item[0]), *item[1:]) if isinstance(item, tuple) else thin(item) for item in spec]


def encoder(
    in_channels: int, size: Sequence[int], spec: list[int | str], width: int, dropout: float
) -> nn.Sequential:
    """Conv stack then FC(width)-Drop-FC(width): inputs ``(N, C, H, W)`` of one ``size`` -> ``(N, width)``.

    Both dense layers are ReLU'd; the dropout after the second belongs to whatever reads the
    features (a head, or the ranker's comparator), so the features themselves are clean.
    """
    smallest = 2 ** spec.count("M")
    if len(size) != 2 or min(size) < smallest:
        raise ValueError(
            f"input size {tuple(size)} vanishes under {spec.count('M')} MP(2) layers; "
            f"the minimum is {smallest}x{smallest}"
        )
    features = conv_stack(in_channels, spec)
    return nn.Sequential(
        features,
        nn.Flatten(),
        nn.Linear(flat_size(features, (in_channels, *size)), width),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(width, width),
        nn.ReLU(inplace=True),
    )


class ConvClassifier(nn.Module):
    """:func:`encoder` then Drop-FC(1): ``(B, C, H, W)`` -> logit ``(B,)``.

    PatchNet's shape for inputs of any (H, W), not only square patches: a hyper-image
    ``(B, D, U, V)`` in stage 2, a whole image in the end-to-end network.
    """

    def __init__(self, in_channels: int, size: Sequence[int], spec: list[int | str], width: int, dropout: float):
        super().__init__()
        self.size = tuple(size)
        self.num_features = width
        self.encoder = encoder(in_channels, self.size, spec, width, dropout)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, 1), nn.Flatten(0))
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ReLU'd penultimate features ``(B, width)``."""
        if tuple(x.shape[2:]) != self.size:
            raise ValueError(f"expected inputs (B, C, {self.size[0]}, {self.size[1]}), got {tuple(x.shape)}")
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> logit ``(B,)``; ``sigmoid`` of it is the probability of "authentic"."""
        return self.head(self.forward_features(x))


class NoiseResidual(nn.Module):
    """Fixed high-pass front end: three SRM residual filters per colour channel, truncated.

    A CNN trained on a few thousand RGB patches learns their content; tampering shows in the
    noise (a spliced or resampled region's noise differs from its host's, an inpainted one has
    almost none). The three 5x5 kernels of the spatial rich model (Fridrich & Kodovsky 2012),
    as the noise stream of RGB-N (Zhou et al. 2018) uses them, are applied to each channel of
    an image in [0, 1]; the residuals, in 8-bit grey levels, are clipped to
    [-``threshold``, ``threshold``] (the truncation of rich-model features, which keeps strong
    edges from dominating) and divided by it. ``(N, C, H, W)`` -> ``(N, 3 C, H, W)``.

    The per-channel filtering is one dense convolution whose weight is block-diagonal (zero
    from every other channel), not a grouped one: the zero terms add exact zeros, so the
    result is the same, and oneDNN's dense kernels ran it ~1.5x faster than the grouped
    convolution on the forgery model's 64-px patches (measured for the fast grid path).

    ``padding=0`` filters only where the 5x5 kernel fits (the output is 4 pixels smaller),
    so a patch's residual is the same as that of the whole image at the patch's place.
    """

    def __init__(self, in_channels: int = 3, threshold: float = 3.0, padding: int = 2):
        super().__init__()
        k1 = torch.zeros(5, 5)
        k1[1:4, 1:4] = torch.tensor([[-1.0, 2, -1], [2, -4, 2], [-1, 2, -1]]) / 4
        k2 = torch.tensor(
            [[-1.0, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]]
        ) / 12
        k3 = torch.zeros(5, 5)
        k3[2, 1:4] = torch.tensor([1.0, -2, 1]) / 2
        kernels = torch.stack([k1, k2, k3]) * 255.0 / threshold
        weight = torch.zeros(3 * in_channels, in_channels, 5, 5)
        for c in range(in_channels):
            weight[3 * c : 3 * c + 3, c] = kernels
        self.register_buffer("weight", weight, persistent=False)  # a constant, not saved
        self.in_channels = in_channels
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight, padding=self.padding).clamp_(-1.0, 1.0)


def behind_residual(in_channels: int, residual: bool, build: Callable[[int], nn.Module]) -> nn.Module:
    """``build(in_channels)``, or with ``residual`` ``build(3 * in_channels)`` behind a :class:`NoiseResidual`."""
    if not residual:
        return build(in_channels)
    return nn.Sequential(NoiseResidual(in_channels), build(3 * in_channels))


@register("forgery-stage1")
def forgery_stage1(
    in_channels: int = 3,
    patch: int = 64,
    width: int = 500,
    hidden: int | None = None,
    dropout: float = 0.5,
    conv_width: float = 1.0,
    residual: bool = False,
) -> SiameseRanker:
    """Table 4 "Forgery channel" on ``patch`` x ``patch`` patches, inside the Siamese ranker; D = ``width``.

    ``conv_width`` scales the convolutions' filter counts (:func:`scaled`; 1 is Table 4).
    ``residual`` puts the fixed :class:`NoiseResidual` front end before the first
    convolution (not in the paper; the ``forgery`` preset's default, see there).
    """
    spec = scaled(CHANNEL_SPEC, conv_width)
    channel = behind_residual(in_channels, residual, lambda c: encoder(c, (patch, patch), spec, width, dropout))
    ranker = SiameseRanker(channel, width, hidden, dropout, input_shape=(in_channels, patch, patch))
    init_weights(ranker)
    return ranker


@register("forgery-stage2")
def forgery_stage2(
    in_features: int = 500, grid: Sequence[int] = (15, 15), width: int = 800, dropout: float = 0.5
) -> ConvClassifier:
    """Table 4 "Forgery stage 2" over a ``(D, U, V)`` hyper-image -> logit ``(B,)``."""
    return ConvClassifier(in_features, grid, STAGE2_SPEC, width, dropout)


@register("forgery-end-to-end")
def forgery_end_to_end(
    in_channels: int = 3,
    size: Sequence[int] = (256, 384),
    width: int = 500,
    dropout: float = 0.5,
    conv_width: float = 1.0,
    residual: bool = False,
) -> nn.Module:
    """Table 4 "Forgery end-to-end CNN" (Experiment 1): images ``(B, 3, 256, 384)`` -> logit ``(B,)``.

    ``conv_width`` scales the convolutions' filter counts (:func:`scaled`; 1 is Table 4);
    ``residual`` puts the :class:`NoiseResidual` front end first, as stage 1 of the
    ``forgery`` preset has it (an ablation: is a gain of the two-stage model the front end's?).
    """
    spec = scaled(END_TO_END_SPEC, conv_width)
    return behind_residual(in_channels, residual, lambda c: ConvClassifier(c, size, spec, width, dropout))
