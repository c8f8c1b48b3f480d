"""The CLI end to end, on a folder written by an independent generator of the paper's task."""

import csv
import json
import math
import os
import pickle
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from hyperimage import api
from hyperimage.inference import predictor
from hyperimage.inference.evidence import Evidence
from hyperimage.inference.evidence.model import ForensicModel
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


def test_extra_data_joins_the_training_split_only(tmp_path):
    data = foreign_synthetic_folder(tmp_path / "main", n=30)
    more = foreign_synthetic_folder(tmp_path / "more", n=20, seed=12)
    out = tmp_path / "m"
    res = runner.invoke(app, ["train", str(data), "--out", str(out), "--preset", "synthetic", "--extra", str(more), *FAST])
    assert res.exit_code == 0, res.output
    assert f"extra training data {more}: 20 images" in res.stderr
    with open(out / "splits.csv", newline="") as f:
        splits = {row["image"]: row["split"] for row in csv.DictReader(f)}
    added = {k: v for k, v in splits.items() if str(more) in k}
    assert len(added) == 20 and set(added.values()) == {"train"}
    own = [v for k, v in splits.items() if k not in added]
    assert len(own) == 30 and own.count("train") == 18 and own.count("test") == 6  # 60/20/20 of the main data alone
    report = json.loads((out / "training.json").read_text())
    assert report["n_train"] == 38 and report["extra"] == [str(more.resolve())]
    res = runner.invoke(app, ["evaluate", str(out), str(data)])
    assert res.exit_code == 0 and "n=6" in res.output  # the main data's test split, unchanged


def test_extra_data_that_repeats_the_main_data_is_refused(tmp_path):
    data = foreign_synthetic_folder(tmp_path / "main", n=10)
    res = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "m"), "--preset", "synthetic", "--extra", str(data), *FAST])
    assert res.exit_code == 2 and "10 of its images are already in the data set" in res.output
    more = foreign_synthetic_folder(tmp_path / "more", n=10, seed=12)
    args = ["--extra", str(more), "--extra", str(more)]
    res = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "m"), "--preset", "synthetic", *args, *FAST])
    assert res.exit_code == 2 and "already in the data set" in res.output and not (tmp_path / "m" / "model.safetensors").exists()


@pytest.mark.parametrize("meta,message", [({"task": "forgery"}, "a classification data set"), ({"higher_is_better": False}, "other way")])
def test_extra_data_of_another_kind_is_refused_before_training(tmp_path, meta, message):
    data = foreign_synthetic_folder(tmp_path / "main", n=10)
    other = foreign_synthetic_folder(tmp_path / "other", n=10, seed=12)
    (other / "meta.json").write_text(json.dumps(meta))
    out = tmp_path / "m"
    res = runner.invoke(app, ["train", str(data), "--out", str(out), "--preset", "synthetic", "--extra", str(other), *FAST])
    assert res.exit_code == 2 and message in res.output and str(other) in res.output
    assert not (out / "model.safetensors").exists()


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


def test_photos_no_pypi_asks_debian_alone_and_needs_a_source(tmp_path, monkeypatch):
    from hyperimage import photo_packages
    from hyperimage.data.photos import DEFAULT_SIZE

    asked = []
    monkeypatch.setattr(photo_packages, "gather_photos", lambda out, sources, size: asked.append((sources, size)) or [])
    res = runner.invoke(app, ["photos", str(tmp_path), "--no-pypi"])
    assert res.exit_code == 2 and "--debian" in res.output and not asked
    res = runner.invoke(app, ["photos", str(tmp_path), "--debian", "--no-pypi"])
    assert res.exit_code == 0 and asked == [(("debian",), DEFAULT_SIZE)]
    res = runner.invoke(app, ["photos", str(tmp_path), "--debian", "--native"])  # each photo at its own size
    assert res.exit_code == 0 and asked[-1] == (("pypi", "debian"), None)


def test_a_folder_of_scores_without_a_preset_trains_as_the_shipped_quality_model(tmp_path, monkeypatch):
    """One line says which preset and recipe it took; that recipe's rankings need the Debian
    photos, and without them the run stops before training with the command that makes them."""
    monkeypatch.chdir(tmp_path)  # the recipe's photo folder is relative: none here
    data = foreign_synthetic_folder(tmp_path / "f", n=10)
    res = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "m"), "--quiet"])
    said = [line for line in res.output.splitlines() if "no preset named" in line]
    assert len(said) == 1 and "preset livec-imagenet, recipe iqa-imagenet-rank-debian" in said[0], res.output
    assert res.exit_code == 2 and "hyperimage photos data/photos-debian --debian --no-pypi" in res.output
    assert not (tmp_path / "m" / "model.safetensors").exists()


def test_generated_folders_pick_their_preset(tmp_path):
    from hyperimage import api

    for task, preset in (("iqa", "tid"), ("forgery", "forgery"), ("synthetic", "synthetic")):
        data = foreign_synthetic_folder(tmp_path / task, n=2)
        (data / "meta.json").write_text(json.dumps({"task": task}))
        assert api.choose_preset(data, None) == preset
        assert api.choose_preset(data, "live") == "live"  # an explicit preset wins


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


def test_make_forgery_double_jpeg_records_each_compression_chain(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((260, 390, 3)) * 255).astype(np.uint8)).save(photos / f"p{i}.png")
    res = runner.invoke(app, ["make-forgery", str(tmp_path / "data"), "--photos", str(photos), "--n", "4", "--double-jpeg"])
    assert res.exit_code == 0, res.output
    with open(tmp_path / "data" / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(r["image"].endswith(".jpg") and r["camera_quality"] and r["final_quality"] for r in rows)


def test_score_without_an_installed_default_model_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(predictor, "SHIPPED_MODELS", tmp_path / "models")
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    res = runner.invoke(app, ["score", "--task", "forgery", str(image)])
    assert res.exit_code == 2 and "no default forgery model" in res.output


def assert_fails(res, message):
    """Exit status 2 and exactly ``error: message`` on stderr: no traceback, no score on stdout."""
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)  # not an exception escaping as a traceback
    assert res.stdout == ""
    assert res.stderr == f"error: {message}\n"


def _tensors(edit):
    def change(folder):
        tensors = load_file(str(folder / "model.safetensors"))
        edit(tensors, next(iter(tensors)))
        save_file(tensors, str(folder / "model.safetensors"))

    return change


def _config(key, value):
    def change(folder):
        config = json.loads((folder / "config.json").read_text())
        config[key] = value
        (folder / "config.json").write_text(json.dumps(config))

    return change


def _weights_bytes(make):
    return lambda folder: (folder / "model.safetensors").write_bytes(make((folder / "model.safetensors").read_bytes()))


FIRST = "stage1.dense.1.bias"  # the synthetic preset's first tensor, of shape [400]
BROKEN_MODELS = {
    "weights only": (lambda m: (m / "config.json").unlink(), "incomplete model folder {m}: no config.json (was the training run interrupted?)"),
    "config only": (lambda m: (m / "model.safetensors").unlink(), "incomplete model folder {m}: no model.safetensors (was the training run interrupted?)"),
    "killed training run": (
        lambda m: [(m / n).unlink() for n in ("config.json", "model.safetensors")] and (m / "checkpoints").mkdir(),
        "incomplete model folder {m}: no config.json (was the training run interrupted?)",
    ),
    "truncated weights": (
        _weights_bytes(lambda b: b[: len(b) // 2]),
        "{m}/model.safetensors: not a valid model file (Error while deserializing header: incomplete metadata, file not fully covered)",
    ),
    "giant header": (
        _weights_bytes(lambda b: struct.pack("<Q", 1 << 60) + b[8:]),
        "{m}/model.safetensors: not a valid model file (header claims 1152921504606846976 bytes, the file holds {size})",
    ),
    "a pickle": (
        _weights_bytes(lambda b: pickle.dumps({"w": [1.0, 2.0]})),
        "{m}/model.safetensors: not a valid model file (header claims 513082496 bytes, the file holds 41)",
    ),
    "wrong shape": (
        _tensors(lambda t, k: t.__setitem__(k, torch.zeros(3, 3))),
        f"{{m}}/model.safetensors: not a valid model file (tensor '{FIRST}' has shape [3, 3], the config needs [400])",
    ),
    "missing tensor": (
        _tensors(lambda t, k: t.pop(k)),
        f"{{m}}/model.safetensors: not a valid model file (no tensor '{FIRST}'; made for another architecture?)",
    ),
    "int64 weights": (
        _tensors(lambda t, k: t.__setitem__(k, t[k].long())),
        f"{{m}}/model.safetensors: not a valid model file (tensor '{FIRST}' is int64, needs floating point)",
    ),
    "NaN weights": (
        _tensors(lambda t, k: t[k].view(-1).__setitem__(0, float("nan"))),
        f"{{m}}/model.safetensors: not a valid model file (tensor '{FIRST}' holds NaN or infinity)",
    ),
    "unknown config key": (_config("colour", 1), "{m}/config.json: unknown key 'colour'"),
    "wrong config type": (_config("patch", "32"), "{m}/config.json: patch must be a whole number, got '32'"),
    "giant grid": (_config("grid", [100000, 100000]), "{m}/config.json: grid [100000, 100000] is outside the bounds 1-256"),
    "not JSON": (
        lambda m: (m / "config.json").write_text("{not json"),
        "{m}/config.json: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
    ),
}


@pytest.fixture
def saved_model(tmp_path):
    """A freshly initialised synthetic-preset model folder (no training needed to test loading)."""
    from hyperimage import presets
    from hyperimage.inference.model import HyperImageModel

    return HyperImageModel(presets.get("synthetic")).save(tmp_path / "model")


@pytest.fixture
def gray_image(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(np.zeros((128, 128), np.uint8)).save(path)
    return path


@pytest.mark.parametrize(
    "case,command",
    [(case, "score") for case in BROKEN_MODELS]
    + [(case, command) for case in ("weights only", "giant header", "NaN weights") for command in ("score --model", "explain", "evaluate")],
)
def test_a_broken_model_folder_is_one_line_and_exit_2(saved_model, gray_image, tmp_path, case, command):
    break_it, message = BROKEN_MODELS[case]
    break_it(saved_model)
    size = (saved_model / "model.safetensors").stat().st_size if (saved_model / "model.safetensors").exists() else 0
    m = str(saved_model)
    args = {
        "score": ["score", m, str(gray_image)],
        "score --model": ["score", "--model", m, str(gray_image)],
        "explain": ["explain", m, str(gray_image), "--out", str(tmp_path / "h.png")],
        "evaluate": ["evaluate", m, str(foreign_synthetic_folder(tmp_path / "data", n=2))],
    }[command]
    assert_fails(runner.invoke(app, args), message.format(m=m, size=size))
    assert not (tmp_path / "h.png").exists()


def test_the_first_argument_is_a_model_or_an_error_and_help_says_so(saved_model, gray_image):
    res = runner.invoke(app, ["score", str(saved_model), str(gray_image)])  # a model folder: read as the model
    assert res.exit_code == 0 and res.stdout.splitlines() == ["image,score", f"{gray_image},{res.stdout.split(',')[-1].strip()}"]
    assert "synthetic" in res.stderr  # described as the synthetic model, not the shipped quality model
    explicit = runner.invoke(app, ["score", "--model", str(saved_model), str(gray_image)])
    assert explicit.exit_code == 0 and explicit.stdout == res.stdout
    folder = gray_image.parent / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(gray_image.read_bytes())
    by_default = runner.invoke(app, ["score", str(folder)])  # a folder of images: the shipped model
    assert by_default.exit_code == 0 and "image quality" in by_default.stderr and len(by_default.stdout.splitlines()) == 2
    for command in ("score", "explain"):
        text = " ".join(runner.invoke(app, [command, "--help"]).stdout.replace("│", " ").split())
        assert "is the model, or an error if it is incomplete, never a folder of images" in text and "--model" in text


def test_score_and_train_refuse_a_folder_another_run_is_training(saved_model, gray_image, tmp_path):
    data = foreign_synthetic_folder(tmp_path / "data", n=4)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from hyperimage.lock import FolderLock\n"
         "with FolderLock(sys.argv[1]):\n print('held', flush=True); time.sleep(60)", str(saved_model)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout.readline() == "held\n"
        message = f"{saved_model}: in use by a training run (pid {holder.pid}, {saved_model / 'train.lock'}); wait for it to finish"
        assert_fails(runner.invoke(app, ["score", str(saved_model), str(gray_image)]), message)
        assert_fails(runner.invoke(app, ["evaluate", str(saved_model), str(data)]), message)
        assert_fails(runner.invoke(app, ["train", str(data), "--out", str(saved_model), "--preset", "synthetic", *FAST]), message)
    finally:
        holder.kill()
        holder.wait()
    assert (saved_model / "config.json").is_file()  # the refused train touched nothing


def test_train_takes_over_a_stale_lock_with_a_message(tmp_path):
    data = foreign_synthetic_folder(tmp_path / "data", n=1)  # one image: fails after the lock, before training
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "model"
    out.mkdir()
    (out / "train.lock").write_text(str(dead.pid))
    res = runner.invoke(app, ["train", str(data), "--out", str(out), "--preset", "synthetic", *FAST])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.stderr.splitlines() == [
        f"{out}: taking over the lock of process {dead.pid}, which is no longer running",
        "error: need train and val images, got 1 train and 0 val",
    ]
    assert not (out / "train.lock").exists()  # released on exit


LABEL_CASES = {
    "nan score": ("sample_0.png,nan\n", "{csv}:2: score 'nan' is not a finite number"),
    "inf score": ("sample_0.png,inf\n", "{csv}:2: score 'inf' is not a finite number"),
    "missing score": ("sample_0.png,\n", "{csv}:2: score '' is not a number"),
    "conflicting duplicate": (
        "sample_0.png,3\nsample_1.png,4\nsample_0.png,2\n",
        "{csv}:4: 'sample_0.png' is listed again with a different score (2 here, 3 there) (first at line 2); list each image once",
    ),
    "outside the folder": (
        "../outside.png,3\n",
        "{csv}:2: image '../outside.png' resolves outside the data folder ({tmp}/outside.png); pass --allow-outside to read it",
    ),
    "not UTF-8": ("sample_0.png,3\nsample_\xff.png,3\n", "{csv}:3: not UTF-8 text (byte 0xff at offset 34); save it as UTF-8"),
}


@pytest.mark.parametrize("case", LABEL_CASES)
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_bad_labels_never_train_or_evaluate(saved_model, tmp_path, case, command):
    rows, message = LABEL_CASES[case]
    data = foreign_synthetic_folder(tmp_path / "data", n=2)
    text = "image,score\n" + rows
    (data / "labels.csv").write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    args = ["train", str(data), "--out", str(tmp_path / "new"), "--preset", "synthetic", *FAST]
    if command == "evaluate":
        args = ["evaluate", str(saved_model), str(data), "--split", "all"]
    assert_fails(runner.invoke(app, args), message.format(csv=data / "labels.csv", tmp=tmp_path))
    assert not (tmp_path / "new").exists()


def test_allow_outside_reads_labels_that_leave_the_folder(tmp_path):
    data = foreign_synthetic_folder(tmp_path / "data", n=1)
    (tmp_path / "outside.png").write_bytes((data / "sample_0.png").read_bytes())
    (data / "labels.csv").write_text("image,score\n../outside.png,3\n")
    res = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "m"), "--preset", "synthetic", "--allow-outside", *FAST])
    assert_fails(res, "need train and val images, got 1 train and 0 val")  # read, then too few to train on


def test_train_refuses_an_out_folder_that_holds_other_things(tmp_path):
    data = foreign_synthetic_folder(tmp_path / "data", n=4)
    assert_fails(
        runner.invoke(app, ["train", str(data), "--out", str(data), "--preset", "synthetic", *FAST]),
        f"{data}: exists and is not a model folder; give a new or empty folder to write the model to",
    )


def test_evaluate_a_forgery_model_reports_detection_and_pixel_figures_and_resaves(thin_forgery_model, tiny_forgery, tmp_path):
    res = runner.invoke(app, ["evaluate", str(thin_forgery_model), str(tiny_forgery), "--json", str(tmp_path / "e.json")])
    assert res.exit_code == 0, res.output
    first, pixel = res.stdout.splitlines()
    assert first.startswith("test: n=4  accuracy ") and "detection at 5% false alarms " in first
    assert re.fullmatch(r"pixel F1 \d\.\d{3}  IoU \d\.\d{3} \(threshold from val, 2 images; centred box F1 \d\.\d{3}\)", pixel), pixel
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["resave"] is None and report["pixel"]["threshold_from"] == "val" and "errors" not in report["pixel"]

    cache = tmp_path / "cache"
    args = ["evaluate", str(thin_forgery_model), str(tiny_forgery), "--resave", "75", "--cache", str(cache), "--json", str(tmp_path / "r.json")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    copy = cache / f"{tiny_forgery.name}-resaved-q75"
    assert f"saved again at quality 75: {copy}" in res.stderr and (copy / "labels.csv").is_file()
    resaved = json.loads((tmp_path / "r.json").read_text())
    # the model's splits.csv applies to the copy: the same test images, masks and all
    assert resaved["resave"] == 75 and resaved["n"] == report["n"] and resaved["pixel"]["images"] == 2
    assert_fails(runner.invoke(app, [*args[:3], "--resave", "0"]), "--resave is a JPEG quality from 1 to 100, got 0")


def test_evaluate_a_forensic_model_reports_both_maps(forensic_folder, tiny_forgery, tmp_path):
    """A forensic model's test split (its splits.csv), figures at its own threshold, and the
    pixel F1 of its map and of its map given tampered, thresholds from validation."""
    res = runner.invoke(app, ["evaluate", str(forensic_folder), str(tiny_forgery), "--json", str(tmp_path / "e.json")])
    assert res.exit_code == 0, res.output
    first, pixel, given = res.stdout.splitlines()
    assert first.startswith("test: n=4  accuracy ") and "detection at 5% false alarms " in first
    assert re.fullmatch(r"pixel F1 \d\.\d{3}  IoU \d\.\d{3} \(threshold from val, 2 images; centred box F1 \d\.\d{3}\)", pixel), pixel
    assert given.startswith("pixel F1 of the map given tampered ")
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["score"]["name"] == "probability authentic" and (report["score"]["low"], report["score"]["high"]) == (0.0, 1.0)
    assert report["errors"] == [] and "errors" not in report["pixel"]
    assert report["pixel_given_tampered"]["images"] == report["pixel"]["images"] == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("bench", ["synthetic", "iqa", "forgery"])
def test_benchmarks_refuse_a_device_the_machine_lacks(bench):
    res = runner.invoke(app, ["benchmark", bench, "--quick", "--device", "cuda"])
    assert res.exit_code == 2
    assert "--device cuda: no CUDA GPU is available" in res.output and "Traceback" not in res.output


def test_benchmarks_take_a_recipe_and_refuse_an_unknown_one():
    res = runner.invoke(app, ["benchmark", "synthetic", "--quick", "--recipe", "nope"])
    assert res.exit_code == 2 and "unknown recipe 'nope'; known:" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "nope"], "unknown preset 'nope'; known: forgery"),
        (["--variants", "iqa-quick"], "--variants: 'iqa-quick' is not NAME=RECIPE or NAME=PRESET:RECIPE"),
        (["--variants", "a=nope:iqa-quick"], "--variants: unknown preset 'nope'"),
        (["--variants", "a=nope"], "--variants: unknown recipe 'nope'"),
        (["--variants", "a=iqa-quick,a=livec-imagenet:iqa-imagenet-quick"], "--variants: each variant needs its own name"),
    ],
)
def test_benchmark_iqa_refuses_bad_presets_and_variants(args, message):
    res = runner.invoke(app, ["benchmark", "iqa", "--quick", *args])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


def test_benchmark_forgery_variants_take_forgery_presets_only():
    res = runner.invoke(app, ["benchmark", "forgery", "--quick", "--variants", "a=livec-imagenet:forgery-quick"])
    assert res.exit_code == 2 and "'livec-imagenet' is not a forgery preset" in res.output and "forgery-fast" in res.output


def test_extra_scores_are_mapped_onto_the_main_data_sets_scale(tmp_path, make_livec, make_koniq):
    from hyperimage.data import datasets

    livec_root = make_livec(tmp_path, [f"{i}.bmp" for i in range(9)], list(range(10, 100, 10)))
    koniq_root = make_koniq(tmp_path)  # MOS 1.5, 2.0, ... 4.0 on KonIQ's 1-5
    assert datasets.score_range(livec_root) == (0.0, 100.0) and datasets.score_range(koniq_root) == (1.0, 5.0)
    lines = []
    added = api.extra_training_records([koniq_root], "regression", True, (0.0, 100.0), log=lines.append)
    assert [r.target for r in added] == pytest.approx([12.5, 25.0, 37.5, 50.0, 62.5, 75.0])
    assert {r.split for r in added} == {"train"} and all(r.group.startswith("extra0:") for r in added)
    assert "6 images, targets 12.5 to 75, mapped from 1-5 onto 0-100" in lines[0]
    dmos = foreign_synthetic_folder(tmp_path / "dmos", n=4)  # declares a lower-is-better 0-10 scale
    (dmos / "meta.json").write_text(json.dumps({"higher_is_better": False, "score_range": [0, 10]}))
    raw = [r.target for r in datasets.load(dmos)]
    flipped = api.extra_training_records([dmos], "regression", True, (0.0, 100.0))
    assert [r.target for r in flipped] == pytest.approx([100 - 10 * t for t in raw])


def test_train_evidence_writes_a_forensic_model_folder(tiny_forgery, tmp_path):
    out = tmp_path / "forensic"
    res = runner.invoke(app, ["train-evidence", str(tiny_forgery), "--out", str(out), "--channels", "noise,jpeg", "--epochs", "3"])
    assert res.exit_code == 0, res.output
    assert f"saved {out}: probability authentic: range [0, 1], higher is better (forensic evidence" in res.stdout
    assert "evidence of " in res.stderr and "epoch 3/3" in res.stderr
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "splits.csv", "training.json"}
    report = json.loads((out / "training.json").read_text())
    assert report["channels"] == ["noise", "jpeg"] and len(report["history"]) == 3 and report["data"] == str(tiny_forgery.resolve())


def test_train_evidence_on_smaller_cells_maps_finer(tiny_forgery, tmp_path):
    """--cell 32: the model keeps its grid, and its map of an image has twice the cells a side;
    --members and --hide reach stage 2 and the report."""
    out = tmp_path / "fine"
    res = runner.invoke(app, ["train-evidence", str(tiny_forgery), "--out", str(out), "--channels", "noise,jpeg", "--epochs", "2",
                              "--cell", "32", "--members", "2", "--hide", "0.3"])
    assert res.exit_code == 0, res.output
    model = ForensicModel.load(out)
    assert model.grid.cell == 32 and model.members == 2
    report = json.loads((out / "training.json").read_text())
    assert (report["members"], report["hide"]) == (2, 0.3)
    image = next(p for p in sorted(tiny_forgery.rglob("*")) if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    h, w = Evidence.read(image).size
    assert model.hyper_image(Evidence.read(image)).shape[1:] == (math.ceil(h / 32), math.ceil(w / 32))


def test_train_evidence_with_a_stage_1_of_its_own_keeps_it(tiny_forgery, tmp_path):
    """--learned-model: the learned channel reads that forgery model's stage 1, and the new
    folder keeps a copy of it (scoring needs nothing else); without the learned channel among
    the channels it is refused before any image is read."""
    import shutil

    from hyperimage.inference.predictor import shipped_folder

    stage1 = tmp_path / "stage1"
    shutil.copytree(shipped_folder("forgery"), stage1)
    out = tmp_path / "forensic"
    res = runner.invoke(app, ["train-evidence", str(tiny_forgery), "--out", str(out), "--channels", "noise,learned", "--epochs", "2",
                              "--learned-model", str(stage1)])
    assert res.exit_code == 0, res.output
    assert "(its own stage 1)" in res.stdout
    assert json.loads((out / "training.json").read_text())["learned_model"] == str(stage1)
    shutil.rmtree(stage1)
    assert ForensicModel.load(out).learned_model == out / "learned-stage1"
    res = runner.invoke(app, ["train-evidence", str(tiny_forgery), "--out", str(tmp_path / "m"), "--channels", "noise,jpeg",
                              "--learned-model", str(out / "learned-stage1")])
    assert res.exit_code == 2 and "does not read that channel" in res.stderr and "evidence of" not in res.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--channels", "noise,astrology"], "unknown evidence channel 'astrology'"),
        (["--channels", ","], "no evidence channel named"),
        (["--cell", "36"], "a cell's side must be a positive multiple of 8"),
    ],
)
def test_train_evidence_refuses_bad_channels_before_reading_images(tiny_forgery, tmp_path, args, message):
    res = runner.invoke(app, ["train-evidence", str(tiny_forgery), "--out", str(tmp_path / "m"), *args])
    assert res.exit_code == 2 and message in res.stderr and "evidence of" not in res.stderr


def test_train_evidence_refuses_a_data_set_of_scores(tmp_path):
    data = foreign_synthetic_folder(tmp_path / "scores", n=4)
    res = runner.invoke(app, ["train-evidence", str(data), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "label " in res.stderr and "a forensic model trains on labels 1 (authentic) and 0 (tampered)" in res.stderr


def test_explain_with_channels_draws_a_panel_per_channel_and_the_model_map(tiny_forgery, forensic_folder, tmp_path, monkeypatch):
    from hyperimage.inference import explain as drawing
    from hyperimage.inference.evidence import CHANNELS
    from hyperimage.inference.evidence import predictor as forensic

    drawn = []
    render = drawing.render_panels
    for module in (drawing, forensic):
        monkeypatch.setattr(module, "render_panels", lambda panels, title="": drawn.append(panels) or render(panels, title))
    image = sorted((tiny_forgery / "images").glob("*.jpg"))[0]
    out = tmp_path / "where.png"
    res = runner.invoke(app, ["explain", "--task", "forgery", str(image), "--out", str(out), "--channel", "all"])
    assert res.exit_code == 0, res.output
    assert Image.open(out).format == "PNG" and "probability authentic" in res.stdout
    titles = [p.title for p in drawn[-1]]
    assert titles == [*(CHANNELS.get(n).legend for n in api.evidence_channels()), "combined: the model's heat map (patch)"]
    assert all(p.heat.shape == (96, 128) for p in drawn[-1][:-1])

    res = runner.invoke(app, ["explain", "--model", str(forensic_folder), str(image), "--out", str(tmp_path / "f.png"), "--channel", "copy-move", "--raw"])
    assert res.exit_code == 0, res.output
    assert [p.title.split(":")[0] for p in drawn[-1]] == ["copy-move", "combined", "where, if tampered"]
    assert np.load(tmp_path / "f.npy").shape == (2, 2) and "forensic evidence" in res.stdout

    before = len(drawn)
    res = runner.invoke(app, ["explain", "--task", "forgery", str(image), "--out", str(tmp_path / "plain.png")])
    assert res.exit_code == 0 and len(drawn) == before  # without --channel: the one overlay, as before


def test_explain_refuses_an_unknown_channel(tmp_path):
    res = runner.invoke(app, ["explain", "--task", "forgery", str(tmp_path / "x.png"), "--out", str(tmp_path / "o.png"), "--channel", "tea-leaves"])
    assert res.exit_code == 2 and "--channel: unknown evidence channel 'tea-leaves'" in res.stderr


def test_score_json_carries_each_channels_figures_and_a_bad_file_never_stops_the_batch(tiny_forgery, forensic_folder, tmp_path):
    from hyperimage.inference.evidence import CHANNELS

    jpeg = sorted((tiny_forgery / "images").glob("*.jpg"))[0]
    png = sorted((tiny_forgery / "images").glob("*.png"))[0]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really")
    res = runner.invoke(app, ["score", "--task", "forgery", "--format", "json", "--channels", "noise,jpeg,copy-move", str(jpeg), str(broken), str(png)])
    assert res.exit_code == 1, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["image"] for r in rows] == [str(jpeg), str(png)] and "error: " in res.stderr and "broken.jpg" in res.stderr
    expected = next(api.score(api.default_model("forgery"), [jpeg])).score
    assert rows[0]["score"] == pytest.approx(expected, abs=1e-6)
    for row in rows:
        assert list(row["channels"]) == ["noise", "jpeg", "copy-move"]
        noise = row["channels"]["noise"]
        assert set(noise["max"]) == set(CHANNELS.get("noise").features) and noise["notes"] == []
    assert rows[0]["channels"]["jpeg"]["notes"] == [] and rows[0]["channels"]["jpeg"]["max"]["not_jpeg"] == 0.0
    assert rows[1]["channels"]["jpeg"]["notes"] == [f"{png}: not a JPEG; the JPEG channel gives zeros"]
    assert rows[1]["channels"]["jpeg"]["max"]["not_jpeg"] == 1.0

    res = runner.invoke(app, ["score", str(forensic_folder), "--format", "json", "--channels", "all", str(jpeg), str(png)])
    assert res.exit_code == 0, res.output
    assert "forensic evidence: stage 2 over noise, jpeg, copy-move" in res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    import hyperimage

    assert [r["score"] for r in rows] == pytest.approx(hyperimage.load(forensic_folder).score([jpeg, png]), abs=1e-6)
    assert list(rows[0]["channels"]) == api.evidence_channels()

    plain = runner.invoke(app, ["score", str(forensic_folder), str(jpeg)])
    assert plain.exit_code == 0 and plain.stdout.splitlines()[0] == "image,score"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--channels", "noise"], "--channels needs --format json"),
        (["--format", "json", "--channels", "palmistry"], "--channels: unknown evidence channel 'palmistry'"),
    ],
)
def test_score_refuses_channels_it_cannot_write(tmp_path, args, message):
    res = runner.invoke(app, ["score", "--task", "forgery", *args, str(tmp_path)])
    assert res.exit_code == 2 and res.stderr.startswith(f"error: {message}") and res.stdout == ""
