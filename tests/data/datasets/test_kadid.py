"""KADID-10k loader on a tiny copy of the published layout (2 references, 3 types, 2 levels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hyperimage.data.datasets import kadid
from hyperimage.data.io import save_image

REFS = ("I01.png", "I02.png")
DIST = [f"I{r:02d}_{t:02d}_{lv:02d}.png" for r in (1, 2) for t in (1, 10, 25) for lv in (1, 5)]
MOS = np.round(np.linspace(1.2, 4.8, len(DIST)), 3)


def make_kadid(parent: Path, name: str = "kadid10k") -> Path:
    """Write the KADID-10k layout; one distorted file is stored with a lower-case name."""
    root = parent / name
    (root / "images").mkdir(parents=True)
    for k, n in enumerate(REFS):
        save_image(root / "images" / n, np.full((6, 6, 3), 0.3 * k))
    for k, n in enumerate(DIST):
        save_image(root / "images" / (n.lower() if k == 3 else n), np.full((6, 6, 3), k / len(DIST)))
    rows = [f"{n},{n[:3]}.png,{m},{0.5 + k / 10:.1f}" for k, (n, m) in enumerate(zip(DIST, MOS))]
    (root / "dmos.csv").write_text("dist_img,ref_img,dmos,var\n" + "\n".join(rows) + "\n")
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_kadid(tmp_path)


def test_constants_state_direction_and_range() -> None:
    assert kadid.LAYOUT.higher_is_better is True
    assert kadid.LAYOUT.score_range == (1.0, 5.0)
    assert kadid.LAYOUT.name == "kadid10k"


def test_records_scores_types_levels(root: Path) -> None:
    records = kadid.load(root)
    assert len(records) == len(DIST)
    np.testing.assert_allclose([r.target for r in records], MOS)
    assert [(r.distortion, r.level) for r in records[:4]] == [("1", 1), ("1", 5), ("10", 1), ("10", 5)]
    assert [(r.distortion, r.level) for r in records[-2:]] == [("25", 1), ("25", 5)]
    assert records[2].extra["var"] == "0.7"
    assert all(r.path.is_file() for r in records)


def test_grouping_by_reference_and_case_insensitive_names(root: Path) -> None:
    records = kadid.load(root)
    assert [r.group for r in records] == ["I01"] * 6 + ["I02"] * 6
    assert all(r.reference.name == f"{r.group}.png" for r in records)
    assert records[3].path.name == "i01_10_05.png"


def test_select_types(root: Path) -> None:
    assert {r.distortion for r in kadid.load(root, distortions=[25])} == {"25"}
    with pytest.raises(ValueError, match=r"no distortion type\(s\) \[26\]"):
        kadid.load(root, distortions=[26])


def test_parent_folder_and_looks_like(tmp_path: Path, root: Path) -> None:
    assert kadid.looks_like(root) and kadid.looks_like(tmp_path)
    assert len(kadid.load(tmp_path)) == len(DIST)
    assert not kadid.looks_like(root / "images")
    make_kadid(tmp_path, "copy")
    assert not kadid.looks_like(tmp_path)
    with pytest.raises(ValueError, match="holds several KADID-10k copies"):
        kadid.load(tmp_path)


def test_broken_layouts_are_clear_errors(root: Path) -> None:
    (root / "dmos.csv").write_text("image,score\nI01_01_01.png,3\n")
    with pytest.raises(ValueError, match="no column.*dist_img, ref_img, dmos"):
        kadid.load(root)
    rows = ["dist_img,ref_img,dmos,var", "I01_01_01.png,I01.png,3.1,0.2", "I09_01_01.png,I09.png,2,0.1"]
    (root / "dmos.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"dmos.csv:3: I09_01_01.png is not in images/"):
        kadid.load(root)
    (root / "dmos.csv").write_text("dist_img,ref_img,dmos,var\nI01_01_01.png,I01.png,3,0\nI01_30_01.png,I01.png,2,0\n")
    with pytest.raises(ValueError, match=r"dmos.csv:3: expected an image like .*got 'I01_30_01.png,I01.png,2,0'"):
        kadid.load(root)
    (root / "dmos.csv").write_text("dist_img,ref_img,dmos,var\nI01_01_01.png,I01.png,n/a,0.2\n")
    with pytest.raises(ValueError, match=r"dmos.csv:2: dmos: 'n/a' is not a number"):
        kadid.load(root)
    (root / "dmos.csv").unlink()
    with pytest.raises(ValueError, match=r"not a KADID-10k folder \(missing dmos.csv\)"):
        kadid.load(root)
