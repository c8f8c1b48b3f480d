"""Files on disk: safetensors for tensors, JSON for everything else, never pickle.

Every file is written to a temporary file beside it, fsync'ed and moved into place with
``os.replace``, so an interrupted run leaves either the old file or the new one. A model
folder is written whole the same way (:func:`write_folder`): a reader sees the old complete
folder or the new complete folder, never a mix.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from hyperimage.lock import LOCK

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
#: The file in a model folder that records which split each training image fell into.
SPLITS_FILE = "splits.csv"
#: The training run's report in a model folder, and its checkpoints while it runs.
TRAINING_FILE = "training.json"
CHECKPOINTS = "checkpoints"
#: Entries of a model folder that belong to the model: saving a model replaces them all.
MODEL_ENTRIES = (WEIGHTS, CONFIG, SPLITS_FILE, TRAINING_FILE, CHECKPOINTS, LOCK)

#: The ``format`` of a forensic evidence model's ``config.json`` (:mod:`hyperimage.inference.evidence.model`);
#: a two-stage model's is ``hyperimage``.
FORENSIC_FORMAT = "hyperimage-forensic"

#: Largest safetensors header accepted (the JSON index of the tensors; safetensors' own cap).
MAX_HEADER_BYTES = 100_000_000


def _fsync(path: str | os.PathLike) -> None:
    """Flush a file or a folder to disk (a folder: its entries, i.e. renames inside it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any]) -> None:
    """Call ``write(tmp_path)``, fsync, then move the temporary file onto ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync(path.parent)


def remove_stale_temporaries(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Delete what killed writes left in ``folder``: the ``.NAME.XXXXXXXX.tmp`` files of
    :func:`atomic_write` and folders of :func:`write_folder` (only those of ``name`` if given).

    Call it only while no other process writes there (``train`` holds the folder's lock).
    """
    folder = Path(folder)
    pattern = re.compile(rf"\.{re.escape(name) if name else '.+'}\.[a-z0-9_]{{8}}\.tmp")
    removed = [p for p in (folder.iterdir() if folder.is_dir() else []) if pattern.fullmatch(p.name)]
    for p in removed:
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False if the
    system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not supported by this file system
        return False
    raise OSError(err, os.strerror(err), str(a))


def write_folder(target: str | os.PathLike, write: Callable[[Path], Any], replaces: Iterable[str] = ()) -> Path:
    """Write a folder whole: ``write(tmp)`` fills a temporary folder beside ``target``, every
    file is fsync'ed and the folder is swapped into place in one step.

    An existing ``target`` keeps its entries that ``write`` did not make, except those named
    in ``replaces`` (entries owned by the writer, e.g. a model's old splits or checkpoints,
    which are dropped). Stale temporary folders of ``target`` are removed first. Where the
    system cannot swap two folders atomically (not Linux), the old folder is moved aside and
    the new one renamed into place: a reader may then briefly find no folder, never a mix.
    """
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent, target.name)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        write(tmp)
        replaced = set(replaces)
        if target.is_dir():
            for entry in target.iterdir():
                if entry.name not in replaced and not (tmp / entry.name).exists():
                    copy = shutil.copytree if entry.is_dir() else shutil.copy2
                    copy(entry, tmp / entry.name)
        for sub, _, files in os.walk(tmp):
            for f in files:
                _fsync(Path(sub) / f)
            _fsync(sub)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        if not target.exists():
            os.rename(tmp, target)
        elif not _exchange(tmp, target):
            aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
            os.rename(target, aside / target.name)
            os.rename(tmp, target)
            tmp = aside
        _fsync(target.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the new folder if it failed, else the old one
    return target


def is_model_dir(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder holding a saved model (weights and config)."""
    return (Path(path) / CONFIG).is_file() and (Path(path) / WEIGHTS).is_file()


def looks_like_model_dir(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder with any sign of a model: its weights, its config, a
    training run's checkpoints or lock. Such a folder is a model (or an error), never a
    folder of images."""
    path = Path(path)
    return path.is_dir() and any((path / name).exists() for name in (WEIGHTS, CONFIG, CHECKPOINTS, LOCK))


def model_format(path: str | os.PathLike) -> str | None:
    """The ``format`` a model folder's ``config.json`` declares, or None where it has none
    (no file, not a JSON object): which loader reads the folder. The loader then checks it all."""
    try:
        data = json.loads((Path(path) / CONFIG).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data.get("format") if isinstance(data, dict) and isinstance(data.get("format"), str) else None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_model_folder(
    folder: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any], config: dict[str, Any],
    extras: Callable[[Path], Any] | None = None,
) -> Path:
    """A model folder written whole (:func:`write_folder`): ``tensors`` (with ``meta``) as
    ``model.safetensors``, ``config`` as ``config.json``, and whatever ``extras(tmp)`` adds
    (splits, a training report) before the folder replaces the old one, whose model entries
    (:data:`MODEL_ENTRIES`) go; other files there (a model card) are kept."""

    def write(tmp: Path) -> None:
        save_tensors(tmp / WEIGHTS, tensors, meta)
        write_json(tmp / CONFIG, config)
        if extras is not None:
            extras(tmp)

    write_folder(folder, write, replaces=MODEL_ENTRIES)
    return Path(folder)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2)))


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any] | None = None) -> None:
    """Write tensors (and JSON-able ``meta``) to one safetensors file, atomically."""
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {"meta": json.dumps(meta or {})}
    atomic_write(path, lambda tmp: save_file(flat, tmp, metadata=metadata))


def load_tensors(path: str | os.PathLike, kind: str = "safetensors file") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_tensors`: (tensors, meta).

    Raises
    ------
    ValueError
        ``PATH: not a valid KIND (reason)`` for anything that is not a whole safetensors file:
        truncated, a header claiming more bytes than the file holds, another format (a pickle).
    """
    path = Path(path)

    def invalid(reason: str) -> ValueError:
        return ValueError(f"{path}: not a valid {kind} ({reason})")

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8:
        raise invalid(f"{size} bytes, shorter than a safetensors header")
    (claimed,) = struct.unpack("<Q", head)
    if claimed > min(MAX_HEADER_BYTES, size - 8):
        raise invalid(f"header claims {claimed} bytes, the file holds {size}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
        return tensors, json.loads(metadata.get("meta", "{}"))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise invalid(" ".join(str(err).split()) or type(err).__name__) from None


def prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``{k: v}`` -> ``{prefix/k: v}``."""
    return {f"{prefix}/{k}": v for k, v in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The entries of ``tensors`` under ``prefix/``, with the prefix removed."""
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in tensors.items() if k.startswith(prefix + "/")}
