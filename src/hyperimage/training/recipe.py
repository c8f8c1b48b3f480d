"""A training recipe: the stage-1 phases in order, stage 2's settings and the augmentations,
saved as ``recipe.json`` beside the model so a run says how it was trained.

The default is the paper's recipe (section "Training/testing pipeline": SGD, 80 stage-1 and
200 stage-2 epochs, every window each epoch); the named CPU budgets are the ones the
benchmarks train with on 2 cores. ``hyperimage train --recipe NAME|FILE`` takes either.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

from hyperimage.registry import Registry
from hyperimage.training.augment import Entry
from hyperimage.training.loop import TrainConfig
from hyperimage.training.stage2_rank import RankSpec

RECIPE_FILE = "recipe.json"


@dataclass
class PhaseSpec:
    """One stage-1 phase: a registered trainer (:mod:`hyperimage.training.phases`) and its settings.

    ``name`` ``None`` stands for the model's own stage-1 training (its
    ``ModelConfig.stage1_data``: grid ``windows`` or ``contour-pairs``), resolved when the
    run starts. ``args`` are the trainer's own settings (e.g. ``windows_per_image``) as JSON
    values, checked against the dataclass the phase registers when a run resolves the recipe
    (:func:`hyperimage.training.phases.check`; this module sits below the phases, so reading a
    recipe file leaves ``args`` to that check); ``augment`` names augmentations
    (:mod:`hyperimage.training.augment`), ``None`` for the trainer's default.
    """

    name: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    args: dict[str, Any] = field(default_factory=dict)
    augment: list[Entry] | None = None


@dataclass
class Recipe:
    """How both stages are trained (defaults: the paper's recipe).

    ``phases`` run in order, each with its own checkpoint; the last is the model's own
    stage-1 training, earlier ones are pre-training. ``workers``: processes that prepare the
    images (``None``: all cores but one).
    """

    phases: list[PhaseSpec] = field(default_factory=lambda: [PhaseSpec()])
    stage2: TrainConfig = field(default_factory=TrainConfig.stage2_default)
    stage2_augment: list[Entry] = field(default_factory=list)
    stage2_rank: RankSpec | None = None
    """Synthetic ranked sets trained beside the labels in stage 2 (:mod:`~hyperimage.training.stage2_rank`)."""
    feature_batch: int = 2048
    workers: int | None = None
    name: str = "custom"

    @classmethod
    def simple(
        cls,
        stage1: TrainConfig,
        stage2: TrainConfig | None = None,
        windows_per_image: int | None = None,
        stage2_augment: tuple[Entry, ...] = (),
        name: str = "custom",
    ) -> "Recipe":
        """One stage-1 phase (the model's own) with ``stage1`` settings, then stage 2."""
        args = {} if windows_per_image is None else {"windows_per_image": windows_per_image}
        return cls(
            phases=[PhaseSpec(train=stage1, args=args)],
            stage2=stage2 or TrainConfig.stage2_default(),
            stage2_augment=list(stage2_augment),
            name=name,
        )

    @classmethod
    def cpu(
        cls, stage1_epochs: int, stage2_epochs: int, windows: int, stage2_patience: int, stage2_batch: int, name: str = "custom"
    ) -> "Recipe":
        """A short CPU budget: few epochs, ``windows`` sampled windows per image and epoch."""
        return cls.simple(
            TrainConfig(epochs=stage1_epochs, patience=4),
            TrainConfig(epochs=stage2_epochs, patience=stage2_patience, batch_size=stage2_batch),
            windows_per_image=windows,
            name=name,
        )

    @property
    def main(self) -> PhaseSpec:
        """The model's own stage-1 phase (the last one)."""
        return self.phases[-1]

    def with_main(self, args: dict[str, Any] | None = None, **changes: Any) -> "Recipe":
        """This recipe with the main phase's :class:`TrainConfig` fields changed (``None`` values
        kept) and ``args`` merged into its arguments (a setting the phase does not take is refused
        when the recipe is resolved for a run, :func:`hyperimage.training.phases.check`)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        main = replace(self.main, train=replace(self.main.train, **changes), args={**self.main.args, **(args or {})})
        return replace(self, phases=[*self.phases[:-1], main])

    def seeded(self, seed: int) -> "Recipe":
        """Every phase seeded from ``seed`` (phase ``k`` with ``seed + k``), stage 2 after them."""
        phases = [replace(p, train=replace(p.train, seed=seed + k)) for k, p in enumerate(self.phases)]
        return replace(self, phases=phases, stage2=replace(self.stage2, seed=seed + len(phases)))

    def to_json(self) -> dict:
        """The recipe as plain JSON values."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict, where: str = "recipe") -> "Recipe":
        """A recipe from :meth:`to_json` output; a ValueError naming ``where`` and the bad key
        otherwise. The phases' ``args`` are checked later, by :func:`hyperimage.training.phases.check`."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: a recipe is a JSON object")
        try:
            phases = [PhaseSpec(**{**p, "train": _train_config(p.get("train", {}))}) for p in data.get("phases", [{}])]
            rest = {k: v for k, v in data.items() if k not in ("phases", "stage2", "stage2_rank", "trained_with")}
            stage2 = _train_config(data.get("stage2", asdict(TrainConfig.stage2_default())))
            rank = data.get("stage2_rank")
            recipe = cls(phases=phases, stage2=stage2, stage2_rank=None if rank is None else RankSpec.from_json(rank), **rest)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from None
        if not recipe.phases:
            raise ValueError(f"{where}: a recipe needs at least one stage-1 phase")
        return recipe

    def save(self, path: str | Path, trained_with: dict[str, Any] | None = None) -> None:
        """Write the recipe as JSON, with ``trained_with`` (e.g. the world size and device of
        the run) under that key: a record, ignored when the recipe is read back."""
        data = {**self.to_json(), **({"trained_with": trained_with} if trained_with else {})}
        Path(path).write_text(json.dumps(data, indent=2) + "\n")


@dataclass(frozen=True)
class Changes:
    """What ``hyperimage train``'s options change in a recipe (``None``: keep the recipe's):
    the main stage-1 phase's epochs, patience and windows per image, and stage 2's epochs
    and patience."""

    stage1_epochs: int | None = None
    stage1_patience: int | None = None
    windows_per_image: int | None = None
    stage2_epochs: int | None = None
    stage2_patience: int | None = None

    def apply(self, recipe: Recipe) -> Recipe:
        """``recipe`` with these changes made."""
        windows = None if self.windows_per_image is None else {"windows_per_image": self.windows_per_image}
        changed = recipe.with_main(windows, epochs=self.stage1_epochs, patience=self.stage1_patience)
        s2 = changed.stage2
        stage2 = replace(
            s2,
            epochs=s2.epochs if self.stage2_epochs is None else self.stage2_epochs,
            patience=s2.patience if self.stage2_patience is None else self.stage2_patience,
        )
        return replace(changed, stage2=stage2)


def _train_config(data: Any) -> TrainConfig:
    if not isinstance(data, dict):
        raise ValueError(f"training settings are a JSON object, got {data!r}")
    known = {f.name for f in fields(TrainConfig)}
    if unknown := sorted(set(data) - known):
        raise ValueError(f"unknown training setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return TrainConfig(**data)


RECIPES: Registry[Callable[[], Recipe]] = Registry("recipe")
register = RECIPES.register
available = RECIPES.available


def get(name_or_file: str | Path) -> Recipe:
    """A named recipe, or one read from a ``.json`` file (e.g. a model's ``recipe.json``)."""
    path = Path(name_or_file)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable recipe ({err})") from None
        return Recipe.from_json(data, where=str(path))
    return RECIPES.get(str(name_or_file))()


@register("paper")
def paper() -> Recipe:
    """The paper's recipe: every window each epoch, 80 / 200 epochs, patience 20 / 40."""
    return Recipe(name="paper")


@register("synthetic-quick")
def synthetic_quick() -> Recipe:
    """``benchmark synthetic --quick``: 5 stage-1 epochs of 16 windows per image, 40 stage-2 epochs."""
    return Recipe.cpu(5, 40, 16, stage2_patience=15, stage2_batch=32, name="synthetic-quick")


@register("synthetic-full")
def synthetic_full() -> Recipe:
    """``benchmark synthetic``: 10 stage-1 epochs of 20 windows per image, 60 stage-2 epochs."""
    return Recipe.cpu(10, 60, 20, stage2_patience=15, stage2_batch=32, name="synthetic-full")


@register("iqa-quick")
def iqa_quick() -> Recipe:
    """``benchmark iqa --quick``: 4 stage-1 epochs of 32 windows per image, 15 stage-2 epochs, flips."""
    return replace(Recipe.cpu(4, 15, 32, stage2_patience=10, stage2_batch=16), stage2_augment=["flips"], name="iqa-quick")


@register("iqa-full")
def iqa_full() -> Recipe:
    """``benchmark iqa``: 10 stage-1 epochs of 64 windows per image, 30 stage-2 epochs, flips."""
    return replace(Recipe.cpu(10, 30, 64, stage2_patience=8, stage2_batch=16), stage2_augment=["flips"], name="iqa-full")


@register("iqa-rank-quick")
def iqa_rank_quick() -> Recipe:
    """``iqa-quick`` after RankIQA pre-training (phase ``rank``: 5 epochs of 1,024 ranked groups
    of the built-in photos), the pre-train-then-fine-tune recipe of the related methods."""
    base = iqa_quick()
    rank = PhaseSpec("rank", TrainConfig(epochs=5, patience=5, batch_size=60, lr=0.01), args={"groups": 1024})
    return replace(base, phases=[rank, *base.phases], name="iqa-rank-quick")


@register("iqa-hide-quick")
def iqa_hide_quick() -> Recipe:
    """``iqa-quick`` with Hide-and-Seek on stage 2's hyper-images (half the 4 x 4 blocks of cells
    hidden, after the flips)."""
    return replace(
        iqa_quick(), stage2_augment=["flips", {"name": "hide", "probability": 0.5, "cell": 4}], name="iqa-hide-quick"
    )


@register("iqa-imagenet-quick")
def iqa_imagenet_quick() -> Recipe:
    """For a stage 1 over a frozen ImageNet trunk (preset ``livec-imagenet``): up to 20 epochs of
    its dense layers on every grid cell of 8 images a batch (phase ``cells``, on trunk values
    computed once; Adam at 1e-4: SGD at the paper's rate diverges on 1,904 standardised
    inputs), then stage 2 up to 40 epochs (Adam at 3e-4, patience 10, batches of 16, flips).
    On LIVE-C split 0 stage 2 reached SROCC 0.785 with ``iqa-quick``'s SGD stage 2, 0.790 with
    Adam for 15 epochs, 0.791 with these settings."""
    stage1 = PhaseSpec(None, TrainConfig(epochs=20, patience=5, optimizer="adam", lr=1e-4), args={"images_per_batch": 8})
    stage2 = TrainConfig(epochs=40, patience=10, batch_size=16, optimizer="adam", lr=3e-4)
    return replace(iqa_quick(), phases=[stage1], stage2=stage2, name="iqa-imagenet-quick")


@register("iqa-imagenet-hide-quick")
def iqa_imagenet_hide_quick() -> Recipe:
    """``iqa-imagenet-quick`` with Hide-and-Seek on stage 2's hyper-images (as ``iqa-hide-quick``)."""
    return replace(iqa_imagenet_quick(), stage2_augment=iqa_hide_quick().stage2_augment, name="iqa-imagenet-hide-quick")


@register("iqa-imagenet-rank-quick")
def iqa_imagenet_rank_quick() -> Recipe:
    """``iqa-imagenet-quick`` with synthetic rankings beside the labels in stage 2
    (:mod:`~hyperimage.training.stage2_rank`): the 5 built-in photos, TID2013 #1, #8, #10, #11
    over the whole image and inside 4 region masks, levels 0-5 (100 ranked sets); 4 sets
    join each batch of 16 labelled hyper-images. Human scores of authentic photos rarely show
    damage in one region only; the rankings teach stage 2 that it counts there too."""
    return replace(iqa_imagenet_quick(), stage2_rank=RankSpec(), name="iqa-imagenet-rank-quick")


DEBIAN_PHOTOS = "data/photos-debian"
"""The pristine photos the recipes that pre-train or rank without labels read (the ``*-debian*``,
``iqa-imagenet-rankiqa-quick`` and ``forgery-inpaint-quick`` recipes): ``hyperimage photos data/photos-debian --debian --no-pypi``."""


@register("iqa-imagenet-rank-debian")
def iqa_imagenet_rank_debian() -> Recipe:
    """``iqa-imagenet-rank-quick`` over the 96 Debian-package photos in :data:`DEBIAN_PHOTOS`
    (1,920 ranked sets; the 16 PyPI photos stay out, to check the model on) with the hinge at
    weight 8. Over 5 photos at weight 1 the rankings held for damage over the whole image but
    not for damage inside small irregular regions of photos stage 2 never saw."""
    spec = RankSpec(photos=DEBIAN_PHOTOS, weight=8.0)
    return replace(iqa_imagenet_quick(), stage2_rank=spec, name="iqa-imagenet-rank-debian")


def _rank_implementations(fold: str) -> Recipe:
    spec = RankSpec(photos=DEBIAN_PHOTOS, pool="training", types=f"implementations-{fold}", localized=2, weight=8.0)
    return replace(iqa_imagenet_quick(), stage2_rank=spec, name=f"iqa-imagenet-rank-implementations-{fold}")


@register("iqa-imagenet-rank-implementations-a")
def iqa_imagenet_rank_implementations_a() -> Recipe:
    """``iqa-imagenet-rank-debian`` with rankings that hold across implementations: JPEG, blur and
    noise made by every implementation of leave-one-implementation-out fold ``a`` (OpenCV's
    JPEG, Pillow's blur and linear-light noise left out, for the level check:
    :data:`~hyperimage.data.distortions.implementations.HELD_OUT`) and JPEG2000, over the
    training pool of the Debian photos only (62), over the whole image and inside two regions.
    A first version ranked each photo's soft, low-resolution copy too, inside one region only:
    damage inside a region then ranked far worse on held-out photos (docs/results/quality.md)."""
    return _rank_implementations("a")


@register("iqa-imagenet-rank-implementations-b")
def iqa_imagenet_rank_implementations_b() -> Recipe:
    """``iqa-imagenet-rank-implementations-a`` for fold ``b``: 4:4:4 JPEG, the box blur and shot
    noise left out."""
    return _rank_implementations("b")


@register("iqa-imagenet-rankiqa-quick")
def iqa_imagenet_rankiqa_quick() -> Recipe:
    """RankIQA's own recipe over the frozen ImageNet trunk (preset ``livec-imagenet``): the dense
    layers first learn to rank whole images of the 96 Debian photos in :data:`DEBIAN_PHOTOS`
    (TID2013 #1, #8, #10, #11 over the whole image at levels 0-5, 384 sets at 288 x 384; phase
    ``rank-cells``, up to 30 epochs, Adam at 3e-4), then ``iqa-imagenet-quick`` fine-tunes them on
    the labels and trains stage 2. With 25% of LIVE-C's labels: two-stage SROCC 0.763 against
    0.745 without the ranking, on the same 3 splits (``results/livec-3splits-25pc-imagenet-rankiqa.json``
    and ``results/livec-3splits-25pc-imagenet-rank.json``; docs/results/quality.md, "A quarter of
    the labels")."""
    base = iqa_imagenet_quick()
    rank = PhaseSpec(
        "rank-cells", TrainConfig(epochs=30, patience=5, batch_size=48, optimizer="adam", lr=3e-4),
        args={"photos": DEBIAN_PHOTOS, "types": "live", "localized": 0, "size": [288, 384]},
    )
    return replace(base, phases=[rank, *base.phases], name="iqa-imagenet-rankiqa-quick")


@register("iqa-rank-debian-quick")
def iqa_rank_debian_quick() -> Recipe:
    """``iqa-rank-quick`` over the 96 Debian-package photos in :data:`DEBIAN_PHOTOS` (4,096 ranked
    groups an epoch, every uniform TID2013 type): RankIQA's pre-training draws on thousands of
    photos; 5 photos leave stage 1 little to generalise from. With 25% of LIVE-C's labels it was
    no better than 5 photos (docs/results/quality.md, "A quarter of the labels")."""
    base = iqa_rank_quick()
    rank = replace(base.phases[0], args={"groups": 4096, "photos": DEBIAN_PHOTOS})
    return replace(base, phases=[rank, *base.phases[1:]], name="iqa-rank-debian-quick")


@register("iqa-rank-debian-s2-quick")
def iqa_rank_debian_s2_quick() -> Recipe:
    """``iqa-rank-debian-quick`` with synthetic rankings beside the labels in stage 2 too (the
    Debian photos, TID2013 #1, #8, #10, #11 over the whole image, 384 ranked sets, weight 8 as
    ``iqa-imagenet-rank-debian``): the whole two-stage model pre-trained on rankings. With 25% of
    LIVE-C's labels it kept stage 2 from collapsing on one split, but stayed below scratch with
    all of them (docs/results/quality.md, "A quarter of the labels")."""
    spec = RankSpec(photos=DEBIAN_PHOTOS, localized=0, weight=8.0)
    return replace(iqa_rank_debian_quick(), stage2_rank=spec, name="iqa-rank-debian-s2-quick")


def _forgery(stage1_epochs: int, stage2_epochs: int, name: str) -> Recipe:
    return Recipe.simple(
        TrainConfig(epochs=stage1_epochs, patience=4, batch_size=32),
        TrainConfig(epochs=stage2_epochs, patience=8, batch_size=16),
        stage2_augment=("flips",),
        name=name,
    )


@register("forgery-quick")
def forgery_quick() -> Recipe:
    """``benchmark forgery --quick``: 5 contour-pair epochs, 12 stage-2 epochs, flips."""
    return _forgery(5, 12, "forgery-quick")


@register("forgery-full")
def forgery_full() -> Recipe:
    """``benchmark forgery``: 15 contour-pair epochs, 25 stage-2 epochs, flips."""
    return _forgery(15, 25, "forgery-full")


@register("forgery-hide-quick")
def forgery_hide_quick() -> Recipe:
    """``forgery-quick`` with Hide-and-Seek on stage 2's hyper-images (as ``iqa-hide-quick``):
    stage 2 learns from all the cells a tampering marks, not only the strongest."""
    return replace(forgery_quick(), stage2_augment=iqa_hide_quick().stage2_augment, name="forgery-hide-quick")


@register("forgery-inpaint-quick")
def forgery_inpaint_quick() -> Recipe:
    """``forgery-quick`` after context-encoder pre-training of stage 1 (phase ``inpaint``: 5 epochs
    of 8,192 patches of the Debian photos in :data:`DEBIAN_PHOTOS`, half the side hidden, Adam at
    1e-3): the trunk first learns what a photo's centre looks like from its surround, which a
    pasted region breaks. On CASIA v1 split 0: +0.015 accuracy, -0.029 AUC
    (``results/casia1-quick-split0-variants.json``; docs/results/forgery.md, "Pre-training,
    hiding and the ImageNet trunk")."""
    inpaint = PhaseSpec(
        "inpaint", TrainConfig(epochs=5, patience=5, batch_size=64, optimizer="adam", lr=1e-3),
        args={"photos": DEBIAN_PHOTOS, "patches": 8192},
    )
    base = forgery_quick()
    return replace(base, phases=[inpaint, *base.phases], name="forgery-inpaint-quick")


@register("forgery-tamper-quick")
def forgery_tamper_quick() -> Recipe:
    """``forgery-quick`` with stage 1 learned from tampering made on the fly (phase
    ``tamper-pairs``: 8 epochs of 512 new forgeries of the training photos in
    :data:`~hyperimage.data.photo_pools.NATIVE_PHOTOS`, 15 contour pairs each) instead of the data set's own contour
    pairs: a ranker that has seen no image of the data set, nor its file history."""
    base = forgery_quick()
    tamper = PhaseSpec("tamper-pairs", replace(base.main.train, epochs=8), args={"forgeries": 512})
    return replace(base, phases=[tamper], name="forgery-tamper-quick")


#: The implementations the held-out check makes its forgeries with and ``forgery-tamper-loo-quick``
#: never trains on: Navier-Stokes inpainting, Poisson blending, OpenCV's JPEG encoder.
HELD_OUT_IMPLEMENTATIONS = ("navier-stokes", "poisson", "opencv")


@register("forgery-tamper-loo-quick")
def forgery_tamper_loo_quick() -> Recipe:
    """``forgery-tamper-quick`` with :data:`HELD_OUT_IMPLEMENTATIONS` left out of its forgeries,
    so that forgeries made with them test it on code its training never ran
    (``benchmarks/tamper_heldout.py``, leave-one-implementation-out)."""
    base = forgery_tamper_quick()
    tamper = replace(base.main, args={**base.main.args, "leave_out": list(HELD_OUT_IMPLEMENTATIONS)})
    return replace(base, phases=[tamper], name="forgery-tamper-loo-quick")


@register("forgery-imagenet-quick")
def forgery_imagenet_quick() -> Recipe:
    """For the ``forgery-imagenet`` preset: ``iqa-imagenet-quick``'s stage 1 (20 epochs of the
    ``cells`` phase, Adam at 1e-4) and stage 2 (Adam at 3e-4, up to 40 epochs, patience 10,
    flips), the settings that held over the same trunk on LIVE-C."""
    return replace(iqa_imagenet_quick(), name="forgery-imagenet-quick")


@register("forgery-imagenet-hide-quick")
def forgery_imagenet_hide_quick() -> Recipe:
    """``forgery-imagenet-quick`` with Hide-and-Seek on stage 2's hyper-images (as ``iqa-hide-quick``)."""
    return replace(forgery_imagenet_quick(), stage2_augment=iqa_hide_quick().stage2_augment, name="forgery-imagenet-hide-quick")


@register("forgery-jpeg-full")
def forgery_jpeg_full() -> Recipe:
    """``forgery-full`` with stage 1's contour pairs re-saved as JPEG at random qualities 60-95
    (half of them, after the flips/rotations; augmentation ``jpeg``): compression traces stop
    telling authentic from tampered, seams and noise still do. On CASIA v1 it scored below
    ``forgery-full`` on the files as published and re-saved alike (``benchmarks/resave_check.py``;
    measured without a results file, docs/results/speed.md, "Measurements without a results file")."""
    recipe = forgery_full()
    augment = ["dihedral", {"name": "jpeg", "probability": 0.5, "quality": [60, 95]}]
    return replace(recipe, phases=[replace(recipe.main, augment=augment)], name="forgery-jpeg-full")
