"""LIVE Release 2 loader on a tiny copy of the published layout (2 references, 12 entries)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from hyperimage.data.datasets import live
from hyperimage.data.io import save_image

SIZES = {"jp2k": 3, "jpeg": 3, "wn": 2, "gblur": 2, "fastfading": 2}
REFS = ("bikes.bmp", "caps.bmp")
N = sum(SIZES.values())
ORGS = np.zeros(N)
ORGS[[0, 6]] = 1  # jp2k/img1.bmp and wn/img1.bmp are undistorted copies
DMOS = np.where(ORGS == 1, 0.0, 10.0 + 5.0 * np.arange(N))


def make_live(parent: Path, name: str = "databaserelease2", *, refnames: bool = True, info: bool = True) -> Path:
    """Write the LIVE layout: entry i of folder f is img<i>.bmp made from REFS[i % 2]."""
    root = parent / name
    (root / "refimgs").mkdir(parents=True)
    for k, ref in enumerate(REFS):
        save_image(root / "refimgs" / ref, np.full((8, 8, 3), 0.2 + 0.5 * k))
    refnames_all = []
    for folder, n in SIZES.items():
        (root / folder).mkdir()
        lines = []
        for i in range(1, n + 1):
            save_image(root / folder / f"img{i}.bmp", np.full((8, 8, 3), i / 10))
            refnames_all.append(REFS[i % 2])
            lines.append(f"{REFS[i % 2]} img{i}.bmp {i * 0.5}")
        if info:
            (root / folder / "info.txt").write_text("\r\n".join(lines[::-1]) + "\r\n\r\n")
    scipy.io.savemat(root / "dmos.mat", {"dmos": DMOS[None], "orgs": ORGS[None]})
    scipy.io.savemat(
        root / "dmos_realigned.mat", {"dmos_new": DMOS[None] + 1.5, "orgs": ORGS[None], "dmos_std": np.ones((1, N))}
    )
    if refnames:
        cells = np.empty((1, N), dtype=object)
        cells[0, :] = [r.upper() if i == 1 else r for i, r in enumerate(refnames_all)]  # case differs once
        scipy.io.savemat(root / "refnames_all.mat", {"refnames_all": cells})
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_live(tmp_path)


def test_constants_state_direction_and_range() -> None:
    assert live.LAYOUT.higher_is_better is False
    assert live.LAYOUT.score_range == (0.0, 100.0)
    assert live.LAYOUT.name == "live"


def test_drops_undistorted_copies_and_keeps_dmos_order(root: Path) -> None:
    records = live.load(root)
    assert len(records) == N - 2
    kept = np.flatnonzero(ORGS == 0)
    np.testing.assert_allclose([r.target for r in records], DMOS[kept])
    assert [r.extra["index"] for r in records] == [str(i + 1) for i in kept]
    assert all("undistorted" not in r.extra for r in records)


def test_keep_originals(root: Path) -> None:
    records = live.load(root, keep_originals=True)
    assert len(records) == N
    assert [r.extra.get("undistorted") for r in records[:2]] == ["true", None]
    assert records[6].path.name == "img1.bmp" and records[6].distortion == "wn" and records[6].target == 0.0


def test_folder_order_types_and_parameters(root: Path) -> None:
    records = live.load(root, keep_originals=True)
    assert [r.distortion for r in records] == [d for d, n in SIZES.items() for _ in range(n)]
    assert [r.path.name for r in records[3:6]] == ["img1.bmp", "img2.bmp", "img3.bmp"]
    assert records[4].path.parent.name == "jpeg"
    assert records[4].extra["parameter"] == "1.0"
    assert all(r.level is None for r in records)


def test_grouping_by_reference(root: Path) -> None:
    records = live.load(root)
    assert {r.group for r in records} == {"bikes", "caps"}
    for r in records:
        number = int(r.path.stem[3:])
        assert r.group == Path(REFS[number % 2]).stem
        assert r.reference == root / "refimgs" / REFS[number % 2]


def test_realigned_scores(root: Path) -> None:
    records = live.load(root, realigned=True)
    np.testing.assert_allclose([r.target for r in records], DMOS[ORGS == 0] + 1.5)
    assert records[0].extra["dmos_std"] == "1.0"


def test_references_from_info_txt_without_refnames_mat(tmp_path: Path) -> None:
    root = make_live(tmp_path, refnames=False)
    assert [r.group for r in live.load(root)] == [r.group for r in live.load(make_live(tmp_path / "b"))]


def test_without_info_or_refnames_is_a_clear_error(tmp_path: Path) -> None:
    root = make_live(tmp_path, refnames=False, info=False)
    with pytest.raises(ValueError, match="no refnames_all.mat or info.txt"):
        live.load(root)


@pytest.mark.parametrize("name", ["databaserelease2", "LIVEIQA_release2"])
def test_accepts_root_names_and_parent_folder(tmp_path: Path, name: str) -> None:
    root = make_live(tmp_path, name)
    assert live.looks_like(root) and live.looks_like(tmp_path)
    assert [r.path for r in live.load(tmp_path)] == [r.path for r in live.load(root)]


def test_looks_like_false_elsewhere(tmp_path: Path, root: Path) -> None:
    assert not live.looks_like(tmp_path / "nowhere")
    assert not live.looks_like(root / "jp2k")
    (tmp_path / "other").mkdir()
    assert not live.looks_like(tmp_path / "other")


def test_missing_folder_is_a_clear_error(root: Path) -> None:
    for p in (root / "gblur").iterdir():
        p.unlink()
    (root / "gblur").rmdir()
    assert not live.looks_like(root)
    with pytest.raises(ValueError, match=r"not a LIVE Release 2 folder \(missing gblur/\)"):
        live.load(root)


def test_score_count_must_match_images(root: Path) -> None:
    save_image(root / "wn" / "img3.bmp", np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"12 dmos, 12 orgs entries, but the folders hold 13 images \(.*wn 3"):
        live.load(root)


def test_gap_in_numbering_is_a_clear_error(root: Path) -> None:
    (root / "jpeg" / "img2.bmp").unlink()
    with pytest.raises(ValueError, match=r"jpeg: images are not numbered img1.bmp..img2.bmp"):
        live.load(root)


def test_matlab_v73_is_refused_clearly(root: Path) -> None:
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + bytes(8) + b"\x00\x02IM"
    (root / "dmos.mat").write_bytes(header + bytes(64))
    with pytest.raises(ValueError, match="v7.3"):
        live.load(root)


def test_realigned_without_its_file(root: Path) -> None:
    (root / "dmos_realigned.mat").unlink()
    with pytest.raises(ValueError, match="dmos_realigned.mat"):
        live.load(root, realigned=True)
