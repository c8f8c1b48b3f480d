"""Render the figures, result tables and registry lists of the docs and README from their sources.

No figure in the documentation is typed by hand: each one sits between markers that name
where it comes from, and this script writes what the source gives between them, in place.
``--check`` changes nothing and exits 1 when any rendered text differs from its source (or a
quoted results file has no ``provenance.commit``); ``tests/test_docs.py`` runs it.

Three kinds of marker, in any Markdown file of ``docs/``, in ``README.md`` and in the shipped
models' cards (``src/hyperimage/models/*/MODEL_CARD.md``, which ``docs/models.md`` includes
and ``hyperimage.load(NAME).info.card`` returns):

``<!-- fig: FILE EXPR FORMAT -->0.823<!-- /fig -->``
    One figure quoted in prose (never at the start of a line: Markdown would end the
    paragraph there; rendering joins such a line to the one before). ``FILE`` is a results
    file (``results/FILE``), ``py:module.NAME`` (a constant of the code, e.g. the paper's
    figures a benchmark prints beside its own) or ``file:PATH`` (a JSON file of the
    repository, e.g. a shipped model's ``config.json``). ``EXPR`` is a path into it, keys separated by ``/`` (keys may hold
    spaces: ``summary/all/two-stage [imagenet]/srocc``; ``*`` takes every element), or
    arithmetic over such paths in braces (``{a/b} - {c/d}``, ``{wall_seconds} / 60``;
    ``{OTHER.json:a/b}`` reads another results file).
    ``FORMAT`` is a Python format spec (``.3f``, ``,d``), ``pm.3f`` for a summary's
    ``mean +- std``, or ``list.3f`` for several values joined by `` / ``.
``<!-- results: NAME -->`` ... ``<!-- /results -->``
    A table built from results files by the function registered as ``NAME`` in
    :data:`TABLES` (which also names the files it reads).
``<!-- registry: NAME -->`` ... ``<!-- /registry -->``
    A list that must not drift from the code: ``presets``, ``recipes`` or ``layouts``, read
    through the registries' public names with each entry's first docstring sentence,
    ``channels``, the evidence channels with their features and the words of their maps, or
    ``models``, the shipped models as ``hyperimage.list_models()`` describes them.

Usage::

    python tools/render_docs.py            # render every marker in place
    python tools/render_docs.py --check    # exit 1 if anything differs from its source
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import operator
import re
import sys
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"

FIG = re.compile(r"<!-- fig: (?P<spec>.+?) -->(?P<body>.*?)<!-- /fig -->", re.S)
FENCE = re.compile(r"(^[ \t]*```.*?^[ \t]*```[ \t]*$)", re.S | re.M)
INLINE = re.compile(r"(?<=\S)[ \t]*\n[ \t]*(<!-- fig: )")
BLOCK = re.compile(
    r"(?P<open><!-- (?P<kind>results|registry): (?P<name>[\w.+-]+) -->\n)(?P<body>.*?)(?P<close><!-- /(?P=kind) -->)", re.S
)


#: Where the shipped models' folders are; each one's MODEL_CARD.md is a document like the docs' pages.
MODELS = ROOT / "src" / "hyperimage" / "models"


def documents() -> list[Path]:
    """The files whose markers are rendered: README.md, every Markdown file under docs/ and the
    shipped models' cards (``src/hyperimage/models/*/MODEL_CARD.md``)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted(MODELS.glob("*/MODEL_CARD.md"))]


# ------------------------------------------------------------------------------ sources


@lru_cache(maxsize=None)
def results(name: str) -> dict[str, Any]:
    """The results file ``results/NAME`` (``.json`` may be left out)."""
    path = RESULTS / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())


def source(name: str) -> Any:
    """A results file; ``py:module.NAME``, a constant of the code; or ``file:PATH``, a JSON
    file of the repository (e.g. a shipped model's ``config.json``)."""
    if name.startswith("py:"):
        module, _, attr = name[3:].rpartition(".")
        return getattr(importlib.import_module(module), attr)
    if name.startswith("file:"):
        return json.loads((ROOT / name[5:]).read_text())
    return results(name)


def lookup(data: Any, path: str) -> Any:
    """The value at ``path`` (keys joined by ``/``; ``*`` maps over a list's or dict's values)."""
    values, many = [data], False
    for key in [k for k in path.strip("/").split("/") if k]:
        step = []
        for v in values:
            if key == "*":
                step.extend(v.values() if isinstance(v, dict) else v)
                many = True
            elif isinstance(v, (list, tuple)):
                step.append(v[int(key)])
            elif not isinstance(v, dict):  # a constant of the code: a dataclass, or its defaults
                step.append(getattr(v, key))
            else:
                if key not in v:
                    raise KeyError(f"no {key!r} in {path!r} (keys: {', '.join(map(str, v))})")
                step.append(v[key])
        values = step
    return values if many else values[0]


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _arithmetic(node: ast.AST, names: dict[str, float]) -> float:
    if isinstance(node, ast.Expression):
        return _arithmetic(node.body, names)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_arithmetic(node.left, names), _arithmetic(node.right, names))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_arithmetic(node.operand, names)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    raise ValueError(f"not arithmetic: {ast.dump(node)}")


def evaluate(data: Any, expr: str, used: set[str] | None = None) -> Any:
    """A path's value, or the arithmetic of ``{path}`` references (``+ - * /``, numbers); a
    reference ``{OTHER.json:path}`` reads another results file (its name added to ``used``)."""
    if "{" not in expr:
        return lookup(data, expr)
    names: dict[str, float] = {}

    def name(match: re.Match) -> str:
        ref = match.group(1)
        other, sep, path = ref.partition(":")
        if sep and other.endswith(".json"):
            value = lookup(results(other), path)
            if used is not None:
                used.add(other)
        else:
            value = lookup(data, ref)
        key = f"v{len(names)}"
        names[key] = float(value)
        return key

    return _arithmetic(ast.parse(re.sub(r"\{([^}]*)\}", name, expr), mode="eval"), names)


def fmt(value: Any, spec: str) -> str:
    """``value`` written as ``spec`` says (see the module docstring)."""
    if spec.startswith("pm"):
        return f"{value['mean']:{spec[2:]}} +- {value['std']:{spec[2:]}}"
    if spec.startswith("list"):
        return " / ".join(f"{v:{spec[4:]}}" for v in value)
    return f"{value:{spec}}"


def figure(spec: str) -> tuple[str, set[str]]:
    """(text, the results files it reads) of an inline figure ``FILE EXPR FORMAT``."""
    parts = spec.split()
    if len(parts) < 3:
        raise ValueError(f"a figure needs FILE EXPR FORMAT, got {spec!r}")
    name, expr, form = parts[0], " ".join(parts[1:-1]), parts[-1]
    used = set() if name.startswith(("py:", "file:")) else {name if name.endswith(".json") else f"{name}.json"}
    return fmt(evaluate(source(name), expr, used), form), used


# ------------------------------------------------------------------------------ tables


@dataclass
class Table:
    """A rendered block: the results files it reads and the function that writes it."""

    sources: tuple[str, ...]
    render: Callable[[], str]


TABLES: dict[str, Table] = {}
REGISTRIES: dict[str, Callable[[], str]] = {}


def table(name: str, *sources: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Register a results table ``name`` built from ``sources`` (results file names)."""

    def wrap(render: Callable[[], str]) -> Callable[[], str]:
        TABLES[name] = Table(tuple(f"{s}.json" for s in sources), render)
        return render

    return wrap


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """A Markdown table; ``align`` one letter a column (``l``, ``r``), left by default."""
    align = align or "l" * len(headers)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [headers, rule, *rows]
    return "\n".join("| " + " | ".join(str(c).replace("|", "\\|") for c in line) + " |" for line in lines) + "\n"


def ms(summary: dict[str, Any] | None, digits: int = 3) -> str:
    """A summary as ``mean +- std`` over splits, or its one value for a single split."""
    if not summary:
        return ""
    if summary.get("n", 1) > 1:
        return f"{summary['mean']:.{digits}f} +- {summary['std']:.{digits}f}"
    return f"{summary['mean']:.{digits}f}"


def per_split(values: list[dict[str, Any]], metric: str, digits: int = 3) -> str:
    return " / ".join(f"{v[metric]:.{digits}f}" for v in values)


def paper(module: str) -> Any:
    """A benchmark module's figures of the paper (``PAPER``), as its ``table()`` prints them."""
    return importlib.import_module(f"hyperimage.evaluation.benchmark.{module}").PAPER


@table("synthetic", "synthetic")
def _synthetic() -> str:
    data, ref = results("synthetic"), paper("synthetic")
    rows = []
    for row in data["rows"]:
        label = "1" if row["experiment"] == "exp1" else f"2, {row['patches']} patch{'es' if row['patches'] > 1 else ''}"
        for method in ("patch-average", "two-stage"):
            s = row["summary"][method]
            p = ref[row["experiment"]][method]
            cited = (
                f"SROCC {p['srocc']:.4f}, PLCC {p['plcc']:.4f}"
                if isinstance(p, dict)
                else f"mean(SROCC, PLCC) {p[row['patches'] - 1]:.3f}; ours {(s['srocc']['mean'] + s['plcc']['mean']) / 2:.3f}"
            )
            name = "two-stage" if method == "two-stage" else "patch averaging"
            rows.append([label, name, *(ms(s[m], 4) for m in ("srocc", "plcc", "krocc")), cited])
    return markdown(["experiment", "method", "SROCC", "PLCC", "KROCC", "paper"], rows)


IQA_SUBSETS = {
    "uniform": "uniform types (#1, 8, 10, 11, whole image)",
    "uniform+nonuniform": "+ non-uniform #14, #15",
    "all": "all (incl. localized versions)",
    "level": "label-free: SROCC of score vs level",
}
IQA_ROWS = {"cnn": "CNN (Kang)", "cnn+selective": "CNN + selective", "two-stage": "two-stage"}


def _photo_benchmark(name: str, metric: str) -> str:
    data = results(name)
    subsets = [s for s in IQA_SUBSETS if s in data["summary"] and (metric == "srocc" or s != "level")]
    rows = [
        [IQA_SUBSETS[s], *(ms(data["summary"][s][r].get(metric), 4) for r in IQA_ROWS)] for s in subsets
    ]
    return markdown(["test subset", *IQA_ROWS.values()], rows)


@table("iqa-photo-full", "iqa-full-5splits")
def _iqa_full() -> str:
    return _photo_benchmark("iqa-full-5splits", "srocc")


@table("iqa-photo-full-plcc", "iqa-full-5splits")
def _iqa_full_plcc() -> str:
    return _photo_benchmark("iqa-full-5splits", "plcc")


@table("iqa-photo-quick", "iqa-quick-5splits")
def _iqa_quick() -> str:
    return _photo_benchmark("iqa-quick-5splits", "srocc")


FORGERY_ROWS = {
    "jpeg-tables": "`jpeg-tables` (the file header only, no pixel)",
    "dct-markov-svm": "DCT-Markov + linear SVM",
    "end-to-end": "end-to-end CNN",
    "end-to-end + residual": "end-to-end CNN + noise residual",
    "patch-average": "patch averaging",
    "two-stage": "two-stage",
}
CLASSIFICATION = ("accuracy", "balanced_accuracy", "auc", "f1")
CLASSIFICATION_HEADERS = ["accuracy", "balanced accuracy", "ROC AUC", "F1 (tampered)"]


def _forgery(name: str, rows: dict[str, str], with_paper: bool) -> str:
    data = results(name)
    ref = paper("forgery")
    out = []
    for key, label in rows.items():
        if key not in data["summary"]:
            continue
        s = data["summary"][key]
        base = key.split(" [")[0]
        cited = [f"{ref[base] / 100:.4f}" if base in ref and key == base else ""] if with_paper else []
        out.append([label, *(ms(s[m]) for m in CLASSIFICATION), *cited])
    return markdown(["row", *CLASSIFICATION_HEADERS, *(["paper accuracy (CASIA-2)"] if with_paper else [])], out)


MAPS = {
    "two-stage (patch)": "two-stage, stage-1 patch scores",
    "two-stage (gradient)": "two-stage, stage-2 gradient x input",
    "centre box": "centred box (trivial)",
    "whole image": "whole image (trivial)",
}


def _maps(name: str, variant: str = "") -> str:
    data = results(name)["localisation_summary"]
    rows = []
    for key, label in MAPS.items():
        full = f"{key} [{variant}]" if variant and key.startswith("two-stage") else key
        if full in data:
            rows.append([label, ms(data[full]["f1"]), ms(data[full]["iou"])])
    return markdown(["map", "pixel F1", "IoU"], rows)


@table("forgery-generated", "forgery-debian-full-3splits")
def _forgery_generated() -> str:
    return _forgery("forgery-debian-full-3splits", FORGERY_ROWS, with_paper=True)


@table("forgery-generated-maps", "forgery-debian-full-3splits")
def _forgery_generated_maps() -> str:
    return _maps("forgery-debian-full-3splits")


@table("casia1-split0", "casia1-quick-split0")
def _casia1() -> str:
    return _forgery("casia1-quick-split0", FORGERY_ROWS, with_paper=True)


@table("casia1-split0-maps", "casia1-quick-split0")
def _casia1_maps() -> str:
    return _maps("casia1-quick-split0")


CASIA_VARIANTS = {
    "fast": "two-stage, from scratch (`forgery-fast`)",
    "fast-hide": "+ Hide-and-Seek on stage 2",
    "fast-inpaint": "+ context-encoder pre-training of stage 1",
    "imagenet": "two-stage, ImageNet trunk (`forgery-imagenet`)",
    "imagenet-hide": "+ Hide-and-Seek on stage 2",
}


@table("casia1-variants", "casia1-quick-split0-variants")
def _casia1_variants() -> str:
    data = results("casia1-quick-split0-variants")
    s, maps = data["summary"], data["localisation_summary"]
    rows = [
        [FORGERY_ROWS[k], *(ms(s[k][m]) for m in CLASSIFICATION), "", ""]
        for k in ("jpeg-tables", "dct-markov-svm", "end-to-end", "end-to-end + residual")
    ]
    for variant, label in CASIA_VARIANTS.items():
        two, average = s[f"two-stage [{variant}]"], s[f"patch-average [{variant}]"]
        located = " / ".join(ms(maps[f"two-stage ({m}) [{variant}]"]["f1"]) for m in ("patch", "gradient"))
        rows.append([label, *(ms(two[m]) for m in CLASSIFICATION), f"{ms(average['accuracy'])} / {ms(average['auc'])}", located])
    rows.append(["centred box / whole image (maps)", "", "", "", "", "", f"{ms(maps['centre box']['f1'])} / {ms(maps['whole image']['f1'])}"])
    headers = [*CLASSIFICATION_HEADERS, "patch averaging: accuracy / AUC", "map pixel F1: patch / gradient"]
    return markdown(["row", *headers], rows)


@table("casia1-q90", "casia1-q90-split0")
def _casia1_q90() -> str:
    data = results("casia1-q90-split0")
    s, maps = data["summary"], data["localisation_summary"]
    labels = {**FORGERY_ROWS, "patch-average [fast]": "patch averaging (`forgery-fast`, `forgery-full`)", "two-stage [fast]": "two-stage (`forgery-fast`, `forgery-full`)"}
    rows = [[label, *(ms(s[k][m]) for m in CLASSIFICATION[:3])] for k, label in labels.items() if k in s]
    table_ = markdown(["row", "accuracy", "balanced accuracy", "ROC AUC"], rows)
    map_rows = [[MAPS[k.split(" [")[0]], ms(v["f1"]), ms(v["iou"])] for k, v in maps.items()]
    return table_ + "\n" + markdown(["map (two-stage `forgery-fast`)", "pixel F1", "IoU"], map_rows)


@table("forensic-fullsize", "forensic-fullsize")
def _forensic_fullsize() -> str:
    data = results("forensic-fullsize")
    native, small, box = data["protocols"]["native"], data["protocols"]["384 px"], data["centre_box"]
    sd = lambda f: f"{f['mean']:.3f} +- {f['std']:.3f}"  # noqa: E731  (benchmarks/_evidence.mean_sd's summaries)
    rows = [[row, sd(f["auc"]), sd(small["rows"][row]["auc"]), sd(data["native_minus_384"]["rows"][row]["auc"]), ""] for row, f in native["rows"].items()]
    rows += [[f"{name} map: pixel F1", sd(f["f1"]), sd(small["pixel"][name]["f1"]), sd(data["native_minus_384"]["pixel"][name]["f1"]), sd(box[name]["f1"])]
             for name, f in native["pixel"].items()]  # fmt: skip
    return markdown(["read-out (image ROC AUC) / map", "native", "shrunk to 384 px", "native - 384 px (paired)", "centred box"], rows)


#: The stage-2 maps whose pixel F1 an evidence run reports, as its table heads them (those the run has).
PIXEL_MAPS = {"pixel": "pixel F1", "pixel_relative": "pixel F1, map less its largest value",
              "pixel_given_tampered": "pixel F1, map given tampered"}


def _evidence_casia(name: str) -> str:
    data = results(name)
    sd = lambda f: f"{f['mean']:.3f} +- {f['std']:.3f}" if f else ""  # noqa: E731  (benchmarks/_evidence.mean_sd's summaries)
    pixel = [k for k in PIXEL_MAPS if any(k in f for f in data["rows"].values())]
    rows = [[row, *(sd(f.get(m)) for m in ("auc", "auc_copy-move", "auc_splicing", "detection_at_5pc")), *(sd(f.get(k, {}).get("f1")) for k in pixel)]
            for row, f in data["rows"].items()]  # fmt: skip
    rows.append(["centred box", "", "", "", "", sd(data["centred_box_pixel"]["f1"]), *([""] * (len(pixel) - 1))])
    return markdown(["row", "ROC AUC", "AUC copy-move (`Sp_S`)", "AUC splicing (`Sp_D`)", "detection at 5% false alarms", *(PIXEL_MAPS[k] for k in pixel)], rows)


#: The evidence benchmark's runs on CASIA v1, each a table of its own (``benchmarks/evidence_casia.py --out``).
EVIDENCE_CASIA_RUNS = (
    "evidence-casia1-q75", "evidence-casia1-q75-without-learned", "evidence-casia1-q75-cell32",
    "evidence-casia1-q75-cell32-synthetic", "evidence-casia1-q75-cell32-ensemble", "evidence-casia1-q75-cell16-ensemble",
)
for _run in EVIDENCE_CASIA_RUNS:
    table(_run, _run)(partial(_evidence_casia, _run))


#: Stage 2 on 32-px cells as first trained, with Hide-and-Seek, with five members, with both.
STAGE2_VARIANTS = {
    "one network": "evidence-casia1-q75-cell32",
    "Hide-and-Seek 0.4": "evidence-casia1-q75-cell32-hide",
    "five members": "evidence-casia1-q75-cell32-members",
    "five members, Hide-and-Seek 0.4": "evidence-casia1-q75-cell32-ensemble",
}


@table("evidence-stage2-variants", *STAGE2_VARIANTS.values())
def _evidence_stage2_variants() -> str:
    def cell(f: dict) -> str:
        return f"{f['mean']:.3f} +- {f['std']:.3f} ({' / '.join(f'{v:.3f}' for v in f['values'])})"

    rows = []
    for label, name in STAGE2_VARIANTS.items():
        f = results(name)["rows"]["stage 2, all channels"]
        rows.append([label, *(cell(f[m]) for m in ("auc", "auc_copy-move", "auc_splicing")), cell(f["pixel"]["f1"])])
    return markdown(["stage 2", "ROC AUC (splits 0 / 1 / 2)", "AUC copy-move", "AUC splicing", "pixel F1"], rows)


@table("tamper-heldout", "tamper-heldout")
def _tamper_heldout() -> str:
    data = results("tamper-heldout")
    kinds = ("splicing", "copy_move", "removal")
    cell = lambda f: f"{f['auc']:.3f}" + (f" / {f['pixel']['f1']:.3f}" if "pixel" in f else "")  # noqa: E731
    rows = [[row, *(cell(f[k]) for k in kinds)] for row, f in data["rows"].items()]
    rows.append(["centred box (pixel F1)", *(f"{data['centred_box_pixel'][k]['f1']:.3f}" for k in kinds)])
    return markdown(["row", *(f"{k.replace('_', '-')}: AUC / pixel F1" for k in kinds)], rows)


def _iqa_row(data: dict[str, Any], row: str) -> dict[str, Any]:
    return data["summary"]["all"][row]


LIVEC_ROWS = {
    "brisque+svr": ("livec-split0-baselines", "BRISQUE + SVR (exp. 1)", "BRISQUE"),
    "niqe": ("livec-split0-baselines", "NIQE (pristine model from package photos, no training)", None),
    "shallow-end-to-end": ("livec-split0-baselines", "shallow end-to-end CNN (exp. 4)", None),
    "deep-end-to-end": ("livec-split0-baselines", "deep end-to-end CNN (exp. 4)", None),
    "cnn": ("livec-split0-cnn-two-stage", "Kang CNN, patch averaging", None),
    "two-stage": ("livec-split0-cnn-two-stage", "**two-stage**", "WaDIQaM"),
}


@table("livec-split0", "livec-split0-baselines", "livec-split0-cnn-two-stage")
def _livec_split0() -> str:
    published = importlib.import_module("hyperimage.evaluation.benchmark.iqa").PUBLISHED_LIVEC
    rows = []
    for row, (name, label, cite) in LIVEC_ROWS.items():
        s = _iqa_row(results(name), row)
        cited = ""
        if cite == "BRISQUE":
            cited = f"BRISQUE {published['BRISQUE']:.3f}"
        elif cite:
            cited = ", ".join(f"{k} {published[k]:.3f}" for k in ("WaDIQaM", "DBCNN", "HyperIQA")) + " (the last two: ImageNet backbones)"
        rows.append([label, ms(s["srocc"]), ms(s["plcc"]), cited])
        if row == "cnn":
            why = results(name)["not_applicable"]["cnn+selective"]
            rows.append(["CNN + selective patch training", why, "", ""])
    return markdown(["row", "SROCC", "PLCC", "published in-set SROCC (their papers)"], rows)


@table("livec-rgb", "livec-3splits-rgb")
def _livec_rgb() -> str:
    data = results("livec-3splits-rgb")
    labels = {
        "two-stage": "two-stage, `livec-rgb`, from scratch",
        "cnn": "Kang CNN, patch averaging (the same stage 1)",
        "brisque+svr": "BRISQUE + SVR (exp. 1)",
        "niqe": "NIQE",
        "shallow-end-to-end": "shallow end-to-end CNN (exp. 4)",
        "deep-end-to-end": "deep end-to-end CNN (exp. 4)",
    }
    rows = [
        [label, per_split(data["splits"]["all"][r], "srocc"), ms(_iqa_row(data, r)["srocc"]), ms(_iqa_row(data, r)["plcc"])]
        for r, label in labels.items()
    ]
    return markdown(["row", "SROCC per split", "SROCC mean +- std", "PLCC mean +- std"], rows)


@table("livec-recipes-split0", "livec-split0-iqa-quick", "livec-split0-iqa-rank-quick", "livec-split0-iqa-hide-quick")
def _livec_recipes() -> str:
    labels = {
        "iqa-quick": "`iqa-quick` (from scratch)",
        "iqa-rank-quick": "`iqa-rank-quick` (RankIQA pre-training on the 5 built-in photos, then the same)",
        "iqa-hide-quick": "`iqa-hide-quick` (Hide-and-Seek on stage 2's hyper-images)",
    }
    rows = []
    for recipe, label in labels.items():
        data = results(f"livec-split0-{recipe}")
        rows.append([label, ms(_iqa_row(data, "cnn")["srocc"]), ms(_iqa_row(data, "two-stage")["srocc"]), ms(_iqa_row(data, "two-stage")["plcc"])])
    return markdown(["recipe", "Kang CNN, patch averaging (SROCC)", "two-stage (SROCC)", "two-stage (PLCC)"], rows)


@table("livec-2splits", "livec-2splits-iqa-quick", "livec-2splits-iqa-rank-quick")
def _livec_2splits() -> str:
    rows = []
    for recipe in ("iqa-quick", "iqa-rank-quick"):
        data = results(f"livec-2splits-{recipe}")
        rows.append([f"`{recipe}`", per_split(data["splits"]["all"]["two-stage"], "srocc"), ms(_iqa_row(data, "two-stage")["srocc"])])
    return markdown(["recipe", "two-stage SROCC per split", "mean +- std"], rows)


@table("livec-variants", "livec-3splits-variants")
def _livec_variants() -> str:
    data = results("livec-3splits-variants")
    labels = {
        "scratch": "from scratch (`iqa-quick`)",
        "rank": "RankIQA pre-training (`iqa-rank-quick`)",
        "imagenet": "ImageNet trunk, frozen (`livec-imagenet`, `iqa-imagenet-quick`)",
        "imagenet-hide": "ImageNet trunk + Hide-and-Seek on stage 2 (`iqa-imagenet-hide-quick`)",
    }
    rows = []
    for v, label in labels.items():
        two = _iqa_row(data, f"two-stage [{v}]")
        rows.append([label, ms(_iqa_row(data, f"cnn [{v}]")["srocc"]), per_split(data["splits"]["all"][f"two-stage [{v}]"], "srocc"), ms(two["srocc"]), ms(two["plcc"])])
    for row, label in (("imagenet+ridge", "`imagenet+ridge` (trunk outputs pooled, ridge; no stage 1 or 2)"), ("brisque+svr", "BRISQUE + SVR (exp. 1)")):
        s = _iqa_row(data, row)
        rows.append([label, "", per_split(data["splits"]["all"][row], "srocc"), ms(s["srocc"]), ms(s["plcc"])])
    return markdown(["stage 1", "patch averaging SROCC", "two-stage SROCC per split", "two-stage SROCC", "two-stage PLCC"], rows)


def _quarter_row(name: str, variant: str, label: str) -> list[str]:
    data = results(name)
    key = f"two-stage [{variant}]" if variant else "two-stage"
    cnn = f"cnn [{variant}]" if variant else "cnn"
    return [label, ms(_iqa_row(data, cnn)["srocc"]), per_split(data["splits"]["all"][key], "srocc"), ms(_iqa_row(data, key)["srocc"])]


QUARTER_HEADERS = ["recipe", "patch averaging SROCC", "two-stage SROCC per split", "two-stage SROCC"]


@table("livec-25pc", "livec-3splits-25pc", "livec-3splits-variants")
def _livec_25pc() -> str:
    rows = [
        _quarter_row("livec-3splits-25pc", "scratch", "`iqa-quick` (from scratch), 25% of the labels"),
        _quarter_row("livec-3splits-25pc", "rank", "`iqa-rank-quick` (RankIQA pre-training), 25%"),
        _quarter_row("livec-3splits-25pc", "imagenet", "`iqa-imagenet-quick` (ImageNet trunk), 25%"),
        _quarter_row("livec-3splits-variants", "scratch", "`iqa-quick` from scratch with **all** the labels"),
    ]
    return markdown(QUARTER_HEADERS, rows)


@table("livec-25pc-debian", "livec-3splits-25pc", "livec-3splits-25pc-debian")
def _livec_25pc_debian() -> str:
    rows = [
        _quarter_row("livec-3splits-25pc", "rank", "`iqa-rank-quick` (ranking over the 5 built-in photos)"),
        _quarter_row("livec-3splits-25pc-debian", "rank-debian", "`iqa-rank-debian-quick` (ranking over the 96 Debian photos)"),
        _quarter_row("livec-3splits-25pc-debian", "rank-debian-s2", "`iqa-rank-debian-s2-quick` (the same, plus rankings in stage 2)"),
    ]
    return markdown(QUARTER_HEADERS, rows)


@table("livec-25pc-imagenet", "livec-3splits-25pc-imagenet-rank", "livec-3splits-25pc-imagenet-rankiqa", "livec-3splits-variants")
def _livec_25pc_imagenet() -> str:
    rows = [
        _quarter_row("livec-3splits-25pc-imagenet-rank", "imagenet", "ImageNet trunk (`iqa-imagenet-quick`)"),
        _quarter_row("livec-3splits-25pc-imagenet-rank", "imagenet-rank", "+ rankings beside the labels in stage 2 (`iqa-imagenet-rank-quick`)"),
        _quarter_row("livec-3splits-25pc-imagenet-rankiqa", "imagenet-rankiqa", "+ RankIQA pre-training of stage 1 (`iqa-imagenet-rankiqa-quick`)"),
        _quarter_row("livec-3splits-variants", "scratch", "from scratch with **all** the labels (`iqa-quick`)"),
    ]
    return markdown(["25% of the labels", *QUARTER_HEADERS[1:]], rows)


@table(
    "livec-imagenet-split0",
    "livec-split0-imagenet",
    "livec-split0-imagenet-taps",
    "livec-split0-imagenet-stage2-adam",
    "livec-split0-imagenet-stage2-long",
    "livec-split0-imagenet-rankiqa",
)
def _livec_imagenet_split0() -> str:
    rows = []
    for name in TABLES["livec-imagenet-split0"].sources:
        data = results(name)
        recipes = {v["name"]: v["recipe"]["name"] for v in data["budget"].get("variants", [])}
        default = (data["budget"].get("recipe") or {}).get("name", "")
        for row, s in data["summary"]["all"].items():
            variant = row.split(" [")[1][:-1] if " [" in row else ""
            recipe = recipes.get(variant, default) if row.split(" [")[0] in ("cnn", "two-stage") else ""
            rows.append([f"`{name}`", row, f"`{recipe}`" if recipe else "", ms(s["srocc"]), ms(s["plcc"])])
    return markdown(["results file", "row", "recipe (its name in the file)", "SROCC", "PLCC"], rows)


@table("headline", "synthetic", "livec-3splits-variants", "casia1-quick-split0-fast", "forgery-debian-full-3splits")
def _headline() -> str:
    syn = results("synthetic")["rows"][0]["summary"]
    livec = results("livec-3splits-variants")
    gen = results("forgery-debian-full-3splits")["summary"]
    casia = results("casia1-quick-split0-fast")["summary"]
    rows = [
        ["synthetic task, exp. 1 (Table 1)", "SROCC", ms(syn["two-stage"]["srocc"]), ms(syn["patch-average"]["srocc"]), "", "`synthetic.json`"],
        [
            "LIVE-C photos, ImageNet trunk, 3 splits (Table 2 exp. 5)",
            "SROCC",
            ms(_iqa_row(livec, "two-stage [imagenet]")["srocc"]),
            ms(_iqa_row(livec, "cnn [imagenet]")["srocc"]),
            f"BRISQUE + SVR {ms(_iqa_row(livec, 'brisque+svr')['srocc'])}",
            "`livec-3splits-variants.json`",
        ],
        [
            "generated forgeries, 3 splits (Table 3)",
            "accuracy",
            ms(gen["two-stage"]["accuracy"]),
            ms(gen["patch-average"]["accuracy"]),
            f"DCT-Markov SVM {ms(gen['dct-markov-svm']['accuracy'])}",
            "`forgery-debian-full-3splits.json`",
        ],
        [
            "CASIA v1, split 0, `forgery-fast`",
            "ROC AUC",
            ms(casia["two-stage [fast]"]["auc"]),
            ms(casia["patch-average [fast]"]["auc"]),
            f"DCT-Markov SVM {ms(casia['dct-markov-svm']['auc'])} (reads how the files were saved)",
            "`casia1-quick-split0-fast.json`",
        ],
    ]
    return markdown(["data (paper's table)", "metric", "two-stage", "patch averaging", "classic baseline", "results file"], rows)


@table("results-files", *sorted(p.stem for p in RESULTS.glob("*.json")))
def _results_files() -> str:
    rows = []
    for name in TABLES["results-files"].sources:
        stamp = results(name).get("provenance") or {}
        command = stamp.get("command") or (f"(options) {stamp['command_fragment']}" if stamp.get("command_fragment") else "")
        how = "recovered" if stamp.get("recovered") else "stamped"
        if (stamp.get("converted") or {}).get("from"):
            how += ", converted from the pipeline schema"
        rows.append([f"`{name}`", f"`{(stamp.get('commit') or '')[:7]}`", how, f"`{command}`" if command else ""])
    return markdown(["results file", "commit", "provenance", "command"], rows)


# ------------------------------------------------------------------------------ registries
# Each reads one registry through its public names; the other parts of this file never do.


def first_sentence(obj: Any) -> str:
    """The first sentence of ``obj``'s docstring, reST roles and double backticks as Markdown."""
    doc = (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")
    doc = re.split(r"(?<=[.!?])\s+(?=[A-Z(])", doc)[0]
    doc = re.sub(r":\w+:`~?([^`]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`", doc)
    return doc.replace("``", "`")


def _listing(entries: list[tuple[str, Any]]) -> str:
    return "".join(f"- `{name}`: {first_sentence(obj)}\n" for name, obj in entries)


def _presets() -> str:
    from hyperimage import presets

    rows = [
        [f"`{s.name}`", s.task, f"`{s.recipe}`", f"`{s.stage1_data}`", first_sentence(s.build), s.heat_map]
        for s in map(presets.spec, presets.available())
    ]
    return markdown(["preset", "task", "default recipe", "stage 1 learns from", "what it is", "its heat map shows"], rows)


def _recipes() -> list[tuple[str, Any]]:
    from hyperimage.training import recipe

    return [(name, recipe.RECIPES.get(name)) for name in recipe.available()]


def _layouts() -> str:
    from hyperimage.data.datasets import LAYOUTS

    def scores(layout: Any) -> str:
        span = "as its meta.json says" if layout.score_range is None else f"{layout.score_range[0]:g}-{layout.score_range[1]:g}"
        return f"{span}, {'higher' if layout.higher_is_better else 'lower'} is better"

    rows = [
        [f"`{name}`", layout.title, scores(layout), f"`{layout.preset}`" if layout.preset else "as its meta.json says",
         "80/20 by image (in the wild)" if layout.in_the_wild else "the task's, by reference or source"]
        for name, layout in LAYOUTS.items()
    ]
    return markdown(["layout", "data set", "scores", "preset", "random splits"], rows)


def _models() -> str:
    import hyperimage

    return "".join(f"- `{name}`: {line}\n" for name, line in hyperimage.list_models().items())


def _channels() -> str:
    from hyperimage.inference.evidence import CHANNELS

    rows = [
        [f"`{name}`", ", ".join(f"`{f}`" for f in channel.features), f"`{channel.headline}`",
         channel.legend.split(": ", 1)[1], f"`{channel.shipped_model}`" if channel.shipped_model else ""]
        for name, channel in CHANNELS.items()
    ]
    return markdown(["channel", "features per cell", "its map draws", "what the map shows", "reads the shipped model"], rows)


REGISTRIES.update(
    channels=_channels,
    models=_models,
    presets=_presets,
    recipes=lambda: _listing(_recipes()),
    layouts=_layouts,
)


# ------------------------------------------------------------------------------ rendering


@dataclass
class Rendered:
    """A document's text with every marker rendered, what differed, and the results it quotes."""

    text: str
    changed: list[str]
    quoted: set[str]


def render(text: str, where: str = "") -> Rendered:
    """Every marker of ``text`` rendered from its source. A marker whose source fails is an
    error naming it (``where``: the file, for the message)."""
    changed: list[str] = []
    quoted: set[str] = set()

    def block(m: re.Match) -> str:
        kind, name = m.group("kind"), m.group("name")
        if kind == "results":
            if name not in TABLES:
                raise ValueError(f"{where}: unknown results table {name!r}; tables: {', '.join(TABLES)}")
            quoted.update(TABLES[name].sources)
            body = TABLES[name].render()
        else:
            if name not in REGISTRIES:
                raise ValueError(f"{where}: unknown registry list {name!r}; lists: {', '.join(REGISTRIES)}")
            body = REGISTRIES[name]()
        if body != m.group("body"):
            changed.append(f"{where}: {kind} {name}")
        return m.group("open") + body + m.group("close")

    def fig(m: re.Match) -> str:
        spec = m.group("spec")
        try:
            body, used = figure(spec)
        except Exception as err:  # noqa: BLE001 - said with the marker that failed
            raise ValueError(f"{where}: figure {spec!r}: {err}") from None
        quoted.update(used)
        if body != m.group("body"):
            changed.append(f"{where}: {spec}: {m.group('body')!r} -> {body!r}")
        return f"<!-- fig: {spec} -->{body}<!-- /fig -->"

    parts = FENCE.split(text)  # odd parts: fenced code blocks, shown as they are
    for i in range(0, len(parts), 2):
        if re.search(r"(\A|\n[ \t]*\n)[ \t]*<!-- fig: ", parts[i]):
            raise ValueError(f"{where}: a paragraph may not start with a figure (Markdown would read an HTML block)")
        # a line that starts with a comment ends the paragraph in Markdown: join it to the line before
        joined = INLINE.sub(r" \1", parts[i])
        if joined != parts[i]:
            changed.append(f"{where}: a figure marker began a line")
        parts[i] = FIG.sub(fig, BLOCK.sub(block, joined))
    return Rendered("".join(parts), changed, quoted)


def unstamped(names: set[str]) -> list[str]:
    """The quoted results files that carry no ``provenance.commit``."""
    return sorted(n for n in names if not (results(n).get("provenance") or {}).get("commit"))


def check(paths: Sequence[Path] | None = None) -> list[str]:
    """Everything that differs from its source, and quoted results without a commit; [] if none."""
    problems: list[str] = []
    quoted: set[str] = set()
    for path in paths or documents():
        done = render(path.read_text(), str(path.relative_to(ROOT)))
        problems += done.changed
        quoted |= done.quoted
    problems += [f"results/{n}: quoted, but has no provenance.commit" for n in unstamped(quoted)]
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any rendered text differs")
    parser.add_argument("files", nargs="*", type=Path, help="Markdown files (default: README.md, docs/**/*.md and the model cards)")
    args = parser.parse_args()
    paths = [p.resolve() for p in args.files] or documents()
    try:
        if args.check:
            problems = check(paths)
            print("\n".join(problems) or f"{len(paths)} files: every figure, table and list equals its source")
            sys.exit(1 if problems else 0)
        for path in paths:
            text = path.read_text()
            done = render(text, str(path.relative_to(ROOT)))
            if done.text != text:
                path.write_text(done.text)
            print(f"{path.relative_to(ROOT)}: {len(done.changed)} rendered anew")
    except ValueError as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
