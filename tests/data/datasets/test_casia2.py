"""CASIA v2 loader on a tiny copy of the published layout, and the paper's mask derivation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.filters import gaussian

from hyperimage.data.datasets import casia2
from hyperimage.data.io import save_image

AU = ("Au_ani_00001.jpg", "Au_ani_00002.jpg", "Au_arc_00010.jpg", "Au_txt_00020.bmp", "Au_nat_00030.jpg")
TP = (
    "Tp_D_CNN_M_N_ani00001_arc00010_10001.jpg",  # splice: ani00001 into arc00010
    "Tp_S_NRN_S_N_ani00002_ani00002_10002.tif",  # copy-move within ani00002
    "Tp_D_NRN_S_N_arc00010_txt00020_10003.JPG",  # chains txt00020 to the first group
    "Tp_D_CRN_M_B_sec00099_ani00002_10004.jpg",  # donor not in Au/
)
BAD = ("Tp_X_NNN_N_N_ani00001_ani00002_1.jpg", "holiday.jpg")


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth random RGB image, a stand-in for a photo."""
    return np.clip(gaussian(rng.random((h, w, 3)), sigma=3, channel_axis=2) * 3 - 1, 0, 1)


def make_casia(parent: Path, name: str = "CASIA2") -> Path:
    """Write the CASIA v2 layout: Au/, Tp/ with the published naming, plus misnamed files.

    Masks can be derived for TP[0] and TP[2] (unrelated textures), not for TP[1] (identical to
    its host) nor TP[3] (another size than its host).
    """
    rng = np.random.default_rng(0)
    root = parent / name
    (root / "Au").mkdir(parents=True)
    (root / "Tp").mkdir()
    flat = np.full((12, 16, 3), 0.5)
    for n in AU:
        save_image(root / "Au" / n, flat if n == "Au_ani_00002.jpg" else texture(rng, 12, 16))
    save_image(root / "Tp" / TP[1], flat)
    save_image(root / "Tp" / TP[3], texture(rng, 16, 12))
    for n in (TP[0], TP[2], *BAD):
        save_image(root / ("Au" if n == "holiday.jpg" else "Tp") / n, texture(rng, 12, 16))
    (root / "Au" / "Thumbs.db").write_bytes(b"not an image")
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_casia(tmp_path)


def load_quietly(root: Path, **kwargs) -> list:
    with pytest.warns(UserWarning, match="skipped 2 image file"):
        return casia2.load(root, **kwargs)


def test_constants_state_the_class_convention() -> None:
    assert (casia2.AUTHENTIC, casia2.TAMPERED) == (1.0, 0.0)
    assert casia2.LAYOUT.higher_is_better is True and casia2.LAYOUT.score_range == (0.0, 1.0)
    assert casia2.LAYOUT.name == "casia2"


def test_records_labels_kinds_and_flags(root: Path) -> None:
    records = load_quietly(root)
    assert len(records) == len(AU) + len(TP)
    authentic, tampered = records[: len(AU)], records[len(AU) :]
    assert [r.path.name for r in authentic] == sorted(AU)
    assert all(r.target == 1.0 and r.distortion is None for r in authentic)
    assert [r.path.name for r in tampered] == sorted(TP)
    assert all(r.target == 0.0 for r in tampered)
    by_name = {r.path.name: r for r in tampered}
    first = by_name[TP[0]]
    assert (first.distortion, first.extra["flags"], first.extra["donor"], first.extra["host"]) == (
        "splicing",
        "CNN_M_N",
        "ani00001",
        "arc00010",
    )
    assert by_name[TP[1]].distortion == "copy-move"
    assert first.reference == root / "Au" / "Au_arc_00010.jpg"
    assert by_name[TP[2]].reference.name == "Au_txt_00020.bmp"  # upper-case .JPG read, .bmp host found


def test_grouping_keeps_donor_host_and_authentic_together(root: Path) -> None:
    group = {r.path.name: r.group for r in load_quietly(root)}
    chain = {group[n] for n in ("Au_ani_00001.jpg", "Au_arc_00010.jpg", "Au_txt_00020.bmp", TP[0], TP[2])}
    assert chain == {"ani00001"}
    assert {group[n] for n in ("Au_ani_00002.jpg", TP[1], TP[3])} == {"ani00002"}
    assert group["Au_nat_00030.jpg"] == "nat00030"
    assert len(set(group.values())) == 3


def test_source_groups_directly() -> None:
    groups = casia2.source_groups([("b", "c"), ("a", "a"), ("c", "d"), ("e", "e")])
    assert groups == {"a": "a", "b": "b", "c": "b", "d": "b", "e": "e"}
    assert casia2.source_groups([]) == {}


def test_misnamed_files_are_skipped_with_a_count(tmp_path: Path, root: Path) -> None:
    with pytest.warns(UserWarning, match=r"skipped 2 image file\(s\) .* e\.g\. holiday\.jpg"):
        casia2.load(root)


def test_masks_from_gt_folder_or_argument(tmp_path: Path, root: Path) -> None:
    (root / "Gt").mkdir()
    save_image(root / "Gt" / f"{Path(TP[0]).stem}_gt.png", np.zeros((12, 16)))
    records = load_quietly(root)
    masks = {r.path.name: r.mask for r in records}
    assert masks[TP[0]] == root / "Gt" / f"{Path(TP[0]).stem}_gt.png"
    assert sum(m is not None for m in masks.values()) == 1
    other = tmp_path / "masks"
    other.mkdir()
    save_image(other / f"{Path(TP[1]).stem.upper()}_GT.PNG", np.zeros((12, 16)))
    masks = {r.path.name: r.mask for r in load_quietly(root, masks=other)}
    assert masks[TP[1]] is not None and masks[TP[0]] is None
    with pytest.raises(ValueError, match="no such mask folder"):
        casia2.load(root, masks=tmp_path / "absent")


def test_parent_folder_looks_like_and_broken_layout(tmp_path: Path, root: Path) -> None:
    assert casia2.looks_like(root) and casia2.looks_like(tmp_path)
    assert len(load_quietly(tmp_path)) == len(AU) + len(TP)
    assert not casia2.looks_like(root / "Au")
    (root / "Tp").rename(root / "Tampered")
    assert not casia2.looks_like(root)
    with pytest.raises(ValueError, match=r"not a CASIA v2 folder \(missing Tp/\)"):
        casia2.load(root)


def pasted_pair(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A host photo and its forgery (a pasted rectangle), saved as JPEGs of different quality."""
    rng = np.random.default_rng(1)
    host = texture(rng, 96, 128)
    truth = np.zeros((96, 128), bool)
    truth[30:70, 40:100] = True
    forged = host.copy()
    forged[truth] = 1.0 - texture(rng, 96, 128)[truth]
    for name, image, quality in (("a.jpg", host, 90), ("t.jpg", forged, 75)):
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(tmp_path / name, quality=quality)
    return tmp_path / "t.jpg", tmp_path / "a.jpg", truth


def test_derive_mask_recovers_a_pasted_rectangle(tmp_path: Path) -> None:
    tampered, authentic, truth = pasted_pair(tmp_path)
    mask = casia2.derive_mask(tampered, authentic)
    assert mask.dtype == bool and mask.shape == truth.shape
    assert (mask & truth).sum() / (mask | truth).sum() > 0.8
    same = casia2.derive_mask(authentic, authentic)
    assert same is None


def test_derive_mask_size_mismatch_gives_none(tmp_path: Path) -> None:
    assert casia2.derive_mask(np.zeros((10, 12, 3)), np.zeros((12, 10, 3))) is None
    square = np.pad(np.ones((10, 10, 3)), ((5, 5), (5, 5), (0, 0)))
    gray = casia2.derive_mask(np.zeros((20, 20)), square, sigma=0, radius=0)  # gray against RGB
    assert gray is not None and gray[5:15, 5:15].all() and gray.sum() == 100


def test_write_derived_masks_counts_and_round_trips(tmp_path: Path, root: Path) -> None:
    tampered, authentic, truth = pasted_pair(tmp_path)
    (root / "Au" / "Au_pla_00050.jpg").write_bytes(authentic.read_bytes())
    stem = "Tp_D_NNN_S_N_ani00001_pla00050_10005"
    (root / "Tp" / f"{stem}.jpg").write_bytes(tampered.read_bytes())
    with pytest.warns(UserWarning, match="skipped 2"):
        written = casia2.write_derived_masks(root, tmp_path / "derived")
    assert written == 3  # TP[0], TP[2] and the new one; TP[1] is its host, TP[3] has another size
    assert sorted(p.name for p in (tmp_path / "derived").iterdir()) == sorted(
        f"{Path(n).stem}_gt.png" for n in (TP[0], TP[2], f"{stem}.jpg")
    )
    record = {r.path.stem: r for r in load_quietly(root, masks=tmp_path / "derived")}[stem]
    mask = np.asarray(Image.open(record.mask)) > 127
    assert (mask & truth).sum() / (mask | truth).sum() > 0.8


def test_derive_mask_cleanup_drops_specks_and_is_deterministic(tmp_path: Path) -> None:
    speck = np.zeros((64, 64, 3))
    speck[10:12, 10:12] = 1.0
    assert casia2.derive_mask(speck, np.zeros((64, 64, 3)), sigma=0, radius=0, min_fraction=0.01) is None
    assert casia2.derive_mask(speck, np.zeros((64, 64, 3)), sigma=0, radius=0, min_fraction=0.0) is not None
    tampered, authentic, _ = pasted_pair(tmp_path)
    np.testing.assert_array_equal(casia2.derive_mask(tampered, authentic), casia2.derive_mask(tampered, authentic))
