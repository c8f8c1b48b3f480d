"""The results JSON of a benchmark script: its figures and the provenance stamp, in one file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from hyperimage.evaluation.provenance import stamp


def write_results(
    path: Path | None, figures: dict[str, Any], preset: str | Sequence[str] | None = None, recipe: str | Sequence[str] | None = None
) -> None:
    """Write ``figures`` with a ``provenance`` stamp (commit, versions, machine, date, this
    command) to ``path`` when one is given, so that the docs can quote them
    (``tools/render_docs.py``); nothing without a path."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**figures, "provenance": stamp(preset=preset, recipe=recipe)}, indent=2) + "\n")
    print(f"wrote {path}")
