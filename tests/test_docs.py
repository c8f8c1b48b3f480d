"""The documentation quotes no figure by hand: every figure, results table and registry list in
``README.md``, ``docs/`` and the shipped models' cards (``src/hyperimage/models/*/MODEL_CARD.md``)
equals what its source gives (``tools/render_docs.py --check``), every results file it quotes
carries its commit, and the commands it names exist."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("render_docs", ROOT / "tools" / "render_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return sys.modules[spec.name]


render_docs = _tool()

#: Numbers with two or more decimals that are settings or cited thresholds, not results.
NOT_RESULTS = {
    "0.005": "the paper's learning rate (docs/training.md)",
    "0.03": "RankIQA's claim, within 0.03 of all the labels (docs/results/quality.md)",
}


def test_every_rendered_figure_table_and_list_equals_its_source():
    problems = render_docs.check()
    assert not problems, "run `python tools/render_docs.py`:\n" + "\n".join(problems)


def test_every_quoted_results_file_carries_its_commit():
    quoted: set[str] = set()
    for path in render_docs.documents():
        quoted |= render_docs.render(path.read_text(), path.name).quoted
    assert len(quoted) >= 20  # the docs quote the results, not a handful of them
    for name in sorted(quoted):
        stamp = json.loads((ROOT / "results" / name).read_text()).get("provenance") or {}
        assert re.fullmatch(r"[0-9a-f]{40}", stamp.get("commit") or ""), f"results/{name}: no provenance.commit"


def _prose(text: str) -> str:
    """``text`` without code, markers (and what they render), comments, code spans and link targets."""
    text = render_docs.FENCE.sub("", text)
    text = re.sub(r"<!-- (results|registry): .*?<!-- /\1 -->", "", text, flags=re.S)
    text = render_docs.FIG.sub("", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def test_no_figure_is_typed_outside_a_marker():
    typed = []
    for path in render_docs.documents():
        for match in re.finditer(r"(?<![\w.])\d+\.\d{2,}(?![\w.])", _prose(path.read_text())):
            if match.group(0) not in NOT_RESULTS:
                typed.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert not typed, "put these in a <!-- fig: ... --> marker or leave them out:\n" + "\n".join(typed)


def test_the_scripts_the_docs_tell_users_to_run_are_in_the_repository():
    named = set()
    for path in render_docs.documents():
        named |= set(re.findall(r"(?<![\w/.-])((?:tools|benchmarks)/[\w-]+\.(?:py|sh))", path.read_text()))
        named |= set(re.findall(r"(?<![\w/.-])([\w-]+\.sh)\b", path.read_text())) - {Path(n).name for n in named}
    missing = sorted(n for n in named if not (ROOT / n).is_file() and not list(ROOT.glob(f"*/{n}")))
    assert named and not missing, f"the docs name scripts the repository lacks: {missing}"


def test_the_model_cards_are_rendered_like_the_docs_and_included_in_them():
    """Each shipped model's card is a rendered document quoting its model's own results files,
    and docs/models.md includes it (pymdownx.snippets) as the package ships it."""
    cards = sorted(render_docs.MODELS.glob("*/MODEL_CARD.md"))
    assert {card.parent.name for card in cards} >= {"iqa", "forgery"}
    assert set(cards) <= set(render_docs.documents())
    page = (ROOT / "docs" / "models.md").read_text()
    for card in cards:
        assert f'--8<-- "{card.relative_to(ROOT).as_posix()}"' in page, f"docs/models.md does not include {card}"
        quoted = render_docs.render(card.read_text(), str(card)).quoted
        assert any(name.startswith(f"model-{card.parent.name}-") for name in quoted), f"{card}: quotes no results/model-{card.parent.name}-*.json"


def test_the_readme_is_a_manual_whose_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    commands = re.findall(r"^python3 -m venv \.venv && .*$", readme, flags=re.M)
    assert len(commands) == 2 and commands[0].endswith("hyperimage benchmark synthetic --quick")
    ci = (ROOT / ".ci" / "run").read_text()
    install, test = commands[1].split(" && ")[1:]
    assert f"{install.replace('.venv/bin/pip install', '.venv/bin/pip install --quiet')}\n" in ci
    assert f"\n{test}\n" in ci and ".venv/bin/mkdocs build --strict" in ci.split(test, 1)[1]


# ------------------------------------------------------------------ the renderer itself


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    (tmp_path / "run.json").write_text(
        json.dumps({"summary": {"two-stage [a]": {"srocc": {"mean": 0.45748283831012854, "std": 0.01, "n": 3}}}, "splits": [{"x": 0.5}, {"x": 0.25}], "wall_seconds": 600})
    )
    monkeypatch.setattr(render_docs, "RESULTS", tmp_path)
    render_docs.results.cache_clear()
    yield tmp_path
    render_docs.results.cache_clear()


def test_a_figure_is_rendered_once_from_its_value(results_dir):
    fig = "<!-- fig: run.json summary/two-stage [a]/srocc/mean .3f -->0.458<!-- /fig -->"
    done = render_docs.render(f"SROCC {fig}.")
    assert done.text == "SROCC <!-- fig: run.json summary/two-stage [a]/srocc/mean .3f -->0.457<!-- /fig -->."
    assert done.changed and done.quoted == {"run.json"}  # the JSON 0.45748: 0.457 rounded once; the old README had 0.458 (rounded twice)
    assert not render_docs.render(done.text).changed


@pytest.mark.parametrize(
    ("expr", "form", "text"),
    [
        ("summary/two-stage [a]/srocc", "pm.3f", "0.457 +- 0.010"),
        ("splits/*/x", "list.2f", "0.50 / 0.25"),
        ("{wall_seconds} / 60", ".0f", "10"),
        ("{splits/0/x} - {splits/1/x}", "+.2f", "+0.25"),
    ],
)
def test_formats_and_arithmetic(results_dir, expr, form, text):
    assert render_docs.figure(f"run.json {expr} {form}")[0] == text


def test_bad_markers_say_where_and_why(results_dir):
    with pytest.raises(ValueError, match=r"doc.md: figure .*no 'nope'"):
        render_docs.render("SROCC <!-- fig: run.json summary/nope .3f -->1<!-- /fig -->", "doc.md")
    with pytest.raises(ValueError, match="doc.md: a paragraph may not start with a figure"):
        render_docs.render("text\n\n<!-- fig: run.json wall_seconds d -->600<!-- /fig --> s", "doc.md")
    with pytest.raises(ValueError, match="unknown results table 'nope'"):
        render_docs.render("<!-- results: nope -->\n<!-- /results -->", "doc.md")
    with pytest.raises(ValueError, match="not arithmetic"):
        render_docs.figure("run.json {wall_seconds} + __import__('os') .0f")  # no code runs from a marker


def test_a_figure_never_begins_a_line(results_dir):
    """Markdown ends a paragraph at a line that starts with a comment: the line joins the one before."""
    done = render_docs.render("took\n<!-- fig: run.json wall_seconds d -->600<!-- /fig --> s")
    assert done.text == "took <!-- fig: run.json wall_seconds d -->600<!-- /fig --> s" and done.changed


def test_code_blocks_are_shown_as_written(results_dir):
    text = "```markdown\n<!-- fig: run.json wall_seconds d -->5<!-- /fig -->\n```\n"
    assert render_docs.render(text).text == text


def test_registry_lists_name_every_registered_entry():
    from hyperimage import presets
    from hyperimage.data.datasets import LAYOUTS
    from hyperimage.training import recipe

    for name, names in (("presets", presets.available()), ("recipes", recipe.available()), ("layouts", LAYOUTS.available())):
        listed = re.findall(r"^(?:- |\| )`([^`]+)`", render_docs.REGISTRIES[name](), flags=re.M)
        assert sorted(listed) == sorted(names)
