"""Give the results files written before provenance stamps what can still be said of them.

Results written since ``hyperimage.evaluation.provenance`` carry a ``provenance`` stamp made
when they were computed. The files from before it get one here, marked ``"recovered": true``,
with only what can be recovered honestly (re-running them would take hours):

- ``commit``: the last commit that changed the file (``git log -1 -- FILE``). The figures
  were computed with the code of that commit or an earlier one; which one exactly is lost.
- ``committed``: that commit's date (not the date of the run).
- ``command``: the command the file itself records, else the one the README of
  :data:`README_COMMIT` (the last README that quoted every result by hand) gives for the
  file; ``command_fragment`` where the README gives only the options added to another
  command; ``None`` where neither says.
- ``preset`` and ``recipe``: what the file's own ``budget`` says trained its rows.
- ``how``: these rules in words, for a reader of the file.

Files of the older schema (the training budget under ``budget.pipeline``, from before the
recipe replaced the pipeline configuration in commit 3b7f3c5) are converted to the current
one: ``budget.recipe`` with one stage-1 phase, values unchanged, named after the registered
recipe it equals (``custom`` where none does); the original block is kept verbatim under
``provenance.converted.pipeline``. Summaries are left as they are (no ``median`` where the
old code wrote none).

Usage::

    python tools/recover_provenance.py             # stamp and convert results/*.json in place
    python tools/recover_provenance.py --check     # exit 1 if a file lacks provenance.commit
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
#: The README before the docs were rendered from results (the last hand-copied one).
README_COMMIT = "69e5a94"

#: Where the README names a file's command only through a placeholder or another paragraph:
#: the README's own words, quoted, so the reader can judge them.
README_NOTES = {
    "livec-2splits-iqa-quick.json": "README: 'On two splits (`--splits 2`, `results/livec-2splits-R.json`)': "
    "the split-0 loop's command for recipe iqa-quick with --splits 2",
    "livec-2splits-iqa-rank-quick.json": "README: 'On two splits (`--splits 2`, `results/livec-2splits-R.json`)': "
    "the split-0 loop's command for recipe iqa-rank-quick with --splits 2",
}


def git(*args: str) -> str:
    """Output of a git command in the repository (stripped); '' where it fails."""
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def last_commit(path: Path) -> tuple[str | None, str | None]:
    """(hash, ISO date) of the last commit that changed ``path``."""
    out = git("log", "-1", "--format=%H %cI", "--", str(path.relative_to(ROOT)))
    if not out:
        return None, None
    sha, date = out.split(" ", 1)
    return sha, date


# ---------------------------------------------------------------- commands from the README


def readme_commands(text: str) -> dict[str, tuple[str, str]]:
    """``{file name: (kind, command)}`` for every ``results/NAME.json`` a README names, kind
    ``command`` (a whole command) or ``fragment`` (options added to another command)."""
    found: dict[str, tuple[str, str]] = {}
    prose: list[str] = []
    blocks = re.split(r"^```[a-z]*\n(.*?)^```\n", text, flags=re.S | re.M)
    for i, part in enumerate(blocks):
        if i % 2:
            for name, command in _block_commands(part):
                found.setdefault(name, ("command", command))
        else:
            prose.append(part)
    for paragraph in "\n".join(prose).split("\n\n"):
        spans = re.findall(r"`([^`]+)`", paragraph.replace("\n", " "))
        for k, span in enumerate(spans):
            for name in re.findall(r"results/([\w.-]+\.json)", span):
                if span.startswith(("hyperimage ", "python ")):
                    found.setdefault(name, ("command", span))
                elif span.strip() == f"results/{name}":  # the command is an earlier span of the paragraph
                    earlier = [s for s in spans[:k] if s.startswith("hyperimage ")]
                    if earlier:
                        found.setdefault(name, ("command", f"{earlier[-1]} --json results/{name}"))
                else:
                    found.setdefault(name, ("fragment", span))
    return found


def _block_commands(block: str) -> list[tuple[str, str]]:
    """The commands of a fenced block that write ``results/...``: continuation lines joined,
    comments cut, a ``for VAR in A B; do ... done`` loop expanded."""
    lines = block.replace("\\\n", " ").splitlines()
    loop: tuple[str, list[str]] | None = None
    out = []
    for line in lines:
        if m := re.match(r"\s*for (\w+) in ([^;]+); do", line):
            loop = (m.group(1), m.group(2).split())
            continue
        if line.strip() == "done":
            loop = None
            continue
        command = re.sub(r"\s+#.*$", "", line).strip()
        command = re.sub(r"\s+", " ", command)
        for value in loop[1] if loop else [None]:
            expanded = command.replace(f"${loop[0]}", value) if loop else command
            for name in re.findall(r"results/([\w.-]+\.json)", expanded):
                out.append((name, expanded))
    return out


# ---------------------------------------------------------------- the older schema


def convert_pipeline(budget: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``budget`` with ``pipeline`` replaced by the equivalent ``recipe`` (values unchanged),
    and that recipe's name: the registered recipe it equals, else ``custom``.

    The pipeline configuration had one stage-1 training (``stage1``), ``windows_per_image``
    and ``val_windows`` (the windows phase's arguments; unused by the contour-pair phase of
    forgery models, so left out there), ``feature_batch`` and ``stage2_flips`` (now the
    ``flips`` stage-2 augmentation).
    """
    old = budget["pipeline"]
    windows = old.get("windows_per_image")
    args = {} if windows is None else {"windows_per_image": windows, "val_windows": old.get("val_windows", 20000)}
    recipe = {
        "phases": [{"name": None, "train": old["stage1"], "args": args, "augment": None}],
        "stage2": old["stage2"],
        "stage2_augment": ["flips"] if old.get("stage2_flips") else [],
        "stage2_rank": None,
        "feature_batch": old.get("feature_batch", 2048),
        "workers": None,
    }
    recipe["name"] = _registered_name(recipe)
    converted = {("recipe" if k == "pipeline" else k): (recipe if k == "pipeline" else v) for k, v in budget.items()}
    return converted, recipe["name"]


def _registered_name(recipe: dict[str, Any]) -> str:
    """The registered recipe whose settings ``recipe`` has (fields it lacks take their defaults)."""
    try:
        from hyperimage.training import recipe as recipes
    except ImportError:
        return "custom"

    def comparable(r: dict[str, Any]) -> str:
        r = json.loads(json.dumps(r))
        for phase in r["phases"]:
            phase["args"].pop("val_windows", None) if phase["args"].get("val_windows") == 20000 else None
        for train in [p["train"] for p in r["phases"]] + [r["stage2"]]:
            train.setdefault("optimizer", "sgd")
            train.setdefault("schedule", "paper")
        r.pop("name", None)
        return json.dumps(r, sort_keys=True)

    mine = comparable(recipe)
    for name in recipes.available():
        try:
            if comparable(recipes.get(name).to_json()) == mine:
                return name
        except Exception:  # noqa: BLE001 - a recipe that needs files it cannot find here
            continue
    return "custom"


# ---------------------------------------------------------------- the stamp


#: The preset a benchmark trains with where its budget names none (``budget.preset`` null): the
#: data set's, as the benchmark code decides it (``benchmark/iqa.py`` ``_preset``,
#: ``benchmark/forgery.py`` ``_forgery_model_config``, ``benchmark/synthetic.py``).
LAYOUT_PRESETS = {"livec": "livec", "koniq10k": "koniq", "live": "live", "tid2013": "tid", "kadid10k": "tid"}


def default_preset(data: dict[str, Any]) -> str:
    """The preset of a file's rows where its budget names none (see :data:`LAYOUT_PRESETS`)."""
    budget = data.get("budget") or {}
    if "n_exp1" in budget:
        return "synthetic"
    if "n_images" in budget:  # the forgery benchmark
        return "forgery"
    return LAYOUT_PRESETS.get(data.get("layout"), "tid")  # the photo benchmark and other folders: tid


def trained_with(data: dict[str, Any]) -> tuple[Any, Any]:
    """(preset, recipe) as the file's budget records them: one name, or a list per variant;
    a preset left to the data set resolved by :func:`default_preset`."""
    budget = data.get("budget")
    if not budget or ("cnn" in budget and not budget["cnn"]):  # not a benchmark, or baseline rows only
        return None, None  # no preset or recipe trained anything
    fallback = default_preset(data)
    if budget.get("variants"):
        return (
            [v.get("preset") or fallback for v in budget["variants"]],
            [(v.get("recipe") or {}).get("name") for v in budget["variants"]],
        )
    return budget.get("preset") or fallback, (budget.get("recipe") or {}).get("name")


def recover(path: Path, readme: dict[str, tuple[str, str]]) -> tuple[dict[str, Any], list[str]]:
    """The file's data with a recovered ``provenance`` (and the current schema); what was done."""
    data = json.loads(path.read_text())
    done = []
    converted = None
    if "pipeline" in (data.get("budget") or {}):
        original = data["budget"]["pipeline"]
        data["budget"], name = convert_pipeline(data["budget"])
        converted = {"from": "budget.pipeline (before commit 3b7f3c5)", "to": "budget.recipe", "pipeline": original}
        done.append(f"converted budget.pipeline to budget.recipe ({name})")
    if "provenance" in data:
        return data, done
    sha, date = last_commit(path)
    kind, command, source = None, None, None
    if isinstance(data.get("command"), str):
        kind, command, source = "command", data["command"], "the file's own 'command'"
    elif path.name in readme:
        kind, command = readme[path.name]
        source = f"README.md at {README_COMMIT}"
    preset, recipe = trained_with(data)
    stamp: dict[str, Any] = {
        "commit": sha,
        "recovered": True,
        "committed": date,
        "command": command if kind == "command" else None,
    }
    if kind == "fragment":
        stamp["command_fragment"] = command
    if path.name in README_NOTES:
        stamp["command_note"] = README_NOTES[path.name]
    stamp.update({"preset": preset, "recipe": recipe})
    recorded = {key: data[key] for key in ("commit", "torch", "numpy", "cpu", "cores") if key in data}
    if recorded:  # what a script recorded of itself before the stamp existed
        stamp["recorded"] = recorded
    stamp["how"] = (
        "Recovered after the fact by tools/recover_provenance.py, not stamped when the figures were computed: "
        "'commit' is the last commit that changed this file (git log -1), so the figures come from the code of "
        "that commit or an earlier one; 'committed' is that commit's date, not the run's; "
        + (f"'command' from {source}; " if kind == "command" else f"'command_fragment': the options {source} adds to another command; " if kind else "no command was recorded; ")
        + "'preset' and 'recipe' from this file's budget (a preset it leaves to the data set: that data set's, "
        "as the benchmark code picks it)"
        + ("; 'recorded': what the file itself recorded when it was written" if "recorded" in stamp else "")
        + "."
    )
    if converted:
        stamp["converted"] = converted
    data["provenance"] = stamp
    done.append(f"provenance recovered (commit {sha[:7] if sha else None}, command {'yes' if kind == 'command' else kind or 'none'})")
    return data, done


def _indent(text: str) -> int:
    m = re.search(r"\n( +)\"", text)
    return len(m.group(1)) if m else 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="results files (default: results/*.json)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file lacks provenance.commit")
    args = parser.parse_args()
    files = [p.resolve() for p in args.files] or sorted(RESULTS.glob("*.json"))
    if args.check:
        missing = [p.name for p in files if not (json.loads(p.read_text()).get("provenance") or {}).get("commit")]
        print("\n".join(f"{name}: no provenance.commit" for name in missing) or f"{len(files)} files: all stamped")
        sys.exit(1 if missing else 0)
    readme = readme_commands(git("show", f"{README_COMMIT}:README.md"))
    for path in files:
        text = path.read_text()
        data, done = recover(path, readme)
        if done:
            path.write_text(json.dumps(data, indent=_indent(text)) + ("\n" if text.endswith("\n") else ""))
        print(f"{path.name}: {'; '.join(done) or 'already stamped'}")


if __name__ == "__main__":
    main()
