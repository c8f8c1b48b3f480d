"""CASIA v1.0 loader on a tiny copy of the published layout with community masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hyperimage.data import datasets
from hyperimage.data.datasets import casia1
from hyperimage.data.datasets.records import mask_count
from hyperimage.data.io import save_image

AU = ["Au_ani_0001.jpg", "Au_ani_0002.jpg", "Au_pla_0005.jpg", "Au_pla_0023.jpg", "Au_sec_0015.jpg"]
SP = [
    "Sp_D_CND_A_pla0005_pla0023_0281.jpg",  # mask of the same name (RGB)
    "Sp_D_NRN_A_ani0001_ani0002_0404.jpg",  # mask names donor and host the other way round (RGBA)
    "Sp_S_NNN_A_sec0015_sec0015_0004.jpg",  # mask of the same name (L), in CM/
    "Sp_S_NNN_R_ani0002_ani0002_0004.jpg",  # trailing number shared with another copy-move: no loose match
    "Sp_D_NNN_A_ani0002_ani0001.0288.jpg",  # misnamed in the release: skipped
]


def make_casia1(parent: Path) -> Path:
    root = parent / "CASIA1"
    for d in ("Au", "Sp"):
        (root / d).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in AU:
        save_image(root / "Au" / name, rng.random((16, 24, 3)))
    for name in SP:
        save_image(root / "Sp" / name, rng.random((16, 24, 3)))
    gt = root / casia1.MASKS
    (gt / "Sp").mkdir(parents=True)
    (gt / "CM").mkdir()
    mask = np.zeros((16, 24), np.uint8)
    mask[4:10, 6:14] = 255
    Image.fromarray(np.stack([mask] * 3, -1)).save(gt / "Sp" / "Sp_D_CND_A_pla0005_pla0023_0281_gt.png")
    Image.fromarray(np.dstack([mask] * 3 + [np.full_like(mask, 255)])).save(gt / "Sp" / "Sp_D_NRN_A_ani0002_ani0001_0404_gt.png")
    Image.fromarray(mask).save(gt / "CM" / "Sp_S_NNN_A_sec0015_sec0015_0004_gt.png")
    Image.fromarray(mask).save(gt / "CM" / "Sp_S_NNN_T_txt0004_txt0004_0004_gt.png")  # a different image's mask
    (gt / "Splicing_groundtruth_list.txt").write_text("Sp_D_CND_A_pla0005_pla0023_0281_gt.png\r\n")
    return root


def test_records_labels_groups_and_hosts(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="skipped 1 image file"):
        records = casia1.load(make_casia1(tmp_path))
    authentic = [r for r in records if r.target == 1.0]
    tampered = {r.path.name: r for r in records if r.target == 0.0}
    assert [r.path.name for r in authentic] == AU
    assert set(tampered) == set(SP[:4])
    spliced = tampered[SP[0]]
    assert spliced.distortion == "splicing" and spliced.reference.name == "Au_pla_0023.jpg"
    assert spliced.group == authentic[2].group == authentic[3].group  # donor pla0005 and host pla0023
    assert tampered[SP[2]].distortion == "copy-move"


def test_masks_by_name_then_by_loose_key(tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        records = casia1.load(make_casia1(tmp_path))
    masks = {r.path.name: r.mask for r in records if r.target == 0.0}
    assert masks[SP[0]].name == "Sp_D_CND_A_pla0005_pla0023_0281_gt.png"
    assert masks[SP[1]].name == "Sp_D_NRN_A_ani0002_ani0001_0404_gt.png"
    assert masks[SP[2]].parent.name == "CM"
    assert masks[SP[3]] is None  # flags differ from the only unused mask with number 0004
    assert mask_count(records) == (3, 4)


def test_detected_as_casia1_and_trained_with_the_forgery_preset(tmp_path: Path) -> None:
    make_casia1(tmp_path)
    assert datasets.detect(tmp_path) == "casia1"
    assert datasets.layout(tmp_path).preset == "forgery"


def test_mask_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such mask folder"):
        casia1.load(make_casia1(tmp_path), masks=tmp_path / "nowhere")
