"""KonIQ-10k loader on a tiny copy of the published layout (no copy of the set exists here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperimage.data import datasets
from hyperimage.data.datasets import koniq

HEADER = "image_name,c1,c2,c3,c4,c5,c_total,MOS,SD,MOS_zscore"


def test_reads_mos_in_csv_order(tmp_path: Path, make_koniq) -> None:
    records = koniq.load(make_koniq(tmp_path))
    assert [r.target for r in records] == pytest.approx([1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    assert all(r.split is None and r.group == r.path.name for r in records)
    assert records[0].extra["MOS_zscore"] == "20"


def test_zscore_column_on_request(tmp_path: Path, make_koniq) -> None:
    records = koniq.load(make_koniq(tmp_path), score="MOS_zscore")
    assert records[-1].target == 70.0


def test_official_split_from_the_set_column(tmp_path: Path, make_koniq) -> None:
    sets = ["training", "training", "validation", "test", "training", "test"]
    root = make_koniq(tmp_path, sets=sets)
    assert [r.split for r in koniq.load(root)] == ["train", "train", "val", "test", "train", "test"]
    assert all(r.split is None for r in koniq.load(root, official=False))


def test_detected_and_higher_is_better(tmp_path: Path, make_koniq) -> None:
    root = make_koniq(tmp_path)
    assert datasets.detect(tmp_path) == "koniq10k"
    assert datasets.higher_is_better(root)
    assert koniq.LAYOUT.score_range == (1.0, 5.0)


@pytest.mark.parametrize(
    "row, message",
    [
        ("826373.jpg,0,0,0,0,0,0,nan,0,0", r":2: 'nan' is not a finite number"),
        ("826373.jpg,0,0,0,0,0,0,good,0,0", r":2: 'good' is not a number"),
        ("999.jpg,0,0,0,0,0,0,3.0,0,0", r":2: 999.jpg is not in"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, row: str, message: str, make_koniq) -> None:
    root = make_koniq(tmp_path, [row])
    with pytest.raises(ValueError, match=message):
        koniq.load(root)


def test_duplicate_and_bad_set_are_refused(tmp_path: Path, make_koniq) -> None:
    row = "826373.jpg,0,0,0,0,0,0,3.0,0,0"
    with pytest.raises(ValueError, match=":3: 826373.jpg is listed twice"):
        koniq.load(make_koniq(tmp_path / "a", [row, row]))
    with pytest.raises(ValueError, match=":2: set 'holdout' is not one of"):
        koniq.load(make_koniq(tmp_path / "b", [row], sets=["holdout"]))


def test_not_utf8_names_the_byte(tmp_path: Path, make_koniq) -> None:
    root = make_koniq(tmp_path)
    (root / koniq.SCORES).write_bytes(HEADER.encode() + b"\n\xff\xfe,1\n")
    with pytest.raises(ValueError, match=r"not UTF-8 text \(byte"):
        koniq.load(root)
