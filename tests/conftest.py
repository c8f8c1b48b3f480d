import json
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import torch

#: ``HYPERIMAGE_TEST_SEED=K`` runs the suite under other seeds: the learning tests draw their
#: data and train from ``seed`` (the fixture), so their bounds can be checked on seeds they
#: were not tuned on (``tools/learning_spread.py`` runs them under 5 seeds and thread counts).
SEED = int(os.environ.get("HYPERIMAGE_TEST_SEED", "0"))

#: ``HYPERIMAGE_TEST_RECORD=FILE`` appends every learned quantity as a JSON line to FILE and
#: fails a test on a missed bound only at its end, so one run measures all its quantities.
RECORD = os.environ.get("HYPERIMAGE_TEST_RECORD")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    yield


@pytest.fixture(scope="session")
def seed() -> int:
    """The seed of the learning tests: 0, or the offset ``HYPERIMAGE_TEST_SEED`` gives."""
    return SEED


class Learned:
    """``learned(name, value, above=..., below=...)``: asserts a learned quantity against its
    bound and, under ``HYPERIMAGE_TEST_RECORD``, records it (with the bound, seed, threads and
    CPU capability) for ``tools/learning_spread.py``. Without a bound it only records (e.g. the
    same figure with the component under test removed). Every test that uses it is a learning
    test (marker ``learning``).

    The ``# measured`` comment beside each call gives the quantity's mean +- sample standard
    deviation over 15 runs (seeds 0-4, each with 1 thread, 2 threads and the AVX2 kernels), its
    worst value and how many spreads the mean sits from the bound, from
    ``python tools/learning_spread.py --seeds 5`` (``results/learning-spread.json``)."""

    def __init__(self, test: str):
        self.test = test
        self.missed: list[str] = []

    def __call__(self, name: str, value: float, above: float | None = None, below: float | None = None) -> float:
        value = float(value)
        ok = (above is None or value > above) and (below is None or value < below)
        if RECORD:
            row = {
                "test": self.test, "name": name, "value": value, "above": above, "below": below, "seed": SEED,
                "threads": torch.get_num_threads(), "capability": torch.backends.cpu.get_cpu_capability(),
            }
            with open(RECORD, "a") as f:
                f.write(json.dumps(row) + "\n")
        if not ok:
            bounds = [f"{sign} {bound:g}" for sign, bound in ((">", above), ("<", below)) if bound is not None]
            message = f"{name} = {value:.4g}, not {' and '.join(bounds)}"
            if not RECORD:
                raise AssertionError(message)
            self.missed.append(message)
        return value


@pytest.fixture
def learned(request) -> Iterator[Learned]:
    """See :class:`Learned`."""
    learned = Learned(request.node.nodeid)
    yield learned
    assert not learned.missed, "; ".join(learned.missed)


def pytest_collection_modifyitems(items):
    for item in items:
        if "learned" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.learning)


@pytest.fixture
def make_livec():
    """Writes a LIVE In the Wild Challenge folder in its published layout:
    ``make_livec(parent, names, mos, size)`` -> ``parent/ChallengeDB_release``; the first 7
    names are the study's training images (``Images/trainingImages/``). Random images."""
    import scipy.io

    from hyperimage.data.datasets import livec
    from hyperimage.data.io import save_image

    def make(parent, names, mos, size: int = 40, images=None):
        root = parent / "ChallengeDB_release"
        (root / "Images" / "trainingImages").mkdir(parents=True)
        (root / "Data").mkdir()
        rng = np.random.default_rng(0)
        for i, name in enumerate(names):
            folder = root / "Images" / ("trainingImages" if i < livec.TRAINING_IMAGES else "")
            save_image(folder / name, rng.random((size, size, 3)) if images is None else images[i])
        cells = np.empty((len(names), 1), dtype=object)
        cells[:, 0] = names
        scipy.io.savemat(root / "Data" / "AllImages_release.mat", {"AllImages_release": cells})
        scipy.io.savemat(root / "Data" / "AllMOS_release.mat", {"AllMOS_release": np.asarray(mos, float)[None]})
        scipy.io.savemat(root / "Data" / "AllStdDev_release.mat", {"AllStdDev_release": np.ones((1, len(names)))})
        (root / "README.txt").write_text("LIVE copyright notice\n")
        return root

    return make


@pytest.fixture
def make_koniq():
    """Writes a KonIQ-10k folder in its published layout: ``make_koniq(parent, rows=None,
    sets=None)`` -> ``parent/koniq10k`` with 6 images in ``1024x768/``; ``rows`` replace the
    CSV's data rows, ``sets`` add the official ``set`` column (the release's sets file)."""
    from hyperimage.data.datasets import koniq
    from hyperimage.data.io import save_image

    header = "image_name,c1,c2,c3,c4,c5,c_total,MOS,SD,MOS_zscore"

    def make(parent, rows=None, *, sets=None):
        root = parent / "koniq10k"
        (root / "1024x768").mkdir(parents=True)
        rng = np.random.default_rng(0)
        names = [f"{826373 + i}.jpg" for i in range(6)]
        for name in names:
            save_image(root / "1024x768" / name, rng.random((24, 32, 3)))
        if rows is None:
            rows = [f"{n},0,1,2,3,4,10,{1.5 + 0.5 * i},0.5,{20 + 10 * i}" for i, n in enumerate(names)]
        top, name = header, koniq.SCORES
        if sets is not None:
            top, name = header + ",set", "koniq10k_distributions_sets.csv"
            rows = [f"{r},{s}" for r, s in zip(rows, sets)]
        (root / name).write_text("\n".join([top, *rows]) + "\n")
        return root

    return make


@pytest.fixture(scope="session")
def graded_crops():
    """``graded_crops(folder, base, degrade)``: the labelled crops of :func:`_graded_crops`."""
    return _graded_crops


def _graded_crops(folder: Path, base: np.ndarray, degrade: Callable[[np.ndarray, int, np.random.Generator], np.ndarray]):
    """24 PNGs of ``base`` (float RGB in [0, 1]) damaged by ``degrade(img, level, rng)`` at levels
    0-5 in turn, each with quality ``10 - level``; every 4th image validates, the rest train."""
    from PIL import Image

    from hyperimage.data.datasets.records import ImageRecord

    rng = np.random.default_rng(SEED)
    records = []
    for i in range(24):
        level = i % 6
        path = folder / f"{i}.png"
        Image.fromarray((np.clip(degrade(base, level, rng), 0, 1) * 255).astype(np.uint8)).save(path)
        records.append(ImageRecord(path=path, target=float(10 - level), split="val" if i % 4 == 0 else "train"))
    return records


@pytest.fixture(scope="session")
def tiny_forgery(tmp_path_factory) -> Path:
    """A tampering folder of ``make-forgery``'s kind, small enough to train a forensic model
    on in seconds: 24 images of 96 x 128 (half tampered, with masks; JPEG and PNG) cut from 20
    quarters of the built-in photos, 10 families, so that the 2/3-1/6-1/6 split by group has
    training, validation and test images."""
    from hyperimage.data.generators.tampering import make_tampering_dataset
    from hyperimage.data.photos import builtin_photos

    photos = [a[r : r + 112, c : c + 144] for _, a in builtin_photos(size=(224, 288)) for r in (0, 112) for c in (0, 144)]
    folder = tmp_path_factory.mktemp("tiny-forgery") / "data"
    make_tampering_dataset(photos, folder, n_images=24, seed=0, size=(96, 128), tampered_fraction=0.5)
    return folder


@pytest.fixture(scope="session")
def forensic_folder(tiny_forgery, tmp_path_factory) -> Path:
    """A forensic model over the noise, JPEG and copy-move channels, trained on :func:`tiny_forgery` (a few seconds)."""
    from hyperimage import api

    out = tmp_path_factory.mktemp("forensic") / "model"
    api.train_evidence(tiny_forgery, out, "noise,jpeg,copy-move", epochs=6, log=lambda line: None)
    return out


@pytest.fixture(scope="session")
def thin_forgery_model(tiny_forgery, tmp_path_factory) -> Path:
    """An untrained thin ``forgery-fast`` model folder whose ``splits.csv`` splits
    :func:`tiny_forgery` 2/3-1/6-1/6 by group (seed 0: one masked tampered image in
    validation, two in test): what ``evaluate`` reads, saved in a second, no training needed."""
    from hyperimage import presets
    from hyperimage.data import datasets
    from hyperimage.evaluation.protocol import FORGERY_SPLIT, random_split, save_splits
    from hyperimage.inference.model import HyperImageModel
    from hyperimage.storage import SPLITS_FILE

    torch.manual_seed(0)
    config = presets.get("forgery-fast")
    config.stage1_args.update(conv_width=0.125, width=32)
    records = random_split(datasets.load(tiny_forgery), seed=0, fractions=FORGERY_SPLIT)
    return HyperImageModel(config).save(
        tmp_path_factory.mktemp("thin-forgery") / "model", extras=lambda tmp: save_splits(tmp / SPLITS_FILE, records, tiny_forgery)
    )
