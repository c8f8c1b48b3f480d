"""The CLI end to end, on a folder written by an independent generator of the paper's task."""

import csv
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from hyperimage import api
from hyperimage.cli import app

runner = CliRunner()
FAST = ["--stage1-epochs", "2", "--stage2-epochs", "3", "--windows-per-image", "8", "--quiet"]


def foreign_synthetic_folder(root, n=40, seed=11):
    """The synthetic task written from the paper's text alone, saved as 16-bit gray PNGs.

    Deliberately not hyperimage's generator: float shades, 16-bit files, another naming.
    """
    rng = np.random.default_rng(seed)
    root.mkdir()
    rows = []
    centre = np.array([63.5, 63.5])
    dist_n = np.linalg.norm(centre - 7.5)
    for i in range(n):
        s0 = rng.integers(0, 65536) / 65535
        img = np.full((128, 128), s0)
        alphas = []
        for j in range(rng.integers(1, 4)):
            t, l = 8 + 40 * j, rng.integers(0, 113)  # rows far apart: no overlap
            dark, bright = rng.integers(0, 32768) / 65535, rng.integers(32768, 65536) / 65535
            patch = np.where(rng.permutation(256) < rng.integers(0, 257), bright, dark).reshape(16, 16)
            img[t : t + 16, l : l + 16] = patch
            alphas.append(np.abs(s0 - patch).mean() + 1 - np.linalg.norm(np.array([t, l]) + 7.5 - centre) / dist_n)
        name = f"sample_{i}.png"
        Image.fromarray(np.rint(img * 65535).astype(np.uint16)).save(root / name)
        rows.append((name, 5 - np.sqrt(np.sum(np.square(alphas)))))
    with open(root / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("image", "score"), *rows])
    return root


def test_train_evaluate_score_on_a_foreign_synthetic_folder(tmp_path):
    data = foreign_synthetic_folder(tmp_path / "foreign")
    out = tmp_path / "model"
    res = runner.invoke(app, ["train", str(data), "--out", str(out), "--preset", "synthetic", *FAST])
    assert res.exit_code == 0, res.output
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    assert not (out / "checkpoints").exists()
    res = runner.invoke(app, ["evaluate", str(out), str(data), "--json", str(tmp_path / "e.json")])
    assert res.exit_code == 0, res.output
    assert "SROCC" in res.output and "PLCC" in res.output and "KROCC" in res.output
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["n"] == 8 and report["split"] == "test"  # 20% of 40 images

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    first, second = data / "sample_0.png", data / "sample_1.png"
    res = runner.invoke(app, ["score", str(out), str(first), str(bad), str(second)])
    assert res.exit_code == 1
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "image,score" and len(lines) == 3
    assert str(first) in lines[1] and str(second) in lines[2]
    assert f"error: {bad}" in res.stderr and "higher is better" in res.stderr
    alone = runner.invoke(app, ["score", str(out)])
    assert alone.exit_code == 2 and "at least one image" in alone.output
    again = runner.invoke(app, ["score", str(out), str(first), str(second), "--format", "json"])
    assert again.exit_code == 0
    scores = [json.loads(line)["score"] for line in again.stdout.strip().splitlines()]
    np.testing.assert_allclose(scores, [float(line.split(",")[1]) for line in lines[1:]], atol=1e-6)


def test_make_synthetic_then_train_patch_average_and_score_a_folder(tmp_path):
    data = tmp_path / "syn"
    res = runner.invoke(app, ["make-synthetic", str(data), "--experiment", "2", "--patches", "2", "--n", "30", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert len(list((data / "images").glob("*.png"))) == 30
    out = tmp_path / "pa"
    res = runner.invoke(app, ["train", str(data), "--out", str(out), "--method", "patch-average", *FAST])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["method"] == "patch-average"
    res = runner.invoke(app, ["score", str(out), str(data / "images")])
    assert res.exit_code == 0
    assert len(res.stdout.strip().splitlines()) == 31
    res = runner.invoke(app, ["explain", str(out), str(data / "images" / "00000.png"), "--out", str(tmp_path / "h.png"), "--raw"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grid = np.load(tmp_path / "h.npy")
    assert grid.shape == (10, 10) and np.isfinite(grid).all()  # the synthetic preset's grid
    np.testing.assert_allclose(np.loadtxt(tmp_path / "h.csv", delimiter=","), grid, rtol=1e-5)


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "{tmp}", "--out", "{tmp}/m"], "labels.csv"),
        (["evaluate", "{tmp}", "{tmp}"], "not a hyperimage model"),
        (["make-synthetic", "{tmp}/x", "--experiment", "3"], "experiment must be 1 or 2"),
    ],
)
def test_bad_invocations_fail_with_a_clear_message(tmp_path, args, message):
    res = runner.invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert res.exit_code != 0
    assert message in res.output


def test_train_without_a_task_asks_for_a_preset(tmp_path):
    data = foreign_synthetic_folder(tmp_path / "f", n=10)
    res = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "m"), *FAST])
    assert res.exit_code == 2 and "preset" in res.output


def test_generated_folders_pick_their_preset(tmp_path):
    from hyperimage import api

    for task, preset in (("iqa", "tid"), ("forgery", "forgery"), ("synthetic", "synthetic")):
        data = foreign_synthetic_folder(tmp_path / task, n=2)
        (data / "meta.json").write_text(json.dumps({"task": task}))
        assert api._preset_for(data, None) == preset
        assert api._preset_for(data, "live") == "live"  # an explicit preset wins


def test_make_forgery_writes_a_folder_data_set(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((260, 390, 3)) * 255).astype(np.uint8)).save(photos / f"p{i}.png")
    Image.fromarray((rng.random((260, 390)) * 255).astype(np.uint8)).save(photos / "gray.png")  # left out
    Image.fromarray((rng.random((260, 390)) * 255).astype(np.uint8)).convert("RGB").save(photos / "rgbgray.png")
    (photos / "broken.png").write_bytes(b"not a png")  # left out, named
    res = runner.invoke(app, ["make-forgery", str(tmp_path / "data"), "--photos", str(photos), "--n", "5"])
    assert res.exit_code == 0, res.output
    lines = {line.split(": ")[0].rsplit("/", 1)[-1]: line for line in res.output.splitlines() if "left out" in line}
    assert set(lines) == {"broken.png", "gray.png", "rgbgray.png"}, res.output  # an RGB file with equal channels is gray
    with open(tmp_path / "data" / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and {r["label"] for r in rows} == {"0", "1"}
    assert json.loads((tmp_path / "data" / "meta.json").read_text())["task"] == "forgery"
    assert all("gray" not in r["group"] and "broken" not in r["group"] for r in rows)


def test_score_without_an_installed_default_model_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(api, "DEFAULT_MODELS", tmp_path / "models")
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    res = runner.invoke(app, ["score", "--task", "forgery", str(image)])
    assert res.exit_code == 2 and "no default forgery model" in res.output
