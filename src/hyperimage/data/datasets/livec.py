"""LIVE In the Wild Image Quality Challenge Database (LIVE-C, "CLIVE"; Ghadiyaram & Bovik 2016).

1,162 photos taken with mobile devices, with authentic (not simulated) distortions, mostly
500 x 500 pixels; each has the mean opinion score (MOS) of a crowdsourced study, about 3-92 on
a 0-100 scale, **higher is better**. There are no pristine references, so selective patch
training (which needs one) does not apply.

Layout (the folder holding it is accepted too)::

    Images/                  *.bmp, *.JPG (+ trainingImages/t1.bmp ... t7.bmp)
    Data/AllImages_release.mat   AllImages_release: cell of 1,169 file names
    Data/AllMOS_release.mat      AllMOS_release: 1 x 1,169 MOS
    Data/AllStdDev_release.mat   AllStdDev_release: 1 x 1,169 standard deviations (optional)

The first 7 entries are the study's training images (``trainingImages/``), shown to raters
before the study and not part of the 1,162 evaluated images: they are dropped. Every image is
its own group (there are no shared sources), so splits are by image, as the community
protocol does (random 80/20 train/test, :data:`hyperimage.evaluation.protocol.REAL_IQA_SPLIT`).

Licence: the LIVE copyright notice in ``README.txt`` allows use, copying and distribution free
of charge, provided the notice is kept and the paper is cited.

References
----------
D. Ghadiyaram and A. C. Bovik, "Massive online crowdsourced study of subjective and objective
picture quality", IEEE Transactions on Image Processing 25(1), 2016.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hyperimage.data.datasets import _layout
from hyperimage.data.datasets.layout import Layout
from hyperimage.data.datasets.live import read_mat
from hyperimage.data.datasets.records import ImageRecord

#: Entries of the ``.mat`` files that are the study's training images, not evaluated.
TRAINING_IMAGES = 7

_DIRS = ("Images", "Data")


def looks_like(root: str | os.PathLike) -> bool:
    """True if ``root`` (or exactly one folder directly inside it) has ``Images/`` and
    ``Data/AllMOS_release.mat``."""
    root = Path(root)
    if not _layout.has_layout(root, _DIRS, ()):
        return False
    data = _layout.find(_layout.resolve_root(root, _DIRS, (), "LIVE-C"), "Data")
    return data is not None and _layout.find(data, "AllMOS_release.mat") is not None


def _mat(data: Path, name: str) -> Path:
    path = _layout.find(data, name)
    if path is None:
        raise ValueError(f"{data}: no {name}")
    return path


def load(root: str | os.PathLike, *, keep_training_images: bool = False) -> list[ImageRecord]:
    """Read LIVE-C as one record per evaluated image, in the order of the ``.mat`` files.

    Parameters
    ----------
    root : the data set's folder (``ChallengeDB_release``), or the folder holding it.
    keep_training_images : also keep the 7 training images (``trainingImages/t*.bmp``).

    Returns
    -------
    list of ImageRecord
        ``target`` the MOS (higher is better), ``group`` the file name (each image alone),
        ``extra["mos_std"]`` the MOS standard deviation where the file is there.

    Raises
    ------
    ValueError
        One line: not the layout, an unreadable ``.mat`` file, counts that differ, or a named
        image that is not in ``Images/``.
    """
    root = _layout.resolve_root(root, _DIRS, (), "LIVE-C")
    names = _layout.entries(root)
    images, data = names["images"], names["data"]
    mat_names = _mat(data, "AllImages_release.mat")
    cells = read_mat(mat_names, ("AllImages_release",))["AllImages_release"]
    files = [str(np.asarray(c).ravel()[0]).strip() for c in cells.ravel()]
    mos = read_mat(_mat(data, "AllMOS_release.mat"), ("AllMOS_release",))["AllMOS_release"].ravel().astype(float)
    std_path = _layout.find(data, "AllStdDev_release.mat")
    std = None if std_path is None else read_mat(std_path, ("AllStdDev_release",))["AllStdDev_release"].ravel()
    if len(mos) != len(files) or (std is not None and len(std) != len(files)):
        counts = f"{len(files)} names, {len(mos)} MOS" + ("" if std is None else f", {len(std)} std")
        raise ValueError(f"{data}: {counts}: the .mat files disagree")
    if not np.isfinite(mos).all():
        raise ValueError(f"{data / 'AllMOS_release.mat'}: holds NaN or infinite MOS values")
    training = _layout.find(images, "trainingImages")
    in_images = _layout.entries(images)
    in_training = _layout.entries(training) if training is not None and training.is_dir() else {}
    records = []
    for i, name in enumerate(files):
        is_training = i < TRAINING_IMAGES
        if is_training and not keep_training_images:
            continue
        path = (in_training if is_training else in_images).get(name.lower())
        if path is None:
            raise ValueError(f"{images}: {name} (entry {i + 1} of {mat_names.name}) is not there")
        extra = {} if std is None else {"mos_std": str(float(std[i]))}
        records.append(ImageRecord(path=path, target=float(mos[i]), group=path.name, extra=extra))
    return records


LAYOUT = Layout(
    "livec", "LIVE In the Wild Image Quality Challenge (LIVE-C)", looks_like, load,
    higher_is_better=True, score_range=(0.0, 100.0), preset="livec", in_the_wild=True,
)
