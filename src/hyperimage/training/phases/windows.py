"""Stage 1 on grid windows labelled by the model's window-label rule (Tables 4-5 stage-1 nets)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hyperimage.inference.tasks import label_norm
from hyperimage.training import augment
from hyperimage.training.loop import LoopState, fit
from hyperimage.training.phases import PhaseRun, register
from hyperimage.training.store import ImageStore

#: Validation windows per stage-1 call: Kang's first layer holds 50 x 28 x 28 floats per
#: window, 160 MB for 1,024 windows.
VAL_CHUNK = 1024


def sample_windows(store: ImageStore, per_image: int | None, gen: torch.Generator) -> torch.Tensor:
    """Window indices ``(K, 3)`` for one epoch.

    ``per_image * len(store)`` windows drawn without replacement from the whole set in
    proportion to their weights (Gumbel top-k), or every window with a non-zero weight if
    ``per_image`` is ``None``.
    """
    kept = store.kept_windows()
    if per_image is None:
        return kept
    w = store.weights[kept[:, 0], kept[:, 1], kept[:, 2]]
    gumbel = -torch.log(-torch.log(torch.rand(len(w), generator=gen).clamp(1e-12, 1 - 1e-7)))
    k = min(per_image * len(store), len(w))
    return kept[(w.log() + gumbel).topk(k).indices.sort().values]


@dataclass(frozen=True)
class WindowsArgs:
    """The settings of the ``windows`` phase."""

    windows_per_image: int | None = None
    """Windows drawn per training image and epoch, in proportion to their weights; ``None``:
    every window with a weight, as the paper trains. A CPU budget samples a few per image."""
    val_windows: int = 20000
    """Validation windows drawn once and kept: enough for a stable stopping error, few enough
    to validate in seconds."""


@register("windows", args=WindowsArgs)
def train_windows(run: PhaseRun) -> LoopState:
    """Stage 1 on windows, MAE on standardised labels (settings: :class:`WindowsArgs`).

    Each epoch draws its windows (:func:`sample_windows`) and cuts each batch from the image
    store. The validation error is the weighted MAE over a fixed draw of validation
    windows, with the rule's weights, each rank validating its share.
    """
    model, train, val, cfg, world = run.model, run.train_store, run.val_store, run.spec.train, run.world
    per_image = run.args.windows_per_image
    augmentations = run.spec.augment or []
    kept = train.kept_windows()
    shift, scale = label_norm(train.labels[kept[:, 0], kept[:, 1], kept[:, 2]])
    model.fitted.stage1_norm = (shift, scale)
    val_idx = val.kept_windows()
    val_cap = run.args.val_windows
    if len(val_idx) > val_cap:
        pick = torch.randperm(len(val_idx), generator=torch.Generator().manual_seed(cfg.seed))[:val_cap]
        val_idx = val_idx[pick.sort().values]
    val_idx = val_idx[torch.arange(world.rank, len(val_idx), world.size)]
    val_w = val.weights[val_idx[:, 0], val_idx[:, 1], val_idx[:, 2]]

    def batches(gen: torch.Generator):
        idx = sample_windows(train, per_image, gen)
        idx = idx[torch.randperm(len(idx), generator=gen)]
        for start in range(0, len(idx), cfg.batch_size):
            b = idx[start : start + cfg.batch_size]
            if augmentations:  # on the global batch, so every world size draws alike
                x = world.part(augment.apply(augmentations, train.windows(b[:, 0], b[:, 1], b[:, 2]), gen))
                b = world.part(b)
            else:
                b = world.part(b)
                x = train.windows(b[:, 0], b[:, 1], b[:, 2])
            yield x, (train.labels[b[:, 0], b[:, 1], b[:, 2]] - shift) / scale

    def validate() -> tuple[float, float]:
        total = 0.0
        for start in range(0, len(val_idx), VAL_CHUNK):
            b = val_idx[start : start + VAL_CHUNK]
            pred = model.stage1(val.windows(b[:, 0], b[:, 1], b[:, 2]).to(world.device)).cpu()
            y = (val.labels[b[:, 0], b[:, 1], b[:, 2]] - shift) / scale
            total += float(((pred - y).abs() * val_w[start : start + VAL_CHUNK]).sum())
        return total, float(val_w.sum())

    drawn = len(kept) if per_image is None else min(per_image * len(train), len(kept))
    return fit(
        model.stage1, batches, validate, cfg, run.checkpoint, desc="stage 1", progress=run.progress, world=world,
        plan=run.plan("stage 1 (windows)", "windows", drawn, cfg.batch_size),
    )
