"""Tampering made on the fly: seeded, exact masks, authentic twins saved alike, implementations left out."""

import numpy as np
import pytest
from scipy import ndimage

from hyperimage.data.generators.tamper_stream import (
    IMPLEMENTATIONS, StreamConfig, TamperStream, jpeg_round_trip, noise_level,
)
from hyperimage.data.generators.tampering import TamperConfig, tamper_image
from hyperimage.data.photos import builtin_photos


@pytest.fixture(scope="module")
def photos():
    return [a for _, a in builtin_photos()]


def test_a_forgery_depends_on_seed_and_index_alone(photos):
    stream = TamperStream(photos, StreamConfig(size=96), seed=3)
    later = stream[7]
    stream.draw(0, 7)
    again = TamperStream(photos, StreamConfig(size=96), seed=3)[7]
    assert np.array_equal(later.tampered, again.tampered) and np.array_equal(later.mask, again.mask)
    assert later.info == again.info
    other = TamperStream(photos, StreamConfig(size=96), seed=4)[7]
    assert not np.array_equal(later.tampered, other.tampered)


def test_tampered_and_authentic_twins_differ_only_where_the_edit_and_its_blocks_reach(photos):
    stream = TamperStream(photos, StreamConfig(size=96), seed=0)
    kinds, finals = set(), set()
    for forgery in stream.draw(0, 40):
        assert forgery.tampered.shape == forgery.authentic.shape == (96, 96, 3)
        assert forgery.tampered.dtype == np.uint8 and forgery.mask.any()
        changed = (forgery.tampered != forgery.authentic).any(axis=2)
        magic = b"\x89PNG" if forgery.info["final"] == "png" else b"\xff\xd8"
        assert all(f.startswith(magic) for f in forgery.files)  # the files as saved, for readers of the file
        kinds.add(forgery.info["kind"])
        finals.add(forgery.info["final"].split(":")[0])
        if forgery.info["final"] == "png":  # lossless: exactly the host outside the mask
            assert not changed[~forgery.mask].any()
        else:  # a JPEG re-codes the 16 x 16 blocks (4:2:0) the mask touches; chroma upsampling spreads a pixel
            blocks = np.kron(forgery.mask.reshape(6, 16, 6, 16).any(axis=(1, 3)), np.ones((16, 16), bool))
            assert not changed[~ndimage.binary_dilation(blocks, np.ones((3, 3), bool))].any()
    assert kinds == {"splicing", "copy_move", "removal"} and finals == {"png", "jpeg"}


def test_left_out_implementations_are_never_used(photos):
    config = StreamConfig(size=96).without("telea", "navier-stokes", "opencv", "poisson")
    assert config.implementations == {"inpaint": ("biharmonic",), "blend": ("alpha",), "jpeg": ("pillow",)}
    infos = [f.info for f in TamperStream(photos, config, seed=1).draw(0, 30)]
    assert all(i.get("inpaint", "biharmonic") == "biharmonic" and i["seam"] != "poisson" for i in infos)
    assert not any("opencv" in i["final"] or "opencv" in i["camera"] for i in infos)
    assert any(i["kind"] == "removal" for i in infos)


def test_every_step_has_two_implementations_and_none_can_be_left_without_one():
    assert all(len(names) >= 2 for names in IMPLEMENTATIONS.values())
    with pytest.raises(ValueError, match="jpeg"):
        StreamConfig().without("pillow", "opencv")
    with pytest.raises(ValueError, match="unknown implementations"):
        StreamConfig().without("photoshop")


def test_the_stream_refuses_too_few_or_too_small_photos(photos):
    with pytest.raises(ValueError, match="at least 2 photos"):
        TamperStream(photos[:1])
    with pytest.raises(ValueError, match="smaller than"):
        TamperStream([p[:100, :100] for p in photos], StreamConfig(size=128))


def test_poisson_blending_changes_only_the_region(photos):
    host, donor = photos[0][:128, :128], photos[1][:160, :160]
    for kind in ("splicing", "copy_move"):
        made = tamper_image(host, kind, np.random.default_rng(0), donor, TamperConfig(blend="poisson"))
        assert made.info["seam"] == "poisson"
        assert np.array_equal(made.image[~made.mask], host[~made.mask]) and float(made.info["change"]) > 0.01


def test_both_jpeg_encoders_round_trip_at_the_asked_quality(photos):
    pixels = np.rint(photos[0][:64, :64] * 255).astype(np.uint8)
    for encoder in IMPLEMENTATIONS["jpeg"]:
        coarse, fine = (jpeg_round_trip(pixels, q, encoder) for q in (20, 95))
        assert np.abs(fine.astype(int) - pixels).mean() < np.abs(coarse.astype(int) - pixels).mean()


def test_noise_level_reads_white_noise():
    noisy = 0.5 + np.random.default_rng(0).normal(0.0, 0.03, (128, 128))
    assert noise_level(noisy) == pytest.approx(0.03, rel=0.1)
    assert noise_level(np.full((64, 64, 3), 0.5)) == 0.0
