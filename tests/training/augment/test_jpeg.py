"""The JPEG re-compression augmentation of raw forgery patches."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from hyperimage.training import augment


def _smooth(n, seed):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 1, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(base.view(n, 3, 8, 8), size=(64, 64), mode="bilinear").view(n, 1, 3, 64, 64)


def test_jpeg_resaves_chosen_items_alike_and_leaves_the_rest():
    pair = _smooth(6, 0).expand(6, 2, 3, 64, 64).contiguous()  # both patches of an item equal
    out = augment.apply([{"name": "jpeg", "probability": 0.5, "quality": (30, 30)}], pair, torch.Generator().manual_seed(1))
    assert out.shape == pair.shape and out.dtype == pair.dtype
    changed = [(out[i] - pair[i]).abs().max() > 1e-3 for i in range(6)]
    assert 0 < sum(changed) < 6  # some items re-saved, others left as they were
    for i in range(6):
        assert torch.allclose(out[i, 0], out[i, 1])  # one quality per item
        if not changed[i]:
            assert torch.equal(out[i], pair[i])
    # what a JPEG file at that quality would hold, to the byte
    i = changed.index(True)
    pixels = (pair[i, 0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=30)
    expected = torch.from_numpy(np.asarray(Image.open(buf), dtype=np.float32) / 255).permute(2, 0, 1)
    assert torch.equal(out[i, 0], expected)


def test_jpeg_works_on_a_transposed_view_and_refuses_bad_settings():
    x = _smooth(4, 2)[:, 0].transpose(-1, -2)  # not contiguous
    out = augment.get("jpeg")(x, torch.Generator().manual_seed(0), probability=1.0, quality=(50, 60))
    assert (out - x).abs().max() > 1e-3 and (out - x).abs().mean() < 0.05
    with pytest.raises(ValueError, match="quality"):
        augment.get("jpeg")(x, torch.Generator(), quality=(90, 60))
