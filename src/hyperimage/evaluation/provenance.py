"""Where a results file came from: the stamp every results JSON carries under ``provenance``.

A figure quoted in the documentation is only as good as what can be said about how it was
made. :func:`stamp` records, at the moment a benchmark or script writes its JSON, the commit
of the source tree (and whether it had uncommitted changes), the versions of the packages
that compute the figures, the machine (CPU model, cores, torch threads), the UTC date, the
command line, and the preset and recipe that trained the rows. ``tools/render_docs.py``
checks that every results file the docs quote carries ``provenance.commit``.

Nothing here may stop a run that has already spent hours computing its figures: every
field that cannot be found (no git, a package missing, no ``/proc/cpuinfo``) is ``None``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

#: Distributions whose versions a results file records (their PyPI names), in this order.
PACKAGES = ("hyperimage", "torch", "numpy", "scipy", "Pillow", "scikit-image", "scikit-learn")

#: The package's own folder; the git checkout it sits in (if any) is the one stamped.
_PACKAGE_DIR = Path(__file__).resolve().parents[1]

Names = str | Sequence[str] | None


def stamp(
    command: str | Sequence[str] | None = None,
    preset: Names = None,
    recipe: Names = None,
    model: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The provenance of a results file, as a JSON-ready dict.

    Parameters
    ----------
    command
        The command line that produced the figures; a list is quoted as a shell would need
        it. ``None``: this process's own (``sys.argv``, a console script by its name, a
        Python file as ``python FILE``).
    preset, recipe
        What trained the rows: a name, a list of names (one per variant), or ``None``.
    model
        A model folder the figures were measured with (``hyperimage evaluate``): recorded,
        and its ``config.json`` preset and ``recipe.json`` name fill ``preset`` and
        ``recipe`` where those are not given.

    Returns
    -------
    dict
        ``commit`` (``git rev-parse HEAD`` of the source tree, ``None`` outside git),
        ``dirty`` (tracked files changed since that commit; ``None`` outside git),
        ``versions``, ``machine``, ``date`` (UTC, ISO 8601), ``command``, ``preset``,
        ``recipe`` (and ``model`` when given). Never raises.
    """
    if model is not None:
        trained_preset, trained_recipe = model_origin(model)
        preset = trained_preset if preset is None else preset
        recipe = trained_recipe if recipe is None else recipe
    commit, dirty = git_state()
    record: dict[str, Any] = {
        "commit": commit,
        "dirty": dirty,
        "versions": versions(),
        "machine": machine(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": _command(command),
        "preset": _names(preset),
        "recipe": _names(recipe),
    }
    if model is not None:
        record["model"] = str(model)
    return record


def git_state(where: str | os.PathLike = _PACKAGE_DIR) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git checkout holding ``where`` (by default this package's
    source). ``dirty``: a tracked file differs from the commit, or the package holds a file
    git does not track (new code a run may have used). ``(None, None)`` when there is no git, no checkout, or the package is not a
    tracked part of it (an installed copy inside some other repository)."""
    try:
        tracked = _git(where, "ls-files", "--error-unmatch", "__init__.py")
        commit = _git(where, "rev-parse", "HEAD")
        if tracked is None or not commit:
            return None, None
        changed = _git(where, "status", "--porcelain", "--untracked-files=no", ":/")  # tracked, anywhere
        added = _git(where, "status", "--porcelain", "--untracked-files=normal", "--", ".")  # new files in the package
        if changed is None or added is None:
            return commit, None
        return commit, bool(changed or added)
    except Exception:  # noqa: BLE001 - a stamp never stops a run
        return None, None


def versions() -> dict[str, str | None]:
    """Python's version and those of :data:`PACKAGES` (``None`` for one not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except Exception:  # noqa: BLE001
            found[name] = None
    return found


def machine() -> dict[str, Any]:
    """CPU model, logical cores, torch's intra-op threads and the platform string: what a
    timing or a float-rounding difference depends on."""
    threads = None
    if "torch" in sys.modules:  # never import torch only to stamp a file
        try:
            threads = sys.modules["torch"].get_num_threads()
        except Exception:  # noqa: BLE001
            threads = None
    try:
        system = platform.platform()
    except Exception:  # noqa: BLE001
        system = None
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": threads, "platform": system}


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    try:
        return platform.processor() or platform.machine() or None
    except Exception:  # noqa: BLE001
        return None


def model_origin(model: str | os.PathLike) -> tuple[str | None, str | None]:
    """``(preset, recipe name)`` a model folder was trained with, from its ``config.json``
    and ``recipe.json``; ``None`` for what the folder does not say."""
    folder = Path(model)
    preset = _json_field(folder / "config.json", "preset")
    recipe = _json_field(folder / "recipe.json", "name")
    return preset, recipe


def _json_field(path: Path, key: str) -> str | None:
    try:
        value = json.loads(path.read_text()).get(key)
    except Exception:  # noqa: BLE001
        return None
    return value if isinstance(value, str) else None


def _git(where: str | os.PathLike, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _command(command: str | Sequence[str] | None) -> str | None:
    try:
        if isinstance(command, str):
            return command
        if command is not None:
            return shlex.join(str(c) for c in command)
        if not sys.argv or not sys.argv[0]:
            return None
        program = sys.argv[0]
        if program == "-c":
            return shlex.join(["python", "-c", *sys.argv[1:]])
        module = _module_of(program)
        if module:
            head = ["python", "-m", module]
        elif program.endswith(".py"):
            head = ["python", _relative(program)]
        else:
            head = [Path(program).name]
        return shlex.join([*head, *sys.argv[1:]])
    except Exception:  # noqa: BLE001
        return None


def _module_of(program: str) -> str | None:
    """``hyperimage.cli`` for ``python -m hyperimage.cli`` (whose ``argv[0]`` is the file)."""
    try:
        parts = Path(program).resolve().relative_to(_PACKAGE_DIR.parent).with_suffix("").parts
    except (ValueError, OSError):
        return None
    return ".".join(parts[:-1] if parts[-1] == "__main__" else parts)


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def _names(names: Names) -> str | list[str] | None:
    if names is None or isinstance(names, str):
        return names
    return [str(n) for n in names]
