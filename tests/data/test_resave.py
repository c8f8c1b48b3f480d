"""Re-saving a data set's JPEGs alike (``benchmark forgery --resave``): one set of tables for all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from hyperimage.cli import app
from hyperimage.data.resave import resave


def _tables(path: Path) -> dict:
    with Image.open(path) as im:
        return dict(im.quantization)


@pytest.fixture
def saved_unlike(tmp_path: Path) -> Path:
    """Authentic JPEGs at quality 95, tampered ones at 70 (CASIA v1's header split), a mask PNG, a broken JPEG."""
    root = tmp_path / "set"
    rng = np.random.default_rng(0)
    for folder, quality in (("Au", 95), ("Sp", 70)):
        (root / folder).mkdir(parents=True)
        for k in range(2):
            pixels = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / folder / f"{folder}_{k}.jpg", quality=quality)
    (root / "masks").mkdir()
    Image.fromarray(np.zeros((24, 32), np.uint8)).save(root / "masks" / "Sp_0_gt.png")
    (root / "Sp" / "Sp_broken.jpg").write_bytes((root / "Sp" / "Sp_0.jpg").read_bytes()[:20])
    return root


def test_every_jpeg_gets_the_same_tables_other_files_are_copied(saved_unlike: Path, tmp_path: Path, capsys) -> None:
    assert _tables(saved_unlike / "Au" / "Au_0.jpg") != _tables(saved_unlike / "Sp" / "Sp_0.jpg")
    out = resave(saved_unlike, tmp_path / "q90", 90)
    jpegs = sorted(out.rglob("*.jpg"))
    assert [p.name for p in jpegs] == ["Au_0.jpg", "Au_1.jpg", "Sp_0.jpg", "Sp_1.jpg"]
    assert all(_tables(p) == _tables(jpegs[0]) for p in jpegs)
    with Image.open(jpegs[0]) as im, Image.open(saved_unlike / "Au" / "Au_0.jpg") as before:
        assert im.size == before.size and im.mode == "RGB"
    assert (out / "masks" / "Sp_0_gt.png").read_bytes() == (saved_unlike / "masks" / "Sp_0_gt.png").read_bytes()
    assert "Sp_broken.jpg: not re-saved, left out" in capsys.readouterr().err
    assert not (tmp_path / "q90.partial").exists()


def test_a_finished_copy_is_reused_and_a_partial_one_redone(saved_unlike: Path, tmp_path: Path) -> None:
    out = resave(saved_unlike, tmp_path / "q90", 90)
    stamp = (out / "Au" / "Au_0.jpg").stat().st_mtime_ns
    assert resave(saved_unlike, out, 90) == out and (out / "Au" / "Au_0.jpg").stat().st_mtime_ns == stamp
    (tmp_path / "q75.partial" / "Au").mkdir(parents=True)
    (tmp_path / "q75.partial" / "Au" / "stale.jpg").write_bytes(b"half")
    redone = resave(saved_unlike, tmp_path / "q75", 75)
    assert not (redone / "Au" / "stale.jpg").exists() and (redone / "Au" / "Au_0.jpg").is_file()


@pytest.mark.parametrize("quality", [0, 101])
def test_quality_outside_jpeg_range_is_refused(saved_unlike: Path, tmp_path: Path, quality: int) -> None:
    with pytest.raises(ValueError, match="JPEG quality must be 1-100"):
        resave(saved_unlike, tmp_path / "out", quality)


def test_benchmark_forgery_resave_needs_data_and_a_quality() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["benchmark", "forgery", "--quick", "--resave", "90"])
    assert res.exit_code == 2 and "--resave needs --data" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["benchmark", "forgery", "--quick", "--resave", "0", "--data", "x"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_benchmark_forgery_resave_names_a_missing_folder(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["benchmark", "forgery", "--quick", "--resave", "90", "--data", str(tmp_path / "nope"), "--cache", str(tmp_path)])
    assert res.exit_code == 2 and "nope: no such folder to re-save" in res.output
