"""One writer per model folder: the flock'ed train.lock with the writer's PID."""

import os

import pytest

from hyperimage.lock import LOCK, FolderInUse, FolderLock, check_free, holder


def test_a_held_lock_refuses_a_second_writer_and_readers_until_released(tmp_path):
    folder = tmp_path / "m"
    with FolderLock(folder) as held:
        assert (folder / LOCK).read_text() == str(os.getpid()) and holder(folder) == str(os.getpid())
        message = f"{folder}: in use by a training run (pid {os.getpid()}, {folder / LOCK}); wait for it to finish"
        with pytest.raises(FolderInUse) as err:
            FolderLock(folder).__enter__()
        assert str(err.value) == message
        with pytest.raises(FolderInUse, match="in use by a training run"):
            check_free(folder)
        new = tmp_path / "new"
        new.mkdir()
        held.follow(new)  # the folder that will replace this one is locked too
        assert holder(new) == str(os.getpid())
    assert not (folder / LOCK).exists() and holder(folder) is None
    check_free(folder)


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_message(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / LOCK).write_text("999999999")  # no such process holds it: flock succeeds
    assert holder(folder) is None
    heard = []
    with FolderLock(folder, log=heard.append):
        assert (folder / LOCK).read_text() == str(os.getpid())
    assert heard == [f"{folder}: taking over the lock of process 999999999, which is no longer running"]
