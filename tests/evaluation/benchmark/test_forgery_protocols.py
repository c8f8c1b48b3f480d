"""``benchmark forgery --data``: the re-saved-alike copy leads, the files as published beside it,
and a warning where the header lookup is not at chance on the leading protocol.

The CNN rows are left out (``forgery.run`` is replaced by the header row alone, measured for
real on the same splits): what is tested here is which files each protocol reads, in which
order, and the chance check; ``test_forgery.py`` trains the rows themselves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from hyperimage import api
from hyperimage.cli import app
from hyperimage.data import datasets
from hyperimage.data.generators.tampering import TamperConfig, make_tampering_dataset
from hyperimage.evaluation.baselines.jpeg_tables import JpegTableLookup
from hyperimage.evaluation.benchmark import forgery
from hyperimage.evaluation.protocol import FORGERY_SPLIT, chance_auc_spread, classification_metrics, random_split, summarise


@pytest.fixture(scope="module")
def saved_unlike(tmp_path_factory) -> Path:
    """A tiny tampering folder whose authentic files are JPEGs at quality 95 and tampered ones at
    70, as CASIA v1's were saved: the header alone tells them apart."""
    root = tmp_path_factory.mktemp("unlike") / "data"
    rng = np.random.default_rng(0)
    photos = [np.clip(rng.random(3) * 0.6 + 0.4 * rng.random((72, 104, 3)), 0, 1).astype(np.float32) for _ in range(12)]
    records = make_tampering_dataset(
        photos, root, n_images=72, seed=0, size=(64, 96), config=TamperConfig(kind_weights=(1.0, 1.0, 0.0), png_probability=0.0)
    )
    for r in records:
        with Image.open(r.path) as im:
            pixels = im.convert("RGB")
        pixels.save(r.path, quality=95 if r.target == 1.0 else 70)
    return root


def header_only_run(folder: Path, budget: forgery.Budget, seed: int = 0, **_) -> dict:
    """:func:`forgery.run`'s results with the ``jpeg-tables`` row alone, on the same splits."""
    records = datasets.load(folder)
    splits, counts = [], []
    for split in range(budget.splits):
        recs = random_split(records, seed=seed * 1000 + split, fractions=FORGERY_SPLIT)
        train = [r for r in recs if r.split == "train"]
        test = [r for r in recs if r.split == "test"]
        labels = np.array([r.target for r in test])
        lookup = JpegTableLookup().fit([r.path for r in train], [r.target for r in train])
        splits.append(classification_metrics(lookup.predict_proba([r.path for r in test]), labels))
        counts.append({"authentic": int((labels > 0.5).sum()), "tampered": int((labels <= 0.5).sum())})
    return {
        "data": str(folder), "budget": {"splits": budget.splits}, "splits": {"jpeg-tables": splits}, "test_counts": counts,
        "summary": {"jpeg-tables": summarise(splits)}, "localisation_summary": {}, "stage1_summary": {}, "wall_seconds": 0.0,
        "provenance": {"commit": str(folder)},
    }


def fake_results(aucs: list[float], counts: list[tuple[int, int]]) -> dict:
    return {
        "splits": {"jpeg-tables": [{"auc": a} for a in aucs]},
        "test_counts": [{"authentic": a, "tampered": t} for a, t in counts],
    }


def test_save_history_bound_is_the_null_spread_of_one_split():
    spread = chance_auc_spread(40, 30)
    check = forgery.save_history(fake_results([0.5 + 1.9 * spread, 0.5 + 2.0 * spread], [(40, 30), (40, 30)]))
    assert check["bound"] == pytest.approx(1.96 * spread)  # not narrowed by the number of splits
    assert check["auc"] == pytest.approx(0.5 + 1.95 * spread) and check["at_chance"] is True
    assert forgery.save_history(fake_results([0.5 - 2.0 * spread], [(40, 30)]))["at_chance"] is False  # either side
    assert forgery.save_history(fake_results([0.5], [(40, 30)]), z=0.01)["at_chance"] is True
    # A split whose test images are one class has no AUC; none left: no verdict.
    one_class = forgery.save_history(fake_results([float("nan"), 0.99], [(10, 0), (40, 30)]))
    assert one_class["auc"] == 0.99 and one_class["at_chance"] is False
    assert forgery.save_history(fake_results([float("nan")], [(10, 0)]))["at_chance"] is None
    with pytest.raises(ValueError, match="no row 'nope'"):
        forgery.save_history(fake_results([0.5], [(4, 4)]), row="nope")


def test_only_the_leading_protocol_beyond_chance_is_a_warning():
    beyond = {"row": "jpeg-tables", "auc": 0.97, "bound": 0.1, "at_chance": False}
    assert forgery.save_history_line(beyond, "as published", leading=True).startswith("WARNING: jpeg-tables on as published: AUC 0.970")
    assert not forgery.save_history_line(beyond, "as published", leading=False).startswith("WARNING")
    within = {**beyond, "auc": 0.55, "at_chance": True}
    assert forgery.save_history_line(within, "re-saved", leading=True) == "jpeg-tables on re-saved: AUC 0.550, at chance (within 0.5 +- 0.100)"


def test_run_protocols_runs_each_in_order_and_saves_the_leading_model(monkeypatch, tmp_path):
    calls = []

    def fake_run(folder, budget, **kwargs):
        calls.append((folder, kwargs["save_model"]))
        return {**fake_results([0.5 if folder.name == "copy" else 1.0], [(20, 20)]), "provenance": {"commit": folder.name}}

    monkeypatch.setattr(forgery, "run", fake_run)
    lines = []
    results = forgery.run_protocols([("re-saved", tmp_path / "copy"), ("as published", tmp_path / "data")], log=lines.append, save_model=tmp_path / "m")
    assert calls == [(tmp_path / "copy", tmp_path / "m"), (tmp_path / "data", None)]
    assert results["leading"] == "re-saved" and list(results["protocols"]) == ["re-saved", "as published"]
    assert results["save_history"]["as published"]["at_chance"] is False and results["warning"] is None
    assert results["provenance"] == {"commit": "copy"} and not any("WARNING" in line for line in lines)
    led_by_published = forgery.run_protocols([("as published", tmp_path / "data")], log=lines.append)
    assert led_by_published["warning"].startswith("WARNING: jpeg-tables on as published") and lines[-1] == led_by_published["warning"]
    with pytest.raises(ValueError, match="its own name"):
        forgery.run_protocols([("a", tmp_path), ("a", tmp_path)])


def test_real_data_leads_with_the_resaved_copy_and_the_header_falls_to_chance(saved_unlike, tmp_path, monkeypatch):
    monkeypatch.setattr(forgery, "run", header_only_run)
    run = api.benchmark_forgery(saved_unlike, quick=True, splits=2, cache=tmp_path, log=lambda s: None)
    results = run.results
    leading = f"re-saved alike (JPEG q{api.FORGERY_RESAVE_QUALITY})"
    assert results["leading"] == leading and list(results["protocols"]) == [leading, "as published"]
    assert results["protocols"][leading]["data"] == str(tmp_path / f"data-resaved-q{api.FORGERY_RESAVE_QUALITY}")
    assert results["protocols"]["as published"]["data"] == str(saved_unlike)
    assert results["protocols"][leading]["test_counts"] == results["protocols"]["as published"]["test_counts"]  # same splits
    assert results["save_history"][leading] == {"row": "jpeg-tables", "auc": 0.5, "bound": pytest.approx(results["save_history"][leading]["bound"]), "at_chance": True}
    assert results["save_history"]["as published"]["auc"] == 1.0 and results["warning"] is None
    text = run.table
    assert text.index(f"leading protocol: {leading}") < text.index("beside it: as published") < text.index("ROC AUC by protocol")
    assert f"{leading} (leading)" in text and "jpeg-tables on as published: AUC 1.000, beyond chance" in text
    assert "WARNING" not in text


def test_cli_warns_when_the_files_as_published_lead(saved_unlike, tmp_path, monkeypatch):
    monkeypatch.setattr(forgery, "run", header_only_run)
    out = tmp_path / "r.json"
    args = ["benchmark", "forgery", "--quick", "--data", str(saved_unlike), "--cache", str(tmp_path), "--protocol", "published", "--json", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "WARNING: jpeg-tables on as published: AUC 1.000, beyond chance" in res.output
    assert "the files' save history still separates the classes" in res.output
    saved = json.loads(out.read_text())
    assert list(saved["protocols"]) == ["as published"] and saved["warning"].startswith("WARNING")
    assert not list(tmp_path.glob("*-resaved-*"))  # no copy made for the files as published alone
    res = CliRunner().invoke(app, [*args[:-4], "--resave", "90", "--protocol", "resaved"])
    assert res.exit_code == 0 and "leading protocol: re-saved alike (JPEG q90)" in res.output and "as published" not in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--protocol", "resaved"], "--protocol needs --data: the generated benchmark is saved alike already"),
        (["--data", "x", "--protocol", "published", "--resave", "90"], "--protocol published measures the files as published alone"),
        (["--data", "x", "--protocol", "nope"], "'nope' is not one of"),
    ],
)
def test_cli_refuses_protocols_that_do_not_apply(args, message):
    res = CliRunner().invoke(app, ["benchmark", "forgery", "--quick", *args])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
