"""Pre-trained weights from a file, as a stage-1 phase: e.g. VGG-16's ImageNet weights for Table 2 exp. 5.

No weights are downloaded here; a user who has them (say, torchvision's VGG-16 saved with
``safetensors.torch.save_file``) names the file in the recipe, before the model's own phase::

    {"phases": [{"name": "load-weights", "args": {"file": "vgg16.safetensors"}}, {"name": null}], ...}

The file must be safetensors (nothing is unpickled) and hold every tensor of the stage-1
part it loads into (``into``, default ``"trunk"``), of its shape; other tensors (a classifier)
are ignored. The phase trains nothing; the weights then travel inside the saved model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from hyperimage.inference.networks.trunk import load_trunk_weights
from hyperimage.training.loop import LoopState
from hyperimage.training.phases import PhaseRun, register


@dataclass(frozen=True)
class LoadWeightsArgs:
    """The settings of the ``load-weights`` phase."""

    file: str
    """The safetensors file of weights (required: no weights are downloaded here)."""
    into: str = "trunk"
    """The part of stage 1 they load into, e.g. a pre-trained stage 1's ``trunk``."""


@register("load-weights", args=LoadWeightsArgs)
def load_weights(run: PhaseRun) -> LoopState:
    """Load ``args.file`` into ``model.stage1.<args.into>`` (settings: :class:`LoadWeightsArgs`)."""
    into = run.args.into
    part = getattr(run.model.stage1, into, None)
    if not isinstance(part, nn.Module):
        raise ValueError(f"phase 'load-weights': stage 1 {run.model.config.stage1!r} has no part {into!r} to load into")
    path = Path(run.args.file).expanduser()
    if not path.is_file():
        raise ValueError(f"phase 'load-weights': {path}: no such file")
    load_trunk_weights(part, path, f"{run.model.config.stage1} {into}")
    if run.log is not None:
        run.log(f"stage 1: {into} weights loaded from {path}")
    return LoopState()
