"""Stage-1 and stage-2 networks (Tables 4 and 5), created by name.

Each architecture lives in one module and registers a factory with :func:`register`;
:func:`create` builds it from the name and keyword arguments stored in a model's
``config.json``. Stage-1 networks expose ``num_features`` (D), ``forward_features``
(patches ``(N, C, p, p)`` -> ReLU'd penultimate features ``(N, D)``) and ``head``
(features -> patch score ``(N,)``); stage-2 networks map a hyper-image ``(B, D, U, V)``
to an image score ``(B,)``.
"""

from __future__ import annotations

from torch import nn

from ..registry import Registry

NETWORKS: Registry = Registry("network")
register = NETWORKS.register
available = NETWORKS.available


def create(name: str, **kwargs: object) -> nn.Module:
    """Build the registered network ``name``."""
    return NETWORKS.get(name)(**kwargs)


from . import synthetic  # noqa: E402,F401  (registers its networks)
from . import forgery  # noqa: E402,F401  (registers its networks)
from . import iqa, iqa_end_to_end, kang  # noqa: E402,F401  (register their networks)
