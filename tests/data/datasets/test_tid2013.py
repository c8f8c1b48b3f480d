"""TID2013 loader on a tiny copy of the published layout (3 references, 4 types, 2 levels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hyperimage.data.datasets import tid2013
from hyperimage.data.io import save_image

REFS = (1, 2, 25)
TYPES = (1, 8, 14, 15)
LEVELS = (1, 3)
NAMES = [f"i{r:02d}_{t:02d}_{lv}.bmp" for r in REFS for t in TYPES for lv in LEVELS]
MOS = np.round(np.linspace(1.0, 8.0, len(NAMES)), 4)


def make_tid(parent: Path, name: str = "tid2013", *, std: bool = True) -> Path:
    """Write the TID2013 layout with the published letter-case mix (I01.BMP beside i25.bmp)."""
    root = parent / name
    (root / "reference_images").mkdir(parents=True)
    (root / "distorted_images").mkdir()
    for r in REFS:
        save_image(root / "reference_images" / (f"I{r:02d}.BMP" if r < 25 else f"i{r}.bmp"), np.full((6, 6, 3), r / 30))
    for k, n in enumerate(NAMES):
        on_disk = n.upper() if k % 3 == 0 else n  # case varies between copies
        save_image(root / "distorted_images" / on_disk, np.full((6, 6, 3), k / len(NAMES)))
    (root / "mos_with_names.txt").write_text("".join(f"{m:.4f} {n}\r\n" for m, n in zip(MOS, NAMES)) + "\n")
    if std:
        (root / "mos_std.txt").write_text("".join(f"{0.1 + k / 100:.2f}\n" for k in range(len(NAMES))))
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_tid(tmp_path)


def test_constants_state_direction_and_range() -> None:
    assert tid2013.LAYOUT.higher_is_better is True
    assert tid2013.LAYOUT.score_range == (0.0, 9.0)
    assert tid2013.LAYOUT.name == "tid2013"
    assert tid2013.DISTORTION_NAMES[14] == "non-eccentricity pattern noise"
    assert tid2013.DISTORTION_NAMES[15].startswith("local block-wise")
    assert len(tid2013.DISTORTION_NAMES) == 24


def test_records_scores_and_parsed_fields(root: Path) -> None:
    records = tid2013.load(root)
    assert len(records) == len(NAMES)
    np.testing.assert_allclose([r.target for r in records], MOS)
    assert [r.path.name.lower() for r in records] == NAMES
    assert all(r.path.is_file() for r in records)
    r = records[5]  # i01_14_3.bmp
    assert (r.distortion, r.level, r.group) == ("14", 3, "I01")
    assert r.extra["distortion_name"] == "non-eccentricity pattern noise"
    assert r.extra["mos_std"] == "0.15"


def test_case_insensitive_names_and_grouping(root: Path) -> None:
    records = tid2013.load(root)
    assert records[0].path.name == "I01_01_1.BMP"
    assert {r.group for r in records} == {"I01", "I02", "I25"}
    for r in records:
        assert r.reference.name.lower() == f"{r.group.lower()}.bmp"
        assert r.path.name.lower().startswith(r.group.lower())
    assert records[-1].reference.name == "i25.bmp"


def test_select_types_and_exclude_reference_25(root: Path) -> None:
    four = tid2013.load(root, distortions=tid2013.SHARED_WITH_LIVE)
    assert {r.distortion for r in four} == {"1", "8"}
    six = tid2013.load(root, distortions=tid2013.SHARED_WITH_LIVE + tid2013.NON_UNIFORM, exclude_synthetic=True)
    assert len(six) == 2 * len(TYPES) * len(LEVELS)
    assert "I25" not in {r.group for r in six}
    with pytest.raises(ValueError, match=r"no distortion type\(s\) \[25\]"):
        tid2013.load(root, distortions=[1, 25])


def test_mos_std_optional(tmp_path: Path) -> None:
    records = tid2013.load(make_tid(tmp_path, std=False))
    assert len(records) == len(NAMES) and "mos_std" not in records[0].extra


def test_parent_folder_and_looks_like(tmp_path: Path, root: Path) -> None:
    assert tid2013.looks_like(root) and tid2013.looks_like(tmp_path)
    assert [r.path for r in tid2013.load(tmp_path)] == [r.path for r in tid2013.load(root)]
    assert not tid2013.looks_like(root / "distorted_images")
    assert not tid2013.looks_like(tmp_path / "absent")


def test_broken_layout_is_a_clear_error(root: Path) -> None:
    (root / "mos_with_names.txt").rename(root / "mos.txt")
    assert not tid2013.looks_like(root)
    with pytest.raises(ValueError, match=r"not a TID2013 folder \(missing mos_with_names.txt\)"):
        tid2013.load(root)


def test_missing_image_and_bad_line(root: Path) -> None:
    (root / "distorted_images" / "i01_01_3.bmp").unlink()
    with pytest.raises(ValueError, match=r"mos_with_names.txt:2: i01_01_3.bmp is not in distorted_images/"):
        tid2013.load(root)
    (root / "mos_std.txt").unlink()
    (root / "mos_with_names.txt").write_text("4.5 i01_01_1.bmp\nfour i01_08_1.bmp\n")
    with pytest.raises(ValueError, match=r"mos_with_names.txt:2: 'four' is not a number"):
        tid2013.load(root)
    (root / "mos_with_names.txt").write_text("4.5 i01_01_1.bmp\n4.5 i01_30_1.bmp\n")
    with pytest.raises(ValueError, match=r":2: expected 'MOS iNN_TT_L.bmp'"):
        tid2013.load(root)


def test_std_length_must_match(root: Path) -> None:
    (root / "mos_std.txt").write_text("0.1\n0.2\n")
    with pytest.raises(ValueError, match=r"mos_std.txt: 2 values for the 24 lines"):
        tid2013.load(root)
