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

    from hyperimage.datasets import livec
    from hyperimage.io import save_image

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
