"""Files and folders on disk: whole-folder writes, stale temporaries, refused safetensors files,
and a save killed with SIGKILL at random points."""

import json
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from hyperimage.storage import load_tensors, remove_stale_temporaries, save_tensors, write_folder


def _write(files):
    def write(tmp):
        for name, text in files.items():
            (tmp / name).write_text(text)

    return write


def test_write_folder_replaces_the_owned_entries_and_keeps_the_others(tmp_path):
    target = tmp_path / "m"
    write_folder(target, _write({"a": "1", "b": "1"}))
    (target / "card.md").write_text("notes")
    (target / "old-splits").write_text("stale")
    (target / "checkpoints").mkdir()
    write_folder(target, _write({"a": "2"}), replaces=("b", "old-splits", "checkpoints"))
    assert sorted(p.name for p in target.iterdir()) == ["a", "card.md"]
    assert (target / "a").read_text() == "2" and (target / "card.md").read_text() == "notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folder left


def test_a_failed_write_leaves_the_old_folder_whole(tmp_path):
    target = tmp_path / "m"
    write_folder(target, _write({"a": "1"}))

    def fail(tmp):
        (tmp / "a").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_folder(target, fail)
    assert (target / "a").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_stale_temporaries_are_removed_on_the_next_write(tmp_path):
    target = tmp_path / "m"
    (tmp_path / ".m.abcd_123.tmp").mkdir()  # a killed write_folder
    (tmp_path / ".m.x.abcd_123.tmp").mkdir()  # another folder's ("m.x"): not ours to remove
    (tmp_path / ".m.abcdefgh.tmp.keep").write_text("")  # not a temporary name
    write_folder(target, _write({"a": "1"}))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.abcdefgh.tmp.keep", ".m.x.abcd_123.tmp", "m"]
    (target / ".a.zz_9zz9z.tmp").write_text("")  # a killed atomic_write
    assert [p.name for p in remove_stale_temporaries(target)] == [".a.zz_9zz9z.tmp"]
    assert [p.name for p in target.iterdir()] == ["a"]


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda b: b[:5], "5 bytes, shorter than a safetensors header"),
        (lambda b: struct.pack("<Q", 10**12) + b[8:], "header claims 1000000000000 bytes, the file holds {size}"),
        (lambda b: b"\x80\x04\x95" + b[3:], "header claims"),  # pickle protocol 4 opcodes in front
    ],
)
def test_load_tensors_refuses_what_is_not_a_whole_safetensors_file(tmp_path, make, reason):
    path = tmp_path / "t.safetensors"
    save_tensors(path, {"w": torch.ones(4)})
    path.write_bytes(make(path.read_bytes()))
    with pytest.raises(ValueError) as err:
        load_tensors(path, kind="model file")
    assert str(err.value).startswith(f"{path}: not a valid model file (" + reason.format(size=path.stat().st_size))


CHILD = """
import sys, json, torch
from hyperimage import presets
from hyperimage.inference.model import HyperImageModel
torch.manual_seed(0)
models = [HyperImageModel(presets.get("synthetic", method)) for method in ("two-stage", "patch-average")]
print("ready", flush=True)
i = 0
while True:
    model = models[i % 2]
    model.save(sys.argv[1], extras=lambda tmp: (tmp / "which.json").write_text(json.dumps(model.config.method)))
    if i == 0:
        print("saved", flush=True)
    i += 1
"""


def test_a_save_killed_at_random_points_leaves_no_folder_or_a_whole_one(tmp_path):
    """Children save two different models in turn into their folder and are killed (SIGKILL):
    one during its first save (no folder, or a whole one), the other while replacing a saved
    folder (always a whole one, whose config, weights and extra file belong together)."""
    from hyperimage.inference.model import HyperImageModel

    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    outs = [tmp_path / f"m{i}" for i in range(2)]
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(out)], stdout=subprocess.PIPE, text=True, env=env) for out in outs]
    try:
        for i, (child, out) in enumerate(zip(children, outs)):
            assert child.stdout.readline() == "ready\n"
            if i > 0:
                assert child.stdout.readline() == "saved\n"
            time.sleep(float(rng.uniform(0.0, 0.1 if i == 0 else 0.3)))
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            if not out.exists():
                assert i == 0, "a saved folder is swapped for the new one, never removed"
                continue
            model = HyperImageModel.load(out)  # raises if weights and config are a mix
            assert json.loads((out / "which.json").read_text()) == model.config.method
    finally:
        for child in children:
            child.kill()
            child.wait()
    HyperImageModel(model.config).save(outs[-1])  # the next save removes what a killed one left
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(f".{outs[-1].name}.")]
    assert sorted(p.name for p in outs[-1].iterdir()) == ["config.json", "model.safetensors", "which.json"]
