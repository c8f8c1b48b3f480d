"""The on-disk training store: prepared once, reopened on resume, prepared again when the data change."""

import os

import pytest
import torch

from hyperimage import presets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.generators import synthetic
from hyperimage.inference.model import HyperImageModel
from hyperimage.training import store as store_module
from hyperimage.training.store import ImageStore


@pytest.fixture()
def records(tmp_path):
    ims = synthetic.generate(1, 4, seed=0)
    synthetic.write_folder(tmp_path / "data", ims)
    return [ImageRecord(path=tmp_path / f"data/images/{i:05d}.png", target=im.score) for i, im in enumerate(ims)]


def test_a_prepared_store_is_reopened_not_prepared_again(records, tmp_path, monkeypatch):
    model = HyperImageModel(presets.get("synthetic"))
    first = ImageStore.prepare(records, model, tmp_path / "store", workers=0)
    calls = []
    original = store_module._Prepare.__getitem__
    monkeypatch.setattr(store_module._Prepare, "__getitem__", lambda self, i: calls.append(i) or original(self, i))
    again = ImageStore.prepare(records, model, tmp_path / "store", workers=0)
    assert calls == []
    assert torch.equal(again.weights, first.weights) and torch.equal(again.images(torch.arange(4)), first.images(torch.arange(4)))
    # a changed file (new modification time) is prepared again
    st = os.stat(records[2].path)
    os.utime(records[2].path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    ImageStore.prepare(records, model, tmp_path / "store", workers=0)
    assert calls == [0, 1, 2, 3]


def test_a_damaged_index_is_prepared_again(records, tmp_path):
    model = HyperImageModel(presets.get("synthetic"))
    ImageStore.prepare(records, model, tmp_path / "store", workers=0)
    (tmp_path / "store" / store_module.INDEX).write_bytes(b"\x00" * 5)
    again = ImageStore.prepare(records, model, tmp_path / "store", workers=0)
    assert len(again) == 4
