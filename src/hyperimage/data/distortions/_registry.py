"""The registry of distortion types and the one entry point that applies them.

Each family module defines its distortions as plain functions ``f(image, parameter, rng)``
and registers them with :func:`register`, giving the TID2013 number, a name and the
parameter of each of the five levels. :func:`distort` looks a type up by number or name,
checks its input, applies the level's parameter and, given a mask, confines the result to
the masked region.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperimage.data.distortions._common import check_image
from hyperimage.data.distortions.masks import blend, check_mask

#: Levels per type, as in TID2013; level 1 is the mildest.
NUM_LEVELS = 5

#: TID2013's types are #1-#24; further types take the numbers after.
TID2013_TYPES = 24

#: Signature of a distortion function: (image, parameter of the level, rng) -> image.
DistortionFunction = Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Distortion:
    """One registered distortion type.

    Attributes
    ----------
    number : TID2013's official 1-based type number (1-24); further types take 25 on.
    name : short snake_case name, also accepted by :func:`distort`.
    function : ``function(image, parameter, rng) -> image``; float32 in [0, 1] in and out.
    levels : the parameter of levels 1 (mildest) to 5.
    uniform : False where the damage is confined to some places (pasted patches and
        blocks, damaged code blocks), True where it covers the whole image.
    colour_only : True where the type only exists for RGB images (gray input is refused).
    family : the damage it makes, where several types make the same one by other code
        (``"jpeg"``, ``"blur"``, ``"noise"``: :data:`~hyperimage.data.distortions.implementations.FAMILIES`);
        None for a type that is the only one of its kind.
    implementation : the code that makes it, within its family (``"hyperimage"`` for the
        project's own TID2013 types).
    """

    number: int
    name: str
    function: DistortionFunction
    levels: tuple[Any, ...]
    uniform: bool = True
    colour_only: bool = False
    family: str | None = None
    implementation: str = "hyperimage"

    def parameter(self, level: int) -> Any:
        """The parameter of ``level`` (1-5)."""
        return self.levels[_check_level(level) - 1]


_REGISTRY: dict[int, Distortion] = {}


def register(
    number: int, name: str, levels: tuple[Any, ...], *, uniform: bool = True, colour_only: bool = False,
    family: str | None = None, implementation: str = "hyperimage",
) -> Callable[[DistortionFunction], DistortionFunction]:
    """Decorator that registers a distortion function under a TID2013 number and a name.

    The function is returned unchanged apart from a line appended to its docstring that
    lists the parameter of each level, so ``help()`` shows the table that is actually used.
    """
    if isinstance(number, bool) or not isinstance(number, numbers.Integral) or number < 1:
        raise ValueError(f"distortion numbers are positive integers (TID2013's run from 1 to 24), got {number!r}")
    if len(levels) != NUM_LEVELS:
        raise ValueError(f"distortion #{number} needs {NUM_LEVELS} levels, got {len(levels)}")

    def decorator(function: DistortionFunction) -> DistortionFunction:
        clash = _REGISTRY.get(number) or next((d for d in _REGISTRY.values() if d.name == name), None)
        if clash is not None:
            raise ValueError(f"distortion #{number} {name!r} clashes with #{clash.number} {clash.name!r}")
        _REGISTRY[number] = Distortion(number, name, function, tuple(levels), uniform, colour_only, family, implementation)
        table = ", ".join(f"{i}: {_format(p)}" for i, p in enumerate(levels, start=1))
        where = f"TID2013 #{number}" if number <= TID2013_TYPES else f"#{number}"
        function.__doc__ = f"{function.__doc__ or ''}\n    Registered as {where} {name!r}; levels {table}.\n"
        return function

    return decorator


def _format(parameter: Any) -> str:
    if isinstance(parameter, tuple):
        return "(" + ", ".join(_format(p) for p in parameter) + ")"
    return f"{parameter:.4g}" if isinstance(parameter, float) else str(parameter)


def available() -> list[Distortion]:
    """All registered distortion types, by TID2013 number."""
    return [_REGISTRY[n] for n in sorted(_REGISTRY)]


def get(kind: int | str) -> Distortion:
    """The distortion type with TID2013 number ``kind`` or name ``kind`` (case-insensitive).

    Raises
    ------
    ValueError
        For an unknown number or name, listing the known ones.
    """
    if isinstance(kind, numbers.Integral) and not isinstance(kind, bool):
        found = _REGISTRY.get(int(kind))
    elif isinstance(kind, str):
        key = kind.strip().lower()
        found = next((d for d in _REGISTRY.values() if d.name == key), None)
    else:
        raise ValueError(f"distortion kind must be a TID2013 number or a name, got {type(kind).__name__}")
    if found is None:
        known = ", ".join(f"{d.number} {d.name}" for d in available())
        raise ValueError(f"unknown distortion type {kind!r}; known types: {known}")
    return found


def _check_level(level: int) -> int:
    if isinstance(level, bool) or not isinstance(level, numbers.Integral) or not 1 <= level <= NUM_LEVELS:
        raise ValueError(f"level must be an integer from 1 (mildest) to {NUM_LEVELS}, got {level!r}")
    return int(level)


def _check_rng(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy.random.Generator or an integer seed, got {type(rng).__name__}")


def distort(
    image: np.ndarray,
    kind: int | str,
    level: int,
    rng: np.random.Generator | int,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Apply a TID2013 distortion type at one of its five levels, globally or inside a mask.

    Parameters
    ----------
    image : float array in [0, 1], (H, W) gray or (H, W, 3) RGB.
    kind : TID2013 type number (1-24, official numbering) or registered name.
    level : 1 (mildest) to 5.
    rng : the source of every random choice (or an integer seed); the same generator
        state gives the same output.
    mask : optional (H, W) weights in [0, 1]. The whole image is distorted, then
        ``mask * distorted + (1 - mask) * image`` keeps the distortion where the mask is 1
        and the original where it is 0 (soft in between); pixels with mask 0 are unchanged.

    Returns
    -------
    np.ndarray
        float32 array of the image's shape, in [0, 1].

    Raises
    ------
    ValueError
        For an unknown type, a level outside 1-5, a bad image or mask, a gray image given
        to a colour-only type, or an image too small for the type.
    """
    distortion = get(kind)
    parameter = distortion.parameter(level)
    image = check_image(image)
    rng = _check_rng(rng)
    if distortion.colour_only and image.ndim == 2:
        raise ValueError(
            f"distortion #{distortion.number} {distortion.name!r} needs an RGB (H, W, 3) image, got gray {image.shape}"
        )
    if mask is not None:
        mask = check_mask(mask, image.shape)
    distorted = distortion.function(image, parameter, rng)
    return distorted if mask is None else blend(image, distorted, mask)
