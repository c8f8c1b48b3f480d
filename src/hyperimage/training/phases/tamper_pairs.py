"""A forensic stage 1 learned from unlimited tampering: the paper's contour pairs
(:mod:`~hyperimage.training.phases.contour_pairs`) cut from forgeries made on the fly.

Real labelled forgeries are scarce; CASIA v1 gives about 7,000 contour pairs, the same every
epoch. Here every epoch is :attr:`TamperPairsArgs.forgeries` new forgeries of pristine photos
(:class:`~hyperimage.data.generators.tamper_stream.TamperStream`: splicing, copy-move and
removal with the seams, touch-ups and JPEG chains real files carry, authentic counterparts
through the same saves), 15 pairs of patches on each one's contour, so the ranker never sees a
pair twice and cannot learn one data set's file history. The validation error is measured on
a fixed set of forgeries of the same stream (other indices). A recipe may follow it with the
``contour-pairs`` phase on a labelled set, or train stage 2 on its hyper-images directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hyperimage.data.forgery_patches import POINTS, contour_patch_pairs
from hyperimage.data.generators.tamper_stream import StreamConfig, TamperStream
from hyperimage.data.photo_pools import NATIVE_PHOTOS, load_pool
from hyperimage.training.loop import LoopState
from hyperimage.training.phases import PhaseRun, register
from hyperimage.training.phases.contour_pairs import fit_ranker, patches_tensor

#: Index of the stream's first validation forgery: training draws below it.
VAL_START = 2**40


@dataclass(frozen=True)
class TamperPairsArgs:
    """The settings of the ``tamper-pairs`` phase."""

    photos: tuple[str, ...] = (NATIVE_PHOTOS,)
    """Folders of pristine photos; of a ``hyperimage photos`` folder only the training pool
    (:mod:`hyperimage.data.photo_pools`), of any other folder every image."""
    forgeries: int = 512
    """New forgeries per epoch (15 contour pairs each)."""
    val_forgeries: int = 128
    """Fixed forgeries the validation error is measured on."""
    size: int = 256
    """Side of each forgery (pixels), cut from a photo shrunk by 1 to 4 times."""
    leave_out: tuple[str, ...] = ()
    """Implementations training never uses (of :data:`~hyperimage.data.generators.tamper_stream.IMPLEMENTATIONS`),
    so a held-out check can make its forgeries with them."""


def stream_pairs(stream: TamperStream, first: int, count: int, seed: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Authentic and tampered contour patches ``(K, 3, size, size)`` of forgeries ``first`` to
    ``first + count - 1`` of ``stream`` (15 per forgery; :func:`~hyperimage.data.forgery_patches.contour_patch_pairs`)."""
    rng = np.random.default_rng([seed, first])
    authentic, tampered = [], []
    for forgery in stream.draw(first, count):
        pairs = contour_patch_pairs(forgery.tampered, forgery.authentic, forgery.mask, rng, POINTS, size)
        authentic.append(pairs.authentic)
        tampered.append(pairs.tampered)
    return tuple(patches_tensor(np.concatenate(p).astype(np.float32) / 255.0) for p in (authentic, tampered))


@register("tamper-pairs", args=TamperPairsArgs)
def train_tamper_pairs(run: PhaseRun) -> LoopState:
    """The Siamese ranker on contour pairs of forgeries made on the fly (settings:
    :class:`TamperPairsArgs`; training as :func:`~hyperimage.training.phases.contour_pairs.fit_ranker`)."""
    model, args = run.model, run.args
    if model.config.preprocess != "none" or model.config.image_mode != "RGB":
        raise ValueError("tamper-pair training cuts patches from raw colour images: use preprocess 'none' and RGB")
    config = StreamConfig(size=args.size).without(*args.leave_out)  # an unknown name fails before any photo is read
    photos, names = load_pool(args.photos, "training", min_side=args.size)
    if len(photos) < 2:
        raise ValueError(f"{', '.join(args.photos)}: fewer than 2 colour training photos of at least {args.size} px")
    seed, patch = run.spec.train.seed, model.config.patch
    stream = TamperStream(photos, config, seed=seed, names=names)
    val = stream_pairs(stream, VAL_START, args.val_forgeries, seed, patch)

    def epoch_pairs(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        first = int(torch.randint(VAL_START - args.forgeries, (1,), generator=gen))
        return stream_pairs(stream, first, args.forgeries, seed, patch)

    return fit_ranker(run, epoch_pairs, val, "stage 1 (tamper pairs)")
