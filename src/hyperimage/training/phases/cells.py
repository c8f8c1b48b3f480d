"""Stage 1 trained through its fast path: every grid cell of whole images at once.

A stage 1 over a pre-trained trunk (Table 2 exp. 5, :class:`~hyperimage.inference.networks.TrunkStage1`)
scores a model's images by one trunk pass over each whole image, each grid cell reading the
trunk's map with the context of its whole receptive field. Training it on cut-out windows
would teach its dense layers features the model never sees when it scores (a window alone
has no context and zero padding at its borders), so this phase trains the way the model
scores: images -> ``grid_features`` -> the output node on every cell, each cell against its
window label (the model's window-label rule, e.g. the image's MOS under Kang's rule),
weighted MAE on standardised labels, as the ``windows`` phase.

While the trunk is frozen its per-cell values never change: they are computed once for the
training and validation images (float16, on disk beside the image store) and every epoch
trains the dense layers on them, which is ~100x cheaper than running the trunk each epoch.
A trunk being fine-tuned runs on the images, a batch of images of one size at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from hyperimage.inference.networks import GridStage1, TrunkStage1
from hyperimage.inference.tasks import label_norm
from hyperimage.training.loop import LoopState, fit
from hyperimage.training.phases import PhaseRun, register
from hyperimage.training.store import HyperImageCache, ImageStore

NORM_IMAGES = 64
"""Training images whose cells set the standardisation of a trunk's values."""


class CellScores(nn.Module):
    """``stage1``'s score of every grid cell, from whole images ``(B, C, H, W)`` (the grid's
    origins for their size) or, with ``from_trunk``, from cached trunk values ``(B, depth, U, V)``:
    ``(B, U, V)``."""

    def __init__(self, stage1: GridStage1, grid, from_trunk: bool):
        super().__init__()
        self.stage1, self.grid, self.cached = stage1, grid, from_trunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cached:
            features = self.stage1.from_trunk(x.permute(0, 2, 3, 1))
        else:
            rows, cols = self.grid.origins(x.shape[2], x.shape[3])
            features = self.stage1.grid_features(x, torch.as_tensor(rows), torch.as_tensor(cols))
        return self.stage1.head(features.reshape(-1, features.shape[-1])).view(features.shape[:3])


def image_batches(store: ImageStore, per: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Image indices in batches of at most ``per`` of one size each, in random order."""
    groups = [n for n, *_ in store.origin_groups(len(store))]
    batches = []
    for members in groups:
        members = members[torch.randperm(len(members), generator=gen)]
        batches += list(members.split(per))
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


def _trunk_cells(stage1: TrunkStage1, store: ImageStore, n: torch.Tensor) -> torch.Tensor:
    """Trunk values ``(len(n), U, V, depth)`` of store images ``n``, one image at a time."""
    device = next(stage1.parameters()).device
    values = []
    for i in n.tolist():
        one = torch.tensor([i])
        rows, cols = store.rows[i], store.cols[i]
        values.append(stage1.trunk_grid(store.images(one, tuple(store.sizes[i].tolist())).to(device), rows, cols).cpu())
    return torch.cat(values)


def fit_trunk_norm(stage1: TrunkStage1, train: ImageStore, cached: HyperImageCache | None = None) -> None:
    """Fit the standardisation of ``stage1``'s trunk values on the cells of :data:`NORM_IMAGES`
    training images spread over ``train`` (read from ``cached`` trunk values where given)."""
    sample = torch.arange(0, len(train), max(1, len(train) // NORM_IMAGES))[:NORM_IMAGES]
    with torch.no_grad():
        cells = cached.read(sample).permute(0, 2, 3, 1) if cached is not None else _trunk_cells(stage1, train, sample)
    stage1.fit_input_norm(cells.reshape(-1, stage1.trunk_depth).to(next(stage1.parameters()).device))


@dataclass(frozen=True)
class CellsArgs:
    """The settings of the ``cells`` phase."""

    images_per_batch: int = 8
    """Whole images per batch (of one size each), every grid cell of each trained at once: a
    batch holds hundreds of cells, so a few images make a stable gradient."""


@register("cells", args=CellsArgs)
def train_cells(run: PhaseRun) -> LoopState:
    """Stage 1 on every grid cell of whole images through ``grid_features`` (settings:
    :class:`CellsArgs`). Needs a stage 1 with the fast path (:class:`GridStage1`)."""
    model, train, val, world = run.model, run.train_store, run.val_store, run.world
    stage1 = model.stage1
    if not isinstance(stage1, GridStage1):
        raise ValueError(f"phase 'cells' needs a stage 1 with a fast grid path; {model.config.stage1!r} has none")
    cfg = replace(run.spec.train, loss="weighted-mae")
    per = run.args.images_per_batch
    kept = train.kept_windows()
    shift, scale = label_norm(train.labels[kept[:, 0], kept[:, 1], kept[:, 2]])
    model.fitted.stage1_norm = (shift, scale)
    cached = isinstance(stage1, TrunkStage1) and stage1.frozen
    sources: dict[str, HyperImageCache] = {}
    if cached:
        suffix = "" if world.size == 1 else f"-rank{world.rank}"
        for name, store in (("train", train), ("val", val)):
            sources[name] = HyperImageCache.build(
                store, model, store.folder, f"trunk{suffix}", 2048,
                features=stage1.trunk_grid, depth=stage1.trunk_depth,
            )
    if isinstance(stage1, TrunkStage1):
        fit_trunk_norm(stage1, train, sources.get("train"))
    module = CellScores(stage1, model.grid, cached)

    def inputs(name: str, store: ImageStore, n: torch.Tensor) -> torch.Tensor:
        if cached:
            return sources[name].read(n)
        h, w = store.sizes[n[0]].tolist()
        return store.images(n, (h, w))

    def targets(store: ImageStore, n: torch.Tensor) -> torch.Tensor:
        return torch.stack([(store.labels[n] - shift) / scale, store.weights[n]], dim=-1)

    def batches(gen: torch.Generator):
        for n in image_batches(train, per * world.size, gen):
            n = world.part(n)
            yield inputs("train", train, n), targets(train, n)

    mine = torch.arange(world.rank, len(val), world.size)

    def validate() -> tuple[float, float]:
        total = weight = 0.0
        module.eval()
        with torch.no_grad():
            for n in image_batches(val, per, torch.Generator().manual_seed(0)):
                n = n[torch.isin(n, mine)]
                if len(n) == 0:
                    continue
                y = targets(val, n)
                pred = module(inputs("val", val, n).to(world.device)).cpu()
                total += float(((pred - y[..., 0]).abs() * y[..., 1]).sum())
                weight += float(y[..., 1].sum())
        return total, weight

    return fit(
        module, batches, validate, cfg, run.checkpoint, desc="stage 1 (cells)", progress=run.progress, world=world,
        plan=run.plan("stage 1 (grid cells)", "images", len(train), per),
    )
