"""Stage-1 and stage-2 networks (Tables 4 and 5), created by name.

Each architecture lives in one module and registers a factory with :func:`register`;
:func:`create` builds it from the name and keyword arguments stored in a model's
``config.json``. Stage-1 networks expose ``num_features`` (D), ``forward_features``
(patches ``(N, C, p, p)`` -> ReLU'd penultimate features ``(N, D)``) and ``head``
(features -> patch score ``(N,)``); stage-2 networks map a hyper-image ``(B, D, U, V)``
to an image score ``(B,)``.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make a network factory available to :func:`create` under ``name``."""

    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"network {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return wrap


def create(name: str, **kwargs: object) -> nn.Module:
    """Build the registered network ``name``."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None
    return factory(**kwargs)


def available() -> list[str]:
    """Names of all registered networks."""
    return sorted(_REGISTRY)


from . import synthetic  # noqa: E402,F401  (registers its networks)
from . import forgery  # noqa: E402,F401  (registers its networks)
from . import iqa, kang  # noqa: E402,F401  (register their networks)
