"""One writer per model folder: ``train`` holds an exclusive lock on its ``--out`` folder.

The lock is the file ``FOLDER/train.lock``, holding the writer's PID, locked with ``flock``:
the kernel releases it when the process ends, however it ends, so a lock file left by a
killed run is recognised as stale (nobody holds it) and taken over. Readers (``score``,
``explain``, ``evaluate``) refuse a folder whose lock is held: its files are being written.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path
from typing import Callable

LOCK = "train.lock"


class FolderInUse(ValueError):
    """The folder's lock is held by another process; ``str(err)`` is one line naming it."""


def _pid(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 32).decode("ascii", "replace").strip() or "?"


def _in_use(folder: Path, pid: str) -> FolderInUse:
    return FolderInUse(f"{folder}: in use by a training run (pid {pid}, {folder / LOCK}); wait for it to finish")


def holder(folder: str | os.PathLike) -> str | None:
    """The PID written in ``folder``'s lock if a live process holds it, else None."""
    path = Path(folder) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _pid(fd)
    finally:
        os.close(fd)  # also drops the shared lock taken just to test
    return None


def check_free(folder: str | os.PathLike) -> None:
    """Raise :class:`FolderInUse` if a training run is writing ``folder``."""
    pid = holder(folder)
    if pid is not None:
        raise _in_use(Path(folder), pid)


class FolderLock:
    """An exclusive lock on a model folder, for a ``with`` block (created if missing).

    ``log`` (default: stderr) hears about a stale lock taken over. :meth:`follow` locks the same name in the
    new folder that replaces this one (:func:`~hyperimage.storage.write_folder`), so the lock
    stays held across the swap.
    """

    def __init__(self, folder: str | os.PathLike, log: Callable[[str], None] | None = None):
        self.folder = Path(folder)
        self.log = log or (lambda line: print(line, file=sys.stderr))
        self._fds: list[int] = []

    def _take(self, folder: Path, wait: float = 1.0) -> None:
        path = folder / LOCK
        deadline = time.monotonic() + wait  # readers take it shared for an instant
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _pid(fd)
                os.close(fd)
                if time.monotonic() > deadline:
                    raise _in_use(self.folder, pid) from None
                time.sleep(0.05)
                continue
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder removed or replaced the file as we took it: take the new one
        old = _pid(fd)
        if old not in ("?", str(os.getpid())):
            self.log(f"{folder}: taking over the lock of process {old}, which is no longer running")
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        os.fsync(fd)
        self._fds.append(fd)

    def follow(self, folder: Path) -> None:
        """Hold the lock of ``folder`` too (the new folder about to replace this one)."""
        self._take(folder)

    def __enter__(self) -> "FolderLock":
        self.folder.mkdir(parents=True, exist_ok=True)
        self._take(self.folder)
        return self

    def __exit__(self, *exc) -> None:
        (self.folder / LOCK).unlink(missing_ok=True)  # while still held: nobody takes a dying file
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
