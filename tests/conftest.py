from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


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

    rng = np.random.default_rng(0)
    records = []
    for i in range(24):
        level = i % 6
        path = folder / f"{i}.png"
        Image.fromarray((np.clip(degrade(base, level, rng), 0, 1) * 255).astype(np.uint8)).save(path)
        records.append(ImageRecord(path=path, target=float(10 - level), split="val" if i % 4 == 0 else "train"))
    return records
