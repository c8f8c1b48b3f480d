"""Stage-1 and stage-2 networks (Tables 4 and 5), created by name.

Each architecture lives in one module and registers a factory with :func:`register`;
:func:`create` builds it from the name and keyword arguments stored in a model's
``config.json``. The contracts are :class:`Stage1` (with the optional fast path
:class:`GridStage1`, and :class:`TrunkStage1` over a pre-trained trunk) and :class:`Stage2`.
"""

from __future__ import annotations

import inspect
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from hyperimage.registry import Registry


@runtime_checkable
class Stage1(Protocol):
    """A stage-1 network: patches ``(N, C, p, p)`` -> patch scores ``(N,)``, through its
    ReLU'd penultimate features ``(N, D)`` (``D = num_features``), which the hyper-image lays
    on the grid."""

    num_features: int

    def forward_features(self, patches: torch.Tensor) -> torch.Tensor: ...

    def head(self, features: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class GridStage1(Stage1, Protocol):
    """A stage-1 network with a fully convolutional fast path: the features of the patches at
    grid origins ``rows`` x ``cols`` of whole images ``(B, C, H, W)`` -> ``(B, U, V, D)``, in
    one pass instead of patch by patch (Kang's network: the convolution is computed once).
    One whose fast path needs origins on a lattice says so by a ``grid_step`` attribute (the
    model's grid is then aligned to it, :class:`~hyperimage.inference.grid.PatchGrid`)."""

    def grid_features(self, images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class TrunkStage1(GridStage1, Protocol):
    """A :class:`GridStage1` over a pre-trained trunk: ``grid_features`` is
    ``from_trunk(trunk_grid(...))``, where ``trunk_grid`` gives the trunk's ``trunk_depth``
    values per cell ``(B, U, V, trunk_depth)`` and ``from_trunk`` the trainable layers after it,
    which standardise them as ``fit_input_norm`` set from training cells. While ``frozen``, the
    trunk's values never change, so training may compute them once."""

    frozen: bool
    trunk_depth: int

    def fit_input_norm(self, cells: torch.Tensor) -> None: ...

    def trunk_grid(self, images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor: ...

    def from_trunk(self, cells: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Stage2(Protocol):
    """A stage-2 network: hyper-images ``(B, D, U, V)`` -> image scores ``(B,)``."""

    def forward(self, hyper: torch.Tensor) -> torch.Tensor: ...

NETWORKS: Registry = Registry("network")
register = NETWORKS.register
available = NETWORKS.available


def create(name: str, **kwargs: object) -> nn.Module:
    """Build the registered network ``name``."""
    return NETWORKS.get(name)(**kwargs)


def accepts(name: str, setting: str) -> bool:
    """Whether the registered network ``name`` takes the keyword ``setting`` (e.g. ``conv_width``:
    a network learnt from scratch can be made thinner, a pre-trained trunk cannot)."""
    return setting in inspect.signature(NETWORKS.get(name)).parameters


def create_stage1(name: str, **kwargs: object) -> nn.Module:
    """Build the registered network ``name`` as a stage 1, refusing one without :class:`Stage1`'s methods."""
    net = create(name, **kwargs)
    if not isinstance(net, Stage1):
        raise ValueError(f"network {name!r} is not a stage-1 network (num_features, forward_features, head)")
    return net


from hyperimage.inference.networks import forgery  # noqa: E402,F401  (registers its networks)
from hyperimage.inference.networks import synthetic  # noqa: E402,F401  (registers its networks)
from hyperimage.inference.networks import efficientnet_lite, evidence, forgery_valid, iqa, iqa_end_to_end, kang, pooling, vgg  # noqa: E402,F401  (register their networks)
