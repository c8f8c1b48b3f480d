"""Kang et al. 2014 patch network, the LIVE/TID stage 1 of Table 5, with a fast grid path.

Table 5: Input 32x32xC (C = 3 for TID, 1 for LIVE) - Conv1 50@7x7 (valid, 26x26 maps) -
MinPool and MaxPool over the whole 26x26 map - Concat(MinPool, MaxPool) (100 values) -
FC1 800 - FC2 800 - output node (linear), trained with the mean absolute error. As in
Kang et al. the convolution has no non-linearity (min and max pooling take its place) and
the two dense layers are ReLU layers; the ReLU'd FC2 output is the hyper-image pixel
(D = 800).

Dropout: Kang et al. drop units of the second fully connected layer only (dropout on every
layer slowed convergence). The default rate is 0.5, the rate of every Drop(.) in Table 4
(not checked against Kang et al.'s text). Dropping FC2's units is a dropout in front of the output node,
so it lives in :attr:`KangNet.head` and the hyper-image features never see it.

Initialisation: Glorot-uniform weights and zero biases (Keras's default, the library the
paper's recipe comes from), not the He-normal of the deeper Table 4 networks: this
convolution has no ReLU and min/max pooling picks its ~3-sigma extremes, so under He-normal
the dense layers start at a scale of ~5 and the first SGD step at the paper's rate 0.005
blows the MAE up a hundredfold (measured on small noise-regression batches); Glorot starts
near unit scale and trains smoothly at that rate.

Fast path (:meth:`KangNet.grid_features`): a grid patch's 7x7 convolution is a window of
the convolution of the whole image, and its global min/max pooling is a 26x26 window
min/max of that map. The map is computed once per image, in horizontal bands to bound
memory, channels-last; each band is reduced separably, first over the row windows, then
over the column windows. Evenly spaced windows that overlap (26 wide at stride 16) share
the work: the map is cut into stride-long blocks, each reduced once, and a window combines
its blocks (:func:`window_extreme`); other origins reduce strided views or gathers of the
windows. The dense layers then run on the (B, U, V, 100) pooled values of all patches at
once, the equivalent of 1x1 convolutions. On 512 x 384 images at stride 16 this is ~2.5x
less convolution work than cutting out the 713 overlapping patches; the convolution is
then most of the time left.

References
----------
L. Kang, P. Ye, Y. Li, D. Doermann, "Convolutional neural networks for no-reference image
quality assessment", CVPR 2014, pp. 1733-1740.
"""

from __future__ import annotations

import torch
from torch import nn

from hyperimage.inference.networks import register

BAND_ELEMENTS = 1 << 22
"""Upper bound on the convolution map computed at once by the fast path, in values (16 MiB
of float32): big enough for efficient convolutions, small enough to be recycled by the
allocator; a whole 512 x 384 map (38 MiB) is mapped and page-faulted in anew on every call,
which measured ~25% slower."""


def init_glorot(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every conv and dense layer (Keras defaults).

    References
    ----------
    X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward
    neural networks", AISTATS 2010.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


def min_max_pool(maps: torch.Tensor) -> torch.Tensor:
    """Global (MinPool, MaxPool) of Table 5: ``(N, K, h, w)`` -> ``(N, 2K)``."""
    return torch.cat([maps.amin(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)


def windows(maps: torch.Tensor, origins: torch.Tensor, window: int, dim: int) -> torch.Tensor:
    """The ``window``-long runs of ``maps`` along ``dim`` that start at ``origins``.

    Returns ``maps`` with ``dim`` resized to ``n = len(origins)`` and a trailing axis of
    length ``window``: entry ``[..., i, ..., j]`` is ``maps`` at ``origins[i] + j`` along
    ``dim``. Evenly spaced origins give a strided view (no copy); other origins are
    gathered into back-to-back runs first.
    """
    n = origins.numel()
    steps = origins.diff()
    if n > 1 and not bool((steps == steps[0]).all()):
        gathered = maps.index_select(dim, (origins[:, None] + torch.arange(window)).flatten().to(maps.device))
        return gathered.unfold(dim, window, window)
    step = int(steps[0]) if n > 1 else window
    return maps.narrow(dim, int(origins[0]), step * (n - 1) + window).unfold(dim, window, step)


def window_extreme(maps: torch.Tensor, origins: torch.Tensor, window: int, dim: int, largest: bool) -> torch.Tensor:
    """Min (or max, if ``largest``) of the ``window``-long runs of ``maps`` along ``dim``
    that start at ``origins``.

    Returns ``maps`` with ``dim`` resized to ``n = len(origins)``: entry ``i`` along ``dim``
    is the min (max) of ``maps`` over ``origins[i]`` to ``origins[i] + window - 1``, i.e.
    ``windows(maps, origins, window, dim).amin(-1)`` (``amax``).

    Evenly spaced origins whose windows overlap (step ``s < window``, the usual grid) share
    the work: with ``window = q * s + r`` (``0 <= r < s``), the span is cut into ``s``-long
    blocks, each reduced once, its first ``r`` elements (its "head") apart from the rest;
    window ``i`` is then blocks ``i`` to ``i + q - 1`` plus the head of block ``i + q``. Every
    element is read once instead of ``window / s`` times (a two-level form of the van Herk /
    Gil-Werman running extremum), and the combining steps run in place on the small
    reduced tensors. Other origins, and maps that need gradients (autograd cannot follow
    the in-place steps: ``amin``/``amax`` keep their outputs for the backward pass), reduce
    :func:`windows` directly.
    """
    reduce, combine = (torch.amax, torch.maximum) if largest else (torch.amin, torch.minimum)
    n = origins.numel()
    steps = origins.diff()
    step = int(steps[0]) if n > 1 else window
    autograd = torch.is_grad_enabled() and maps.requires_grad
    if autograd or step >= window or not bool((steps == step).all()):
        return reduce(windows(maps, origins, window, dim), dim=-1)
    q, r = divmod(window, step)
    count = n + q - 1  # whole blocks under the windows, followed by r more elements
    start = int(origins[0])
    blocks = maps.narrow(dim, start, count * step).unflatten(dim, (count, step))
    if r:
        heads = reduce(blocks.narrow(dim + 1, 0, r), dim=dim + 1)
        whole = reduce(blocks.narrow(dim + 1, r, step - r), dim=dim + 1)
        combine(whole, heads, out=whole)
    else:
        whole = reduce(blocks, dim=dim + 1)
    result = whole.narrow(dim, 0, n).clone() if q > 1 else whole.narrow(dim, 0, n)
    for k in range(1, q):
        combine(result, whole.narrow(dim, k, n), out=result)
    if r:  # the heads of blocks q .. n + q - 1; the last one lies past the blocks
        inner, final = result.narrow(dim, 0, n - 1), result.narrow(dim, n - 1, 1)
        combine(inner, heads.narrow(dim, q, n - 1), out=inner)
        combine(final, reduce(maps.narrow(dim, start + count * step, r), dim=dim, keepdim=True), out=final)
    return result


def grid_min_max(maps: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, window: int) -> torch.Tensor:
    """(MinPool, MaxPool) of every ``window`` x ``window`` block at ``rows`` x ``cols``.

    Channels-last maps ``(B, H, W, K)`` -> ``(B, U, V, 2K)``; entry (u, v) is
    :func:`min_max_pool` of ``maps[:, rows[u]:rows[u] + window, cols[v]:cols[v] + window]``.
    Separable, by :func:`window_extreme`: the row windows first (the big pass), then the
    column windows of the U pooled rows. With K innermost, each reduction runs over whole
    contiguous ``W * K`` rows, which vectorises; reducing a channels-first layout this way
    is ~15x slower.
    """
    pooled = []
    for largest in (False, True):
        by_rows = window_extreme(maps, rows, window, 1, largest)
        pooled.append(window_extreme(by_rows, cols, window, 2, largest))
    return torch.cat(pooled, dim=-1)


def row_bands(rows: torch.Tensor, extent: int, budget: int) -> list[slice]:
    """Split patch rows into consecutive groups whose pixel span is at most ``budget`` rows.

    ``extent`` is the height one patch row needs; a group always holds at least one row.
    """
    bands, start = [], 0
    origins = rows.tolist()
    for u, r in enumerate(origins):
        if u > start and r + extent - origins[start] > budget:
            bands.append(slice(start, u))
            start = u
    bands.append(slice(start, len(origins)))
    return bands


class KangNet(nn.Module):
    """Table 5 stage 1: Conv(K@k x k) - (MinPool, MaxPool) - FC(D)+ReLU - FC(D)+ReLU - FC(1).

    Parameters
    ----------
    in_channels : image channels (1 for LIVE, 3 for TID).
    patch : side of the input patch; the pooled map is ``patch - kernel + 1`` wide.
    kernels : number of convolution filters K (50).
    kernel : side of the convolution filters (7).
    width : D, the width of both dense layers (800).
    dropout : rate of the dropout on FC2's units, in front of the output node.
    """

    def __init__(
        self,
        in_channels: int = 3,
        patch: int = 32,
        kernels: int = 50,
        kernel: int = 7,
        width: int = 800,
        dropout: float = 0.5,
    ):
        super().__init__()
        if patch < kernel:
            raise ValueError(f"a {patch}-px patch is smaller than the {kernel}x{kernel} convolution")
        self.patch = patch
        self.in_channels = in_channels
        self.num_features = width
        self.conv = nn.Conv2d(in_channels, kernels, kernel)
        self.dense = nn.Sequential(
            nn.Linear(2 * kernels, width), nn.ReLU(inplace=True), nn.Linear(width, width), nn.ReLU(inplace=True)
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, 1), nn.Flatten(0))
        init_glorot(self)

    @property
    def window(self) -> int:
        """Side of the convolution map of one patch (26 for 32-px patches and 7x7 filters)."""
        return self.patch - self.conv.kernel_size[0] + 1

    def forward_features(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, C, p, p)`` -> ReLU'd FC2 features ``(N, D)`` (the hyper-image pixels)."""
        if patches.ndim != 4 or tuple(patches.shape[1:]) != (self.in_channels, self.patch, self.patch):
            raise ValueError(
                f"expected patches (N, {self.in_channels}, {self.patch}, {self.patch}), got {tuple(patches.shape)}"
            )
        return self.dense(min_max_pool(self.conv(patches)))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, C, p, p)`` -> patch score ``(N,)``."""
        return self.head(self.forward_features(patches))

    def grid_features(self, images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Features of the patches at ``rows`` x ``cols``, without cutting them out.

        Equals :meth:`forward_features` of ``images[:, :, r:r + p, c:c + p]`` for every
        origin (r, c) (up to float rounding), laid out as ``(B, U, V, D)``.

        Parameters
        ----------
        images : ``(B, C, H, W)`` preprocessed images.
        rows, cols : strictly increasing patch origins ``(U,)`` and ``(V,)``, any spacing.

        Returns
        -------
        torch.Tensor
            ``(B, U, V, D)`` stage-1 features; the dense layers hold no dropout, so the
            result does not depend on train/eval mode.
        """
        rows, cols = torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"expected images (B, {self.in_channels}, H, W), got {tuple(images.shape)}")
        p = self.patch
        for name, origins, size in (("rows", rows, images.shape[2]), ("cols", cols, images.shape[3])):
            if origins.ndim != 1 or origins.numel() == 0 or (origins.diff() <= 0).any():
                raise ValueError(f"{name} must be a non-empty strictly increasing 1-D sequence, got {origins.tolist()}")
            if origins[0] < 0 or origins[-1] + p > size:
                raise ValueError(f"{name} {origins.tolist()} put {p}-px patches outside the image's {size} px")
        x = images[:, :, :, int(cols[0]) : int(cols[-1]) + p].contiguous(memory_format=torch.channels_last)
        cols = cols - cols[0]
        bands = row_bands(rows, p, max(p, BAND_ELEMENTS // (self.conv.out_channels * x.shape[3])))
        pooled = [
            torch.cat([self._band_min_max(image, rows[band], cols) for band in bands], dim=1) for image in x.split(1)
        ]
        return self.dense(torch.cat(pooled))

    def _band_min_max(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """(MinPool, MaxPool) of one image's patches on a band of rows: ``(1, U_band, V, 2K)``.

        Only the image rows the band's patches cover are convolved; ``cols`` are relative
        to the (already cropped) image's first column.
        """
        top = int(rows[0])
        maps = self.conv(image[:, :, top : int(rows[-1]) + self.patch]).permute(0, 2, 3, 1).contiguous()
        return grid_min_max(maps, rows - top, cols, self.window)


@register("kang-stage1")
def kang_stage1(in_channels: int = 3, patch: int = 32, width: int = 800, dropout: float = 0.5) -> KangNet:
    """Table 5 "LIVE/TID stage 1" (Kang et al. 2014) on ``patch`` x ``patch`` windows; D = ``width``."""
    return KangNet(in_channels, patch, width=width, dropout=dropout)
