"""Tests of archive scoring (hyperimage.inference.scoring): lazy walk, output and resume, workers, shards, SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hyperimage import presets
from hyperimage.data import io as hio
from hyperimage.inference.model import HyperImageModel
from hyperimage.inference.scoring import ModelFiles, merge_parts, part_file, read_rows, score_archive, score_files

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def model() -> HyperImageModel:
    torch.manual_seed(0)
    return HyperImageModel(presets.get("synthetic")).eval()


def write_images(folder: Path, n: int, seed: int = 0, size: int = 64) -> list[Path]:
    """``n`` grey PNGs spread over ``folder``, ``folder/b`` and ``folder/b/c``; returns them in walk order."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        sub = folder / ["", "b", "b/c"][i % 3]
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{i:03d}.png"
        Image.fromarray((rng.random((size, size)) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return sorted(paths)


def assert_same_rows(path: Path, fmt: str, other: Path, other_fmt: str) -> None:
    """Same images in the same order, same scores up to the float rounding of another batch
    composition (oneDNN blocks a convolution by batch size) and of CSV's 6 decimals: two
    roundings of nearly equal floats can land 1e-6 apart, so the bound is 2e-6."""
    rows, others = list(read_rows(path, fmt)), list(read_rows(other, other_fmt))
    assert [i for i, *_ in rows] == [i for i, *_ in others]
    assert [float(s) for _, s, _ in rows] == pytest.approx([float(s) for _, s, _ in others], abs=2e-6)


def test_walk_is_sorted_like_all_paths_and_lazy(tmp_path, monkeypatch):
    for d in ("a", "a/x", "b", "b/y", "c"):
        (tmp_path / d).mkdir(parents=True)
    files = ["a/2.png", "a/x/1.JPG", "a/1.png", "b.png", "b/y/z.tif", "c/notes.txt", "a.png"]
    for f in files:
        (tmp_path / f).write_bytes(b"x")
    expected = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix.lower() in hio.IMAGE_SUFFIXES)
    assert list(hio.walk_images(tmp_path)) == expected
    scanned = []
    real = os.scandir
    monkeypatch.setattr(hio.os, "scandir", lambda p: scanned.append(Path(p)) or real(p))
    walk = hio.walk_images(tmp_path)
    assert next(walk) == tmp_path / "a" / "1.png"
    assert scanned == [tmp_path, tmp_path / "a"]  # b/ and c/ are not read before their turn


def test_output_resume_skips_rows_and_rewrites_a_truncated_last_line(tmp_path, model):
    images = write_images(tmp_path / "img", 7)
    full, out = tmp_path / "full.csv", tmp_path / "out.csv"
    summary = score_archive(model, [tmp_path / "img"], full, batch_size=3, workers=0)
    assert summary.rows == 7 and summary.errors == 0
    lines = full.read_text().splitlines(keepends=True)
    assert lines[0] == "image,score\n" and [row[0] for row in read_rows(full, "csv")] == list(map(str, images))
    out.write_text("".join(lines[:3]) + lines[3][:-9])  # two rows, then a half-written one (a kill)
    resumed = score_archive(model, [tmp_path / "img"], out, resume=True, batch_size=3, workers=0)
    assert (resumed.skipped, resumed.rows) == (2, 5)
    assert out.read_text().count("\n") == 8  # the header and 7 whole rows
    assert_same_rows(out, "csv", full, "csv")
    again = score_archive(model, [tmp_path / "img"], out, resume=True, workers=0)  # nothing left to do
    assert (again.skipped, again.rows) == (7, 0)
    assert_same_rows(out, "csv", full, "csv")
    json_out = tmp_path / "out.jsonl"
    score_archive(model, [tmp_path / "img"], json_out, fmt="json", workers=0)
    with pytest.raises(ValueError, match="not a CSV file"):
        score_archive(model, [tmp_path / "img"], json_out, fmt="csv", resume=True, workers=0)
    assert_same_rows(json_out, "json", full, "csv")


def test_a_bad_file_in_a_batch_with_workers_gives_one_error(tmp_path, model):
    images = write_images(tmp_path, 5)
    bad = tmp_path / "b" / "001.png"  # in the middle of the walk, sharing a batch with good files
    bad.write_bytes(b"not an image")
    serial = list(score_files(model, [tmp_path], batch_size=2, workers=0))
    parallel = list(score_files(model, [tmp_path], batch_size=2, workers=2))
    assert [p.path for p in parallel] == images
    assert [p.error is not None for p in parallel] == [p == bad for p in images]
    assert str(bad) in next(p.error for p in parallel if p.error)
    assert [p.score for p in parallel] == [p.score for p in serial]
    with torch.no_grad():
        direct = model.clip(model(torch.stack([torch.from_numpy(hio.load_image(images[0], "L"))[None]])))
    assert parallel[0].score == pytest.approx(float(direct[0]), abs=1e-5)  # a batch of 1, not 2: float32 rounding (1.2e-6 under AVX2)


def test_two_ranks_merge_into_the_one_process_output(tmp_path, model):
    images = write_images(tmp_path / "img", 9)
    (tmp_path / "img" / "b" / "004.png").write_bytes(b"broken")
    single, sharded = tmp_path / "single.jsonl", tmp_path / "sharded.jsonl"
    score_archive(model, [tmp_path / "img"], single, fmt="json", batch_size=2, workers=0)
    ranks: dict[int, object] = {}

    def run(rank: int) -> None:
        ranks[rank] = score_archive(model, [tmp_path / "img"], sharded, fmt="json", batch_size=2, workers=0, rank=rank, world=2)

    other = threading.Thread(target=run, args=(1,))
    other.start()  # rank 1 finishes and waits for rank 0's merge
    deadline = time.monotonic() + 30
    while not (tmp_path / "sharded.jsonl.part1.done").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert part_file(sharded, 1).is_file() and not sharded.exists() and other.is_alive()
    run(0)
    other.join(timeout=30)
    one, zero = ranks[1], ranks[0]
    assert zero.merged and not one.merged and one.rows + zero.rows == 8 and one.errors + zero.errors == 1
    assert_same_rows(sharded, "json", single, "json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img", "sharded.jsonl", "single.jsonl"]  # parts gone
    assert len(images) == 9


def test_sigint_keeps_complete_rows_and_resume_finishes_without_duplicates(tmp_path, model):
    model.save(tmp_path / "model")
    images = write_images(tmp_path / "img", 60)
    out = tmp_path / "out.csv"
    cmd = [sys.executable, "-m", "hyperimage.cli", "score", str(tmp_path / "model"), str(tmp_path / "img"),
           "--output", str(out), "--batch-size", "4", "--workers", "1"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while (not out.is_file() or out.read_text().count("\n") < 5) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    text = out.read_text()
    assert text.endswith("\n")
    kept = [row[0] for row in read_rows(out, "csv")]
    assert 4 <= len(kept) < len(images) and kept == list(map(str, images[: len(kept)]))
    done = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [row[0] for row in read_rows(out, "csv")] == list(map(str, images))


def test_score_cli_refuses_resume_without_output_and_a_foreign_output_file(tmp_path, model):
    from typer.testing import CliRunner

    from hyperimage.cli import app

    model.save(tmp_path / "model")
    write_images(tmp_path / "img", 2)
    runner = CliRunner()
    res = runner.invoke(app, ["score", str(tmp_path / "model"), str(tmp_path / "img"), "--resume"])
    assert res.exit_code == 2 and "error: --resume needs --output FILE" in res.output
    (tmp_path / "notes.csv").write_text("name,value\n")
    res = runner.invoke(app, ["score", str(tmp_path / "model"), str(tmp_path / "img"), "-o", str(tmp_path / "notes.csv"), "--resume"])
    assert res.exit_code == 2 and "notes.csv: not a CSV file of `hyperimage score`" in res.output
    assert "Traceback" not in res.output


def _size_row(path: Path) -> dict:
    """A row field a scorer can add: the file's size in bytes."""
    return {"bytes": path.stat().st_size}


def test_rows_carry_a_scorers_extra_fields_through_workers_shards_and_resume(tmp_path, model):
    images = write_images(tmp_path / "img", 5)
    scorer = ModelFiles(model, _size_row)
    serial = list(score_files(scorer, [tmp_path / "img"], batch_size=2, workers=0))
    parallel = list(score_files(scorer, [tmp_path / "img"], batch_size=2, workers=2))
    assert [p.extra for p in parallel] == [{"bytes": p.stat().st_size} for p in images] == [p.extra for p in serial]
    out = tmp_path / "rows.jsonl"
    score_archive(scorer, [tmp_path / "img"], out, fmt="json", batch_size=2, workers=0)
    rows = list(read_rows(out, "json"))
    assert [(i, e) for i, _, e in rows] == [(str(p), {"bytes": p.stat().st_size}) for p in images]
    merged = merge_parts(out, [tmp_path / "img"], 1, "json", include_output=True)
    assert merged == 5 and list(read_rows(out, "json")) == rows  # a merge keeps every row's fields
    with pytest.raises(ValueError, match="rows with bytes need JSON"):
        score_archive(scorer, [tmp_path / "img"], tmp_path / "rows.csv", workers=0)
