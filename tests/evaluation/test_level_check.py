"""Tests of the label-free level check (hyperimage.evaluation.level_check)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.evaluation.level_check import level_srocc


def synthetic_records() -> list[ImageRecord]:
    """Two references, two types, two regions for the first type, levels 1-5: 2 * (1 + 3 * 5) records."""
    records = []
    for ref in ("a", "b"):
        records.append(ImageRecord(Path(ref), 9.0, ref, reference=Path(ref), distortion="none", level=0,
                                   extra={"region": "none"}))  # fmt: skip
        for kind, region in (("1", "uniform"), ("1", "blobs"), ("14", "native")):
            for level in range(1, 6):
                records.append(ImageRecord(Path(f"{ref}{kind}{region}{level}"), 0.0, ref, reference=Path(ref),
                                           distortion=kind, level=level, extra={"region": region}))  # fmt: skip
    return records


def test_level_srocc_perfect_reversed_and_constant():
    records = synthetic_records()
    levels = np.array([r.level for r in records], dtype=float)
    perfect = level_srocc(records, -levels)
    assert perfect["srocc"] == pytest.approx(1.0)
    assert perfect["sets"] == 6 and perfect["skipped"] == 0 and perfect["images"] == len(records)
    assert perfect["by_region"] == {"blobs": 1.0, "native": 1.0, "uniform": 1.0}
    assert set(perfect["by_distortion"]) == {"1", "14"}
    assert level_srocc(records, levels)["srocc"] == pytest.approx(-1.0)
    assert level_srocc(records, levels, higher_is_better=False)["srocc"] == pytest.approx(1.0)
    assert level_srocc(records, np.zeros(len(records)))["srocc"] == 0.0
    # right over the whole image, wrong inside regions
    split = np.where([r.extra["region"] in ("uniform", "none") for r in records], -levels, levels)
    parts = level_srocc(records, split)
    assert (parts["whole"], parts["inside_regions"]) == (pytest.approx(1.0), pytest.approx(-1.0))
    # half the sets ranked right, half wrong
    mixed = np.where([r.group == "a" for r in records], -levels, levels)
    assert level_srocc(records, mixed)["srocc"] == pytest.approx(0.0)


def test_level_srocc_bad_input():
    records = synthetic_records()
    with pytest.raises(ValueError, match="one finite prediction"):
        level_srocc(records, [0.0])
    with pytest.raises(ValueError, match="one finite prediction"):
        level_srocc(records, [np.nan] * len(records))
    single = [r for r in records if r.level in (None, 3) and r.distortion != "none"]
    with pytest.raises(ValueError, match="two or more levels"):
        level_srocc(single, np.zeros(len(single)))
