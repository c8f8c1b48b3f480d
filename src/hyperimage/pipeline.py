"""Training the two stages on a list of records (section "Proposed approach").

1. Images are read, validated, scaled down if above the model's maximum size, and
   preprocessed; they are kept in one padded tensor with each image's Eq. 2 grid origins.
2. Stage 1 trains on grid windows labelled by the model's window-label rule; each epoch
   draws ``windows_per_image`` windows of every training image, in proportion to the
   rule's weights (all windows with a non-zero weight if ``None``).
3. The trained stage 1 turns every image into a hyper-image ``(D, U, V)``.
4. Stage 2 trains on the hyper-images and image targets. The patch-averaging baseline
   instead fits one least-squares line from the mean patch score to the image target on
   the training images (it changes no ranking, only puts scores in the targets' units).

Targets are standardised with training statistics for both stages; the shift and scale are
stored in the model config, so saved models predict in the original units.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from . import window_labels
from .datasets.records import ImageRecord
from .distributed import SINGLE, World
from .forgery_patches import pairs_from_records
from .grid import PatchGrid
from .hyper_image import lay_on_grid
from .io import ImageError, load_image
from .model import HyperImageModel, ModelConfig
from .ranking import PairDecision, shuffle_pairs
from .storage import CHECKPOINTS
from .training import LOSSES, LoopState, TrainConfig, class_weighted, fit


@dataclass
class PipelineConfig:
    """How both stages are trained (defaults: the paper's recipe)."""

    stage1: TrainConfig = field(default_factory=TrainConfig)
    stage2: TrainConfig = field(default_factory=TrainConfig.stage2_default)
    windows_per_image: int | None = None
    val_windows: int = 20000
    feature_batch: int = 2048
    stage2_flips: bool = False

    @classmethod
    def cpu(
        cls, stage1_epochs: int, stage2_epochs: int, windows: int, stage2_patience: int, stage2_batch: int
    ) -> "PipelineConfig":
        """A short CPU budget: few epochs, ``windows`` sampled windows per image and epoch."""
        return cls(
            stage1=TrainConfig(epochs=stage1_epochs, patience=4),
            stage2=TrainConfig(epochs=stage2_epochs, patience=stage2_patience, batch_size=stage2_batch),
            windows_per_image=windows,
        )


def read_image(record: ImageRecord, config: ModelConfig, grid: PatchGrid) -> torch.Tensor:
    """One validated image as ``(C, H, W)``, scaled down to the grid's maximum size if needed."""
    arr = grid.fit_image(load_image(record.path, mode=config.image_mode, min_size=grid.min_size))
    t = torch.from_numpy(np.ascontiguousarray(arr))
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


class ImageBank:
    """Preprocessed images of a record list, padded into one tensor, with their grid windows.

    Window labels and sampling weights come from the model's window-label rule, which also
    sees each image's pristine reference where the record names one. Unreadable images are
    left out with a warning naming each file (``errors`` keeps the messages), so one bad
    file never stops training.
    """

    def __init__(self, records: Sequence[ImageRecord], model: HyperImageModel):
        config, grid = model.config, model.grid
        rule = window_labels.get(config.window_labels)
        uses_reference = getattr(rule, "uses_reference", False)
        images, refs, kept, self.errors = [], [], [], []
        ref_cache: dict[Path, torch.Tensor] = {}
        for rec in records:
            try:
                img = read_image(rec, config, grid)
                ref = None
                if uses_reference and rec.reference is not None and rec.reference.resolve() != rec.path.resolve():
                    if rec.reference not in ref_cache:
                        ref_cache[rec.reference] = read_image(replace(rec, path=rec.reference), config, grid)
                    ref = ref_cache[rec.reference]
                    if ref.shape != img.shape:
                        raise ImageError(rec.path, f"size {tuple(img.shape)} differs from its reference {tuple(ref.shape)}")
            except ImageError as err:
                self.errors.append(str(err))
                warnings.warn(f"skipped: {err}", stacklevel=2)
                continue
            images.append(img)
            refs.append(ref)
            kept.append(rec)
        if not images:
            raise ValueError("no readable images in this set")
        self.records = kept
        self.grid = grid
        self.targets = torch.tensor([r.target for r in kept], dtype=torch.float32)
        h = max(t.shape[1] for t in images)
        w = max(t.shape[2] for t in images)
        self.images = torch.zeros(len(images), images[0].shape[0], h, w)
        rows, cols, labels, weights = [], [], [], []
        with torch.no_grad():
            for i, (img, ref) in enumerate(zip(images, refs)):
                r, c = grid.origins(img.shape[1], img.shape[2])
                rows.append(r)
                cols.append(c)
                lab, wt = rule(
                    img[None], self.targets[i : i + 1], grid, None if ref is None else ref[None], **config.window_label_args
                )
                labels.append(lab[0])
                weights.append(wt[0])
                self.images[i, :, : img.shape[1], : img.shape[2]] = model.preprocess(img[None])[0]
        self.rows = torch.as_tensor(np.stack(rows))
        self.cols = torch.as_tensor(np.stack(cols))
        self.labels = torch.stack(labels)
        self.weights = torch.stack(weights)
        if getattr(rule, "balance_references", False):
            self.weights = balance(self.weights, torch.tensor([r is None for r in refs]))

    def __len__(self) -> int:
        return len(self.records)

    def windows(self, n: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Windows of images ``n`` at grid cells ``(u, v)``: ``(K,)`` x3 -> ``(K, C, p, p)``."""
        ar = torch.arange(self.grid.patch)
        r = self.rows[n, u][:, None] + ar
        c = self.cols[n, v][:, None] + ar
        return self.images[n[:, None, None], :, r[:, :, None], c[:, None, :]].permute(0, 3, 1, 2)

    def kept_windows(self) -> torch.Tensor:
        """Indices ``(K, 3)`` of all windows with a non-zero weight."""
        return (self.weights > 0).nonzero()

    def hyper_images(self, model: HyperImageModel, batch: int = 2048) -> torch.Tensor:
        """Hyper-images of all images ``(N, D, U, V)``, stage 1 in eval mode.

        Images with the same grid origins (e.g. all of one size) go through
        :meth:`HyperImageModel.grid_features` together, ``batch`` patches at a time.
        """
        u, v = self.grid.grid
        per = max(1, batch // (u * v))
        keys = torch.cat([self.rows, self.cols], dim=1)
        out = torch.empty(len(self), model.stage1.num_features, u, v)
        model.eval()
        with torch.no_grad():
            for key in torch.unique(keys, dim=0):
                members = (keys == key).all(dim=1).nonzero().flatten()
                rows, cols = key[:u].numpy(), key[u:].numpy()
                for start in range(0, len(members), per):
                    n = members[start : start + per]
                    out[n] = lay_on_grid(model.grid_features(self.images[n].to(model.device), rows, cols)).cpu()
        return out


def _norm(values: torch.Tensor) -> tuple[float, float]:
    scale = float(values.std()) if values.numel() > 1 else 1.0
    return float(values.mean()), scale if scale > 1e-8 else 1.0


def balance(weights: torch.Tensor, pristine: torch.Tensor) -> torch.Tensor:
    """Scale the windows of pristine images ``(N,)`` so both kinds carry equal total weight."""
    total_pristine = weights[pristine].sum()
    total_distorted = weights[~pristine].sum()
    if total_pristine == 0 or total_distorted == 0:
        return weights
    out = weights.clone()
    out[pristine] *= total_distorted / total_pristine
    return out


def _sample(bank: ImageBank, per_image: int | None, gen: torch.Generator) -> torch.Tensor:
    """Window indices ``(K, 3)`` for one epoch.

    ``per_image * len(bank)`` windows drawn without replacement from the whole set in
    proportion to their weights (Gumbel top-k), or every window with a non-zero weight if
    ``per_image`` is ``None``.
    """
    kept = bank.kept_windows()
    if per_image is None:
        return kept
    w = bank.weights[kept[:, 0], kept[:, 1], kept[:, 2]]
    gumbel = -torch.log(-torch.log(torch.rand(len(w), generator=gen).clamp(1e-12, 1 - 1e-7)))
    k = min(per_image * len(bank), len(w))
    return kept[(w.log() + gumbel).topk(k).indices.sort().values]


def train_stage1(
    model: HyperImageModel,
    train: ImageBank,
    val: ImageBank,
    settings: PipelineConfig,
    checkpoint: Path | None = None,
    progress: bool = True,
    world: World = SINGLE,
) -> LoopState:
    """Train stage 1 on grid windows (Table 4/5 stage-1 nets), MAE on standardised labels.

    The validation error is the weighted MAE over the validation windows, with the rule's
    weights. Under ``world`` each rank trains on its part of every batch.
    """
    kept = train.kept_windows()
    shift, scale = _norm(train.labels[kept[:, 0], kept[:, 1], kept[:, 2]])
    model.config.stage1_norm = (shift, scale)
    cfg = settings.stage1
    val_idx = val.kept_windows()
    if len(val_idx) > settings.val_windows:
        pick = torch.randperm(len(val_idx), generator=torch.Generator().manual_seed(cfg.seed))[: settings.val_windows]
        val_idx = val_idx[pick.sort().values]
    val_x = val.windows(val_idx[:, 0], val_idx[:, 1], val_idx[:, 2])
    val_y = (val.labels[val_idx[:, 0], val_idx[:, 1], val_idx[:, 2]] - shift) / scale
    val_w = val.weights[val_idx[:, 0], val_idx[:, 1], val_idx[:, 2]]

    def batches(gen: torch.Generator):
        idx = _sample(train, settings.windows_per_image, gen)
        idx = idx[torch.randperm(len(idx), generator=gen)]
        for start in range(0, len(idx), cfg.batch_size):
            b = world.part(idx[start : start + cfg.batch_size])
            yield train.windows(b[:, 0], b[:, 1], b[:, 2]), (train.labels[b[:, 0], b[:, 1], b[:, 2]] - shift) / scale

    def validate() -> tuple[float, float]:
        pred = torch.cat([model.stage1(val_x[i : i + 4096].to(world.device)).cpu() for i in range(0, len(val_x), 4096)])
        return float(((pred - val_y).abs() * val_w).sum()), float(val_w.sum())

    return fit(model.stage1, batches, validate, cfg, checkpoint, desc="stage 1", progress=progress, world=world)


def _patches(images: np.ndarray) -> torch.Tensor:
    """``(K, p, p[, C])`` NumPy patches -> ``(K, C, p, p)`` float32 tensor."""
    t = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    return t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()


def dihedral(patches: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each item of ``(N, ..., p, p)`` square patches in one of the 8 flips/rotations, at random.

    All patches of one item (e.g. the two of a pair) get the same transform. Tampering
    traces (seams, resampling, inpainting) have no preferred orientation, so the 8 variants
    multiply small training sets.
    """
    n = patches.shape[0]
    shape = (n,) + (1,) * (patches.ndim - 1)
    out = patches
    for flip in (lambda x: x.flip(-1), lambda x: x.flip(-2), lambda x: x.transpose(-1, -2)):
        chosen = (torch.rand(n, generator=gen) < 0.5).view(shape)
        out = torch.where(chosen, flip(out), out)
    return out


def train_ranker(
    model: HyperImageModel,
    train_recs: Sequence[ImageRecord],
    val_recs: Sequence[ImageRecord],
    settings: PipelineConfig,
    checkpoint: Path | None = None,
    progress: bool = True,
    world: World = SINGLE,
) -> LoopState:
    """Forgery stage 1 ("Experiment 2"): the Siamese ranker on contour patch pairs.

    Every tampered record with a mask and its authentic reference gives the paper's 15
    pairs of ``patch``-px patches centred on the tampering's contour
    (:func:`~hyperimage.forgery_patches.pairs_from_records`). The mean training patch is
    stored in the ranker and subtracted from every patch; each training pair gets one of the
    8 flips/rotations (:func:`dihedral`, both patches alike) and a random channel order
    (:func:`~hyperimage.ranking.shuffle_pairs`); the loss is the Siamese hinge with
    delta = 3. The validation error is the share of validation pairs ranked the wrong way
    (half in each order): the hinge itself is dominated by a few confident mistakes. Afterwards the ranker's reference feature (what a single patch is compared with
    at test time) is set to the mean feature of the training patches.
    """
    ranker = model.stage1
    if model.config.preprocess != "none":
        raise ValueError("contour-pair training cuts patches from raw images: use preprocess 'none'")
    cfg = replace(settings.stage1, loss="siamese")
    rng = np.random.default_rng(cfg.seed)
    size, mode = model.config.patch, model.config.image_mode
    train_pairs = pairs_from_records(train_recs, rng, size=size, mode=mode)
    val_pairs = pairs_from_records(val_recs, rng, size=size, mode=mode)
    authentic, tampered = _patches(train_pairs.authentic), _patches(train_pairs.tampered)
    ranker.set_input_mean(torch.cat([authentic, tampered]))
    val_a, val_t = _patches(val_pairs.authentic), _patches(val_pairs.tampered)
    val_y = torch.where(torch.arange(len(val_a)) % 2 == 0, 1.0, -1.0)
    first = (val_y > 0).view(-1, 1, 1, 1)
    val_x = torch.stack([torch.where(first, val_a, val_t), torch.where(first, val_t, val_a)], dim=1)
    decision = PairDecision(ranker)

    def batches(gen: torch.Generator):
        order = torch.randperm(len(authentic), generator=gen)
        for start in range(0, len(order), cfg.batch_size):
            b = order[start : start + cfg.batch_size]
            pair = dihedral(torch.stack([authentic[b], tampered[b]], dim=1), gen)
            c1, c2, y = shuffle_pairs(pair[:, 0], pair[:, 1], gen)
            yield world.part(torch.stack([c1, c2], dim=1)), world.part(y)

    def validate() -> tuple[float, float]:
        pred = torch.cat([decision(val_x[i : i + 256].to(world.device)).cpu() for i in range(0, len(val_x), 256)])
        return float((pred * val_y <= 0).sum()), float(len(pred))

    state = fit(decision, batches, validate, cfg, checkpoint, desc="stage 1 (pairs)", progress=progress, world=world)
    with torch.no_grad():
        patches = torch.cat([authentic, tampered])
        ranker.set_reference(
            torch.cat([ranker.forward_features(patches[i : i + 512].to(world.device)) for i in range(0, len(patches), 512)])
        )
    return state


@torch.no_grad()
def contour_pair_metrics(
    model: HyperImageModel, records: Sequence[ImageRecord], seed: int = 0, batch: int = 256
) -> dict[str, float]:
    """Stage 1 of a forgery model alone, on the contour pairs of ``records`` (e.g. test images).

    Two figures that separate what stage 1 learned from what the image-level score makes of
    it: ``pair_accuracy``, the share of (tampered, authentic) patch pairs at the same contour
    point that the Siamese decision ranks the right way (the task it was trained on), and
    ``patch_auc``, the ROC AUC of the single-patch scores ``d(C, r)`` that the hyper-image
    read-out uses, authentic against tampered patches, with no partner to compare with.
    ``model`` should be in eval mode (as :func:`train` returns it), or dropout blurs both.
    """
    from sklearn.metrics import roc_auc_score

    ranker = model.stage1
    pairs = pairs_from_records(records, np.random.default_rng(seed), size=model.config.patch, mode=model.config.image_mode)
    a, t = _patches(pairs.authentic), _patches(pairs.tampered)
    feats = [torch.cat([ranker.forward_features(x[i : i + batch]) for i in range(0, len(x), batch)]) for x in (a, t)]
    decided = ranker.compare(feats[0], feats[1])
    single = torch.cat([ranker.head(f) for f in feats]).numpy()
    truth = np.r_[np.ones(len(a)), np.zeros(len(t))]
    return {"pair_accuracy": float((decided > 0).float().mean()), "patch_auc": float(roc_auc_score(truth, single))}


def train_stage2(
    model: HyperImageModel,
    train_h: torch.Tensor,
    train_y: torch.Tensor,
    val_h: torch.Tensor,
    val_y: torch.Tensor,
    settings: PipelineConfig,
    checkpoint: Path | None = None,
    progress: bool = True,
    world: World = SINGLE,
) -> LoopState:
    """Train stage 2 on hyper-images ``(N, D, U, V)`` and image targets ``(N,)``.

    Regression: the loss of ``settings.stage2`` on standardised targets. Classification:
    binary cross-entropy on the logit with class weights, so each class carries half the
    loss whatever the balance (CASIA-2 is 59% authentic).
    """
    cfg = settings.stage2
    if model.config.task == "classification":
        model.config.stage2_norm = (0.0, 1.0)
        cfg = replace(cfg, loss="bce")
        ty, vy = class_weighted(train_y), class_weighted(val_y)
    else:
        shift, scale = _norm(train_y)
        model.config.stage2_norm = (shift, scale)
        ty, vy = (train_y - shift) / scale, (val_y - shift) / scale
    loss_fn = LOSSES[cfg.loss]

    def batches(gen: torch.Generator):
        order = torch.randperm(len(ty), generator=gen)
        for start in range(0, len(order), cfg.batch_size):
            b = order[start : start + cfg.batch_size]
            x = random_flips(train_h[b], gen) if settings.stage2_flips else train_h[b]
            yield world.part(x), world.part(ty[b])

    def validate() -> tuple[float, float]:
        pred = model.stage2(val_h.to(world.device)).cpu()
        if cfg.loss == "bce":  # the class-weighted mean: weights are vy's second column
            return float(loss_fn(pred, vy)) * float(vy[:, 1].sum()), float(vy[:, 1].sum())
        return float(loss_fn(pred, vy)) * len(vy), float(len(vy))

    return fit(model.stage2, batches, validate, cfg, checkpoint, desc="stage 2", progress=progress, world=world)


def random_flips(hyper: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip each hyper-image ``(N, D, U, V)`` up-down and left-right, each with probability 1/2.

    Stage-2 augmentation for tasks whose label does not change when the image is mirrored
    (quality, forgery): a mirrored image has roughly the mirrored hyper-image, so the flips
    teach stage 2 that the mirror images of a layout score alike, four layouts per image
    on small data sets. Not for tasks whose label depends on absolute position.
    """
    n = hyper.shape[0]
    out = hyper
    for dim in (2, 3):
        flip = (torch.rand(n, generator=gen) < 0.5).view(n, 1, 1, 1)
        out = torch.where(flip, out.flip(dim), out)
    return out


def calibrate_average(model: HyperImageModel, train_h: torch.Tensor, train_y: torch.Tensor) -> None:
    """Patch averaging: map the mean patch score to the image target.

    Regression: a least-squares line. Classification: a class-weighted logistic regression
    (scikit-learn), whose intercept and slope turn the mean score into a logit.
    """
    model.config.stage2_norm = (0.0, 1.0)
    with torch.no_grad():
        mean = model.aggregate_raw(train_h.to(model.device)).double().cpu().numpy()
    y = train_y.double().numpy()
    if model.config.task == "classification":
        from sklearn.linear_model import LogisticRegression

        fitted = LogisticRegression(class_weight="balanced").fit(mean[:, None], y > 0.5)
        model.config.stage2_norm = (float(fitted.intercept_[0]), float(fitted.coef_[0, 0]))
        return
    if np.ptp(mean) > 0:
        slope, intercept = np.polyfit(mean, y, 1)
    else:
        slope, intercept = 1.0, float(y.mean() - mean.mean())
    model.config.stage2_norm = (float(intercept), float(slope))


@dataclass
class TrainResult:
    """What :func:`train` produced besides the model, including the training hyper-images
    ``(N, D, U, V)`` and targets, which :func:`patch_average_of` reuses."""

    stage1: LoopState
    stage2: LoopState | None
    skipped: list[str]
    n_train: int
    n_val: int
    train_hyper: torch.Tensor = field(repr=False)
    train_targets: torch.Tensor = field(repr=False)


def train(
    records: Sequence[ImageRecord],
    config: ModelConfig,
    settings: PipelineConfig | None = None,
    workdir: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
    world: World = SINGLE,
) -> tuple[HyperImageModel, TrainResult]:
    """Train a model on records whose ``split`` is ``train`` / ``val`` (others are ignored).

    With ``workdir`` each stage checkpoints there after every epoch, and a rerun with the same
    arguments resumes from the checkpoints. The model trains and is returned on
    ``world.device``; with several ranks each trains on its part of every global batch
    (:func:`~hyperimage.training.fit`), only rank 0 writes the checkpoints.
    """
    settings = settings or PipelineConfig()
    settings = replace(
        settings,
        stage1=replace(settings.stage1, seed=seed),
        stage2=replace(settings.stage2, seed=seed + 1),
    )
    train_recs = [r for r in records if r.split == "train"]
    val_recs = [r for r in records if r.split == "val"]
    if not train_recs or not val_recs:
        raise ValueError(f"need train and val images, got {len(train_recs)} train and {len(val_recs)} val")
    torch.manual_seed(seed)
    model = HyperImageModel(config).to(world.device)
    targets = torch.tensor([r.target for r in train_recs])
    low, high = config.score.low, config.score.high
    config.score = replace(
        config.score,
        low=float(targets.min()) if low is None else low,
        high=float(targets.max()) if high is None else high,
    )
    ckpt = Path(workdir) / CHECKPOINTS if workdir is not None else None
    stage1_ckpt = ckpt / "stage1.safetensors" if ckpt else None
    if config.stage1_data == "contour-pairs":
        s1 = train_ranker(model, train_recs, val_recs, settings, stage1_ckpt, progress, world)
    train_bank, val_bank = ImageBank(train_recs, model), ImageBank(val_recs, model)
    if config.stage1_data == "windows":
        s1 = train_stage1(model, train_bank, val_bank, settings, stage1_ckpt, progress, world)
    train_h = train_bank.hyper_images(model, settings.feature_batch)
    s2 = None
    if model.stage2 is None:
        calibrate_average(model, train_h, train_bank.targets)
    else:
        val_h = val_bank.hyper_images(model, settings.feature_batch)
        s2 = train_stage2(
            model, train_h, train_bank.targets, val_h, val_bank.targets, settings,
            ckpt / "stage2.safetensors" if ckpt else None, progress, world,
        )
    model.eval()
    return model, TrainResult(
        s1, s2, train_bank.errors + val_bank.errors, len(train_bank), len(val_bank), train_h, train_bank.targets
    )


def patch_average_of(model: HyperImageModel, result: TrainResult) -> HyperImageModel:
    """The patch-averaging baseline that shares a trained model's stage 1.

    Calibrated on the training hyper-images of ``result`` (what :func:`train` returned with
    ``model``), exactly as :func:`train` does for ``method="patch-average"``.
    """
    config = replace(model.config, method="patch-average")
    baseline = HyperImageModel(config)
    baseline.stage1.load_state_dict(model.stage1.state_dict())
    calibrate_average(baseline, result.train_hyper, result.train_targets)
    return baseline.eval()
