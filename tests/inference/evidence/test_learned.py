"""The learned evidence channel: the shipped forgery stage 1 over native-resolution cells."""

import numpy as np
import pytest
import torch
from skimage import data

from hyperimage.inference.evidence import CellGrid, Evidence, analyse
from hyperimage.inference.evidence.learned import STRIP_CELLS, LearnedChannel, shipped_stage1


def test_each_cell_is_the_stage_1_decision_on_that_64_px_patch():
    """Strips of cells through the fast path give what the network gives each patch alone,
    across a strip boundary and at the reflected border."""
    photo = data.astronaut()
    pixels = np.concatenate([photo, photo[::-1]])[: 64 * (STRIP_CELLS + 1) + 20, :200]
    cells = analyse(Evidence(pixels), ["learned"], CellGrid(64))
    assert cells.shape == (STRIP_CELLS + 2, 4, 2)
    stage1 = shipped_stage1()
    x = torch.from_numpy(pixels).permute(2, 0, 1).float().div(255.0)
    for r, c in ((0, 0), (STRIP_CELLS - 1, 2), (STRIP_CELLS, 1)):  # the last row of a strip, the first of the next
        patch = x[:, r * 64 : r * 64 + 64, c * 64 : c * 64 + 64][None]
        with torch.no_grad():
            alone = float(stage1.head(stage1.forward_features(patch)))
        assert abs(cells[r, c, 0] - alone) < 1e-3 * max(1.0, abs(alone))


def test_small_images_and_determinism():
    tiny = data.astronaut()[:30, :40]
    cells = analyse(Evidence(tiny), ["learned"])
    assert cells.shape == (1, 1, 2) and np.isfinite(cells).all()
    pixels = data.astronaut()[:200, :300]
    np.testing.assert_array_equal(analyse(Evidence(pixels), ["learned"]), analyse(Evidence(pixels.copy()), ["learned"]))


def test_another_models_stage_1_reads_the_cells():
    """``LearnedChannel(folder)`` reads that model's stage 1: the shipped forgery model's folder
    gives the registered channel's cells; a model without the 64-px fast path is refused,
    naming the folder."""
    from hyperimage.inference.predictor import shipped_folder

    pixels = data.astronaut()[:150, :200]
    folder = shipped_folder("forgery")
    np.testing.assert_array_equal(LearnedChannel(folder)(Evidence(pixels), CellGrid(64)), analyse(Evidence(pixels), ["learned"]))
    assert LearnedChannel(folder).shipped_model is None and LearnedChannel().shipped_model == "forgery"
    with pytest.raises(ValueError, match="iqa.*fast path"):
        LearnedChannel(shipped_folder("iqa"))(Evidence(pixels), CellGrid(64))


def test_smaller_cells_are_read_by_the_patch_centred_on_each():
    """On 32-px cells each cell's decision is the network's on the 64-px patch centred on it,
    the image reflected past its border; across a strip boundary too."""
    photo = data.astronaut()
    pixels = photo[: 32 * (STRIP_CELLS + 1) + 12, :150]
    cells = analyse(Evidence(pixels), ["learned"], CellGrid(32))
    assert cells.shape == (STRIP_CELLS + 2, 5, 2)
    stage1 = shipped_stage1()
    padded = np.pad(pixels, ((16, 40), (16, 40), (0, 0)), mode="reflect")
    x = torch.from_numpy(padded).permute(2, 0, 1).float().div(255.0)
    for r, c in ((0, 0), (STRIP_CELLS - 1, 2), (STRIP_CELLS, 4), (STRIP_CELLS + 1, 1)):
        patch = x[:, r * 32 : r * 32 + 64, c * 32 : c * 32 + 64][None]
        with torch.no_grad():
            alone = float(stage1.head(stage1.forward_features(patch)))
        assert abs(cells[r, c, 0] - alone) < 1e-3 * max(1.0, abs(alone))
