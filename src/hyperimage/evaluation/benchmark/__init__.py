"""Reproductions of the paper's tables, run by ``hyperimage benchmark``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from hyperimage.evaluation.provenance import stamp
from hyperimage.training import Recipe


@dataclass
class Variant:
    """One way of training a benchmark's CNN rows, compared with others on the same splits: a
    recipe (e.g. with a pre-training phase or Hide-and-Seek) and optionally another preset
    (e.g. ``livec-imagenet``, the ImageNet trunk); its rows are named ``ROW [NAME]``."""

    name: str
    recipe: Recipe
    preset: str | None = None

    @classmethod
    def parse(cls, entries: str) -> tuple["Variant", ...]:
        """Comma-separated ``NAME=RECIPE`` or ``NAME=PRESET:RECIPE`` entries (``--variants``); a
        ValueError of one line for a malformed entry, an unknown preset or recipe, or a name used twice."""
        from hyperimage import presets
        from hyperimage.training import recipe as recipes

        made = []
        for entry in (e.strip() for e in entries.split(",") if e.strip()):
            name, sep, spec = entry.partition("=")
            preset, _, recipe_name = spec.partition(":") if ":" in spec else ("", "", spec)
            if not sep or not name.strip() or not recipe_name.strip():
                raise ValueError(f"--variants: {entry!r} is not NAME=RECIPE or NAME=PRESET:RECIPE")
            try:
                if preset:
                    presets.spec(preset)
                made.append(cls(name.strip(), recipes.get(recipe_name.strip()), preset or None))
            except ValueError as err:
                raise ValueError(f"--variants: {err}") from None
        if len({v.name for v in made}) != len(made):
            raise ValueError("--variants: each variant needs its own name")
        return tuple(made)


def row_name(row: str, variant: Variant) -> str:
    """``row`` as the rows of ``variant`` are named (unchanged for the unnamed default)."""
    return f"{row} [{variant.name}]" if variant.name else row


def budget_record(budget: Any) -> dict[str, Any]:
    """A benchmark budget (a dataclass) as its results JSON records it: with ``variants`` the
    default ``recipe`` and ``preset`` trained no row, so they are left out rather than shown
    as if they had."""
    record = asdict(budget)
    if record.get("variants"):
        for key in ("recipe", "preset"):
            record.pop(key, None)
    return record


def stamp_run(variants: Sequence[Variant], named: bool, default_preset: str) -> dict[str, Any]:
    """The ``provenance`` of a benchmark run (:func:`hyperimage.evaluation.provenance.stamp`)
    whose trained rows used ``variants``: one preset and recipe name for the unnamed default,
    a list of them (in variant order) for named variants; ``None`` when no row was trained.
    A variant without a preset trained with ``default_preset`` (the data set's)."""
    presets = [v.preset or default_preset for v in variants]
    recipes = [v.recipe.name for v in variants]
    if named:
        return stamp(preset=presets, recipe=recipes)
    return stamp(preset=presets[0] if presets else None, recipe=recipes[0] if recipes else None)
