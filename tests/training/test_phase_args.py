"""Settings read into a dataclass and checked on load (:mod:`hyperimage.settings`)."""

import json
from dataclasses import dataclass, field
from typing import Literal

import pytest

from hyperimage import settings


@dataclass(frozen=True)
class Example:
    """One field of every type the checker reads."""

    count: int = 1
    rate: float = 0.5
    name: str = "a"
    flag: bool = False
    limit: int | None = None
    sizes: list[int] = field(default_factory=list)
    levels: tuple[int, ...] = (1, 2)
    shape: tuple[int, int] = (3, 4)
    mode: Literal["fast", "slow"] = "fast"
    types: str | list[int] = "live"


def read(data: dict) -> Example:
    return settings.parse(Example, data, "thing 'x'")


@pytest.mark.parametrize(
    "key, value, typed",
    [
        ("count", 3, 3),
        ("rate", 2, 2.0),
        ("rate", 0.25, 0.25),
        ("name", "b", "b"),
        ("flag", True, True),
        ("limit", None, None),
        ("limit", 4, 4),
        ("sizes", [1, 2], [1, 2]),
        ("sizes", (1, 2), [1, 2]),
        ("levels", [3], (3,)),
        ("levels", [], ()),
        ("shape", [5, 6], (5, 6)),
        ("mode", "slow", "slow"),
        ("types", "all", "all"),
        ("types", [1, 8], [1, 8]),
    ],
)
def test_a_good_value_comes_back_as_its_declared_type(key, value, typed):
    got = getattr(read({key: value}), key)
    assert got == typed and type(got) is type(typed)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("count", "8", "count must be a whole number, got '8'"),
        ("count", 2.0, "count must be a whole number, got 2.0"),
        ("count", True, "count must be a whole number, got True"),
        ("rate", "0.5", "rate must be a number, got '0.5'"),
        ("rate", False, "rate must be a number, got False"),
        ("name", 3, "name must be a string, got 3"),
        ("flag", 1, "flag must be true or false, got 1"),
        ("limit", "4", "limit must be a whole number or null, got '4'"),
        ("sizes", [1, "2"], "sizes must be a list of whole numbers, got [1, '2']"),
        ("sizes", "12", "sizes must be a list of whole numbers, got '12'"),
        ("levels", 3, "levels must be a list of whole numbers, got 3"),
        ("shape", [1, 2, 3], "shape must be a list of 2 whole numbers, got [1, 2, 3]"),
        ("shape", [1, 2.5], "shape must be a list of 2 whole numbers, got [1, 2.5]"),
        ("mode", "medium", "mode must be one of 'fast', 'slow', got 'medium'"),
        ("types", [1, "x"], "types must be a string or a list of whole numbers, got [1, 'x']"),
        ("types", None, "types must be a string or a list of whole numbers, got None"),
    ],
)
def test_a_wrong_type_is_one_line_naming_the_key_and_what_it_must_be(key, value, message):
    with pytest.raises(ValueError) as err:
        read({key: value})
    assert str(err.value) == f"thing 'x': {message}"


def test_an_unknown_or_missing_key_is_one_line_listing_the_known_ones():
    with pytest.raises(ValueError) as err:
        read({"count": 2, "colour": 1})
    assert str(err.value) == (
        "thing 'x': unknown setting 'colour'; its settings: count, rate, name, flag, limit, sizes, levels, shape, mode, types"
    )

    @dataclass
    class Needs:
        file: str

    with pytest.raises(ValueError) as err:
        settings.parse(Needs, {}, "thing 'y'")
    assert str(err.value) == "thing 'y': needs setting 'file', a string"
    with pytest.raises(ValueError, match="^thing 'y': settings are a JSON object, got \\['file'\\]$"):
        settings.parse(Needs, ["file"], "thing 'y'")


def test_the_defaults_and_a_dump_read_back_are_equal():
    assert read({}) == Example()
    typed = read({"levels": [3, 4], "shape": [1, 2], "types": [8]})
    dumped = settings.dump(typed)
    assert json.loads(json.dumps(dumped)) == dumped == {**settings.dump(Example()), "levels": [3, 4], "shape": [1, 2], "types": [8]}
    assert read(settings.dump(typed)) == typed


def test_a_declaration_the_checker_cannot_read_fails_when_registered():
    @dataclass
    class Odd:
        table: dict[str, int] = field(default_factory=dict)

    with pytest.raises(TypeError, match="not supported"):
        settings.declared(Odd)
    with pytest.raises(TypeError, match="must be a dataclass"):
        settings.declared(dict)
