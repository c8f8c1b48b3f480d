"""Settings written as JSON (e.g. a training phase's ``args`` in a recipe) read into a dataclass,
checked on the way in.

A dict that is silently read with ``.get(key, default)`` ignores a misspelt key and carries a
string where a number belongs until some arithmetic fails far from the file that said it.
:func:`parse` instead refuses, in one line naming where and which key, a key the dataclass
does not declare or a value that does not match the field's type hint; values that pass come
back typed (a JSON array as the declared ``list`` or ``tuple``, a whole number as a ``float``
where one is declared). Like the dataclass-to-dict libraries it refuses rather than converts a
string of digits: a recipe that says ``"8"`` meant something it did not write.

Supported type hints: ``int``, ``float`` (a whole number accepted), ``str``, ``bool`` (not
``0`` / ``1``), ``None``, ``Literal[...]``, ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]`` and
unions of them (``X | None``, ``str | list[int]``); :func:`declared` checks a dataclass uses
only these, so a mistake in a declaration surfaces on import rather than in a user's run.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Callable, Literal, Mapping, TypeVar, Union

T = TypeVar("T")

#: Plain types in words: (one value, several values).
_WORDS: dict[Any, tuple[str, str]] = {
    int: ("a whole number", "whole numbers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
    bool: ("true or false", "true/false values"),
    type(None): ("null", "nulls"),
}


class _Mismatch(Exception):
    """A value does not match a type hint (reported by :func:`parse` for the whole field)."""


def _is_union(origin: Any) -> bool:
    return origin is Union or origin is types.UnionType


def describe(hint: Any, plural: bool = False) -> str:
    """What a value of type ``hint`` is, in words: ``"a whole number"``, ``"a string or a list
    of whole numbers"`` (``plural``: ``"whole numbers"``). TypeError for a hint :func:`parse`
    does not support."""
    origin, params = typing.get_origin(hint), typing.get_args(hint)
    if hint in _WORDS:
        return _WORDS[hint][plural]
    if origin is Literal:
        return ("one of " if not plural else "values among ") + ", ".join(map(repr, params))
    if _is_union(origin):
        return " or ".join(describe(p, plural) for p in params)
    container = "lists" if plural else "a list"
    if origin is list or (origin is tuple and len(params) == 2 and params[1] is Ellipsis):
        return f"{container} of {describe(params[0], plural=True)}"
    if origin is tuple and params:
        if len(set(params)) == 1:
            return f"{container} of {len(params)} {describe(params[0], plural=True)}"
        return f"{container} of {len(params)} ({', '.join(describe(p) for p in params)})"
    raise TypeError(f"settings of type {hint!r} are not supported")


def _typed(hint: Any, value: Any) -> Any:
    """``value`` as type ``hint`` (e.g. a JSON array as a tuple); :class:`_Mismatch` if it is not one."""
    origin, params = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool or hint is str or hint is type(None):
        if isinstance(value, hint):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif origin is Literal:
        if any(value == p and type(value) is type(p) for p in params):  # True is not the choice 1
            return value
    elif _is_union(origin):
        for member in params:
            try:
                return _typed(member, value)
            except _Mismatch:
                pass
    elif origin in (list, tuple) and isinstance(value, (list, tuple)):
        if origin is list or params[-1] is Ellipsis:
            return origin(_typed(params[0], v) for v in value)
        if len(value) == len(params):
            return tuple(_typed(p, v) for p, v in zip(params, value))
    raise _Mismatch


def declared(cls: type[T]) -> type[T]:
    """``cls``, after checking it is a dataclass whose every field has a type :func:`parse`
    reads (TypeError otherwise): for a registration to call, so a bad declaration fails on import."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"settings {cls!r} must be a dataclass")
    for hint in typing.get_type_hints(cls).values():
        describe(hint)
    return cls


def parse(
    cls: type[T], data: Mapping[str, Any], where: str, elsewhere: Callable[[str], str] = lambda key: ""
) -> T:
    """``data`` (e.g. from JSON) as an instance of the dataclass ``cls``, each value checked
    against its field's type hint; fields ``data`` leaves out keep their defaults.

    Anything wrong is a ValueError of one line starting with ``where``: an unknown key (with
    ``elsewhere(key)`` after it, e.g. who else takes that key, and the known keys), a required
    field left out, or a value of the wrong type (what was expected, and what came).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: settings are a JSON object, got {data!r}")
    fields = [f for f in dataclasses.fields(cls) if f.init]
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields]
    for key in data:
        if key not in names:
            listed = f"its settings: {', '.join(names)}" if names else "it takes no settings"
            raise ValueError(f"{where}: unknown setting {key!r}{elsewhere(key)}; {listed}")
    for f in fields:
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in data:
            raise ValueError(f"{where}: needs setting {f.name!r}, {describe(hints[f.name])}")
    values = {}
    for key, value in data.items():
        try:
            values[key] = _typed(hints[key], value)
        except _Mismatch:
            raise ValueError(f"{where}: {key} must be {describe(hints[key])}, got {value!r}") from None
    return cls(**values)


def dump(obj: Any) -> dict[str, Any]:
    """The dataclass instance ``obj`` as plain JSON values (a tuple as a list): what :func:`parse`
    reads back into an equal instance, and what a JSON file read back holds."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))
