"""The provenance stamp of results files: its fields, that it never fails, and that the
results JSON written by ``hyperimage benchmark`` and ``hyperimage evaluate`` carries it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from hyperimage.evaluation import provenance
from hyperimage.evaluation.provenance import PACKAGES, stamp

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"commit", "dirty", "versions", "machine", "date", "command", "preset", "recipe"}


def _in_git() -> bool:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.returncode == 0


def test_stamp_records_commit_versions_machine_date_command_preset_and_recipe():
    s = stamp("hyperimage benchmark iqa --quick", preset="livec", recipe=["iqa-quick", "iqa-rank-quick"])
    assert set(s) == FIELDS
    if _in_git():  # the tests run from a checkout: its HEAD, 40 hex digits
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        assert s["commit"] == head and len(s["commit"]) == 40 and isinstance(s["dirty"], bool)
    assert set(s["versions"]) == {"python", *PACKAGES}
    assert s["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    import torch

    assert s["versions"]["torch"] == torch.__version__
    assert s["machine"]["cores"] >= 1 and s["machine"]["torch_threads"] == torch.get_num_threads()
    assert s["machine"]["cpu"]
    when = dt.datetime.fromisoformat(s["date"])
    assert when.utcoffset() == dt.timedelta(0) and abs(dt.datetime.now(dt.timezone.utc) - when) < dt.timedelta(minutes=5)
    assert s["command"] == "hyperimage benchmark iqa --quick"
    assert s["preset"] == "livec" and s["recipe"] == ["iqa-quick", "iqa-rank-quick"]
    json.dumps(s)  # JSON-ready as it is


def test_the_command_defaults_to_this_process_and_a_list_is_quoted(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/somewhere/bin/hyperimage", "benchmark", "iqa", "--variants", "a=b:c d"])
    assert stamp()["command"] == "hyperimage benchmark iqa --variants 'a=b:c d'"
    monkeypatch.setattr(sys, "argv", [str(ROOT / "src" / "hyperimage" / "cli.py"), "evaluate"])
    assert stamp()["command"] == "python -m hyperimage.cli evaluate"
    assert stamp(["python", "tools/x.py", "--json", "a b.json"])["command"] == "python tools/x.py --json 'a b.json'"


def test_outside_git_and_without_proc_the_stamp_still_comes_back(monkeypatch, tmp_path):
    monkeypatch.setattr(provenance, "_PACKAGE_DIR", tmp_path)  # not a checkout
    assert provenance.git_state(tmp_path) == (None, None)
    monkeypatch.setattr(provenance.subprocess, "run", _raise(FileNotFoundError("git")))  # no git at all
    monkeypatch.setattr(provenance.metadata, "version", _raise(provenance.metadata.PackageNotFoundError))
    monkeypatch.setattr(provenance.Path, "read_text", _raise(OSError("no /proc")))
    s = stamp(model=tmp_path / "missing")
    assert s["commit"] is None and s["dirty"] is None
    assert s["versions"]["torch"] is None and s["versions"]["python"]
    assert s["preset"] is None and s["recipe"] is None and s["model"] == str(tmp_path / "missing")


def test_a_model_folder_gives_its_preset_and_recipe(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"preset": "livec-imagenet"}))
    (tmp_path / "recipe.json").write_text(json.dumps({"name": "iqa-imagenet-quick"}))
    s = stamp(model=tmp_path)
    assert (s["preset"], s["recipe"]) == ("livec-imagenet", "iqa-imagenet-quick")
    assert stamp(model=tmp_path, recipe="other")["recipe"] == "other"  # what is given wins


def _raise(error):
    def fail(*args, **kwargs):
        raise error

    return fail


def test_benchmark_json_carries_the_stamp(tmp_path, make_koniq, monkeypatch):
    """The cheapest benchmark path: a registered baseline row on a tiny KonIQ folder, no CNN trained."""
    from hyperimage.cli import app
    from hyperimage.evaluation.benchmark import iqa

    root = make_koniq(tmp_path)
    monkeypatch.setitem(iqa.BASELINES._items, "mos", lambda train, val, test, seed, budget: [r.target for r in test])
    out = tmp_path / "results.json"
    res = CliRunner().invoke(app, ["benchmark", "iqa", "--data", str(root), "--splits", "1", "--rows", "mos", "--json", str(out)])
    assert res.exit_code == 0, res.output
    written = json.loads(out.read_text())
    assert set(written["provenance"]) == FIELDS
    assert written["provenance"]["versions"]["numpy"] == np.__version__
    assert written["provenance"]["preset"] is None and written["provenance"]["recipe"] is None  # no CNN row trained
    if _in_git():
        assert len(written["provenance"]["commit"]) == 40


def test_benchmark_rows_name_their_preset_and_recipe(tmp_path, make_koniq, monkeypatch):
    from hyperimage.evaluation.benchmark import Variant, iqa
    from hyperimage.training import recipe

    root = make_koniq(tmp_path)
    monkeypatch.setattr(iqa, "_cnn_rows", lambda *args: {})  # the rows' training is not what is tested
    variants = (Variant("a", recipe.get("iqa-quick")), Variant("b", recipe.get("iqa-imagenet-quick"), "livec-imagenet"))
    results = iqa.run(root, iqa.Budget(splits=1, photos="builtin", variants=variants), log=lambda s: None)
    assert results["provenance"]["preset"] == ["koniq", "livec-imagenet"]
    assert results["provenance"]["recipe"] == ["iqa-quick", "iqa-imagenet-quick"]


def test_evaluate_json_carries_the_stamp_with_the_models_preset(tmp_path):
    import hyperimage
    from hyperimage.cli import app
    from hyperimage.data.io import save_image

    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    rows = ["image,score"]
    for i in range(4):
        save_image(data / "images" / f"{i}.png", np.clip(0.5 + rng.normal(0, 0.05 * (i + 1), (64, 64, 3)), 0, 1))
        rows.append(f"images/{i}.png,{80 - 10 * i}")
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    model = Path(hyperimage.__file__).parent / "models" / "iqa"  # the shipped quality model
    out = tmp_path / "eval.json"
    res = CliRunner().invoke(app, ["evaluate", str(model), str(data), "--split", "all", "--json", str(out)])
    assert res.exit_code == 0, res.output
    written = json.loads(out.read_text())
    assert written["n"] == 4 and set(written["provenance"]) == FIELDS | {"model"}
    assert written["provenance"]["preset"] == "livec-imagenet"
