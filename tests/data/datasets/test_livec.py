"""LIVE In the Wild Challenge loader on a tiny copy of the published layout (7 training + 5 images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hyperimage.data import datasets
from hyperimage.data.datasets import livec

NAMES = [f"t{i}.bmp" for i in range(1, 8)] + ["100.bmp", "101.bmp", "1000.JPG", "1001.JPG", "12.bmp"]
MOS = np.linspace(3.4, 92.4, len(NAMES))


def test_drops_the_training_images_and_keeps_mos_order(tmp_path: Path, make_livec) -> None:
    root = make_livec(tmp_path, NAMES, MOS)
    records = livec.load(root)
    assert [r.path.name for r in records] == NAMES[7:]
    assert [r.target for r in records] == pytest.approx(MOS[7:])
    assert all(r.group == r.path.name and r.reference is None for r in records)
    assert records[0].extra["mos_std"] == "1.0"


def test_training_images_kept_on_request_and_parent_folder_accepted(tmp_path: Path, make_livec) -> None:
    make_livec(tmp_path, NAMES, MOS)
    records = livec.load(tmp_path, keep_training_images=True)
    assert len(records) == len(NAMES)
    assert records[0].path.parent.name == "trainingImages"


def test_detected_by_layout_with_its_direction(tmp_path: Path, make_livec) -> None:
    root = make_livec(tmp_path, NAMES, MOS)
    assert datasets.detect(root) == "livec"
    assert datasets.detect(tmp_path) == "livec"
    assert datasets.higher_is_better(root) is True
    assert livec.LAYOUT.score_range == (0.0, 100.0)


def test_missing_image_is_named(tmp_path: Path, make_livec) -> None:
    root = make_livec(tmp_path, NAMES, MOS)
    (root / "Images" / "1000.JPG").unlink()
    with pytest.raises(ValueError, match=r"1000\.JPG \(entry 10 of AllImages_release\.mat\) is not there"):
        livec.load(root)


def test_counts_that_disagree_and_non_finite_mos_are_refused(tmp_path: Path, make_livec) -> None:
    root = make_livec(tmp_path / "a", NAMES, MOS[:-1])
    with pytest.raises(ValueError, match="12 names, 11 MOS"):
        livec.load(root)
    bad = MOS.copy()
    bad[9] = np.nan
    root = make_livec(tmp_path / "b", NAMES, bad)
    with pytest.raises(ValueError, match="NaN or infinite"):
        livec.load(root)


def test_not_the_layout(tmp_path: Path, make_livec) -> None:
    (tmp_path / "Images").mkdir()
    (tmp_path / "Data").mkdir()
    assert not livec.looks_like(tmp_path)
    with pytest.raises(ValueError, match="no AllImages_release.mat"):
        livec.load(tmp_path)
