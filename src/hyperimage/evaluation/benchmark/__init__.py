"""Reproductions of the paper's tables, run by ``hyperimage benchmark``."""

from __future__ import annotations

from dataclasses import dataclass

from hyperimage.training import Recipe


@dataclass
class Variant:
    """One way of training a benchmark's CNN rows, compared with others on the same splits: a
    recipe (e.g. with a pre-training phase or Hide-and-Seek) and optionally another preset
    (e.g. ``livec-imagenet``, the ImageNet trunk); its rows are named ``ROW [NAME]``."""

    name: str
    recipe: Recipe
    preset: str | None = None


def row_name(row: str, variant: Variant) -> str:
    """``row`` as the rows of ``variant`` are named (unchanged for the unnamed default)."""
    return f"{row} [{variant.name}]" if variant.name else row
