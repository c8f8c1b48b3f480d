"""Model presets: the paper's architectures and settings for each application, by name.

A preset is a :class:`Preset` spec: a builder of the :class:`ModelConfig` (for either method)
plus what a user needs to train and read the model: its default recipe
(:mod:`hyperimage.training.recipe`), what its heat map shows, and, from the config, its task
and stage-1 data. ``@register(name, recipe=..., heat_map=...)`` on a builder adds one; data-set
layouts name the preset that suits them (:attr:`hyperimage.data.datasets.layout.Layout.preset`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Callable

from hyperimage.inference.model import ModelConfig, ScoreSpec
from hyperimage.registry import Registry


@dataclass(frozen=True)
class Preset:
    """A named model design: ``build(method)`` gives a fresh :class:`ModelConfig`; ``recipe`` is
    the recipe it trains with unless told otherwise (``hyperimage train`` without ``--recipe``);
    ``heat_map`` says what its heat map's cells show."""

    name: str
    build: Callable[[str], ModelConfig]
    recipe: str
    heat_map: str

    def config(self, method: str = "two-stage") -> ModelConfig:
        """A fresh config of this preset for ``method``."""
        return self.build(method)

    @property
    def summary(self) -> str:
        """The first paragraph of the builder's docstring, as plain text: what the preset is for."""
        text = " ".join((self.build.__doc__ or self.name).split("\n\n")[0].split())
        return re.sub(r"``([^`]+)``", r"\1", re.sub(r":\w+:`~?([^`<]+?)(?: <[^>]+>)?`", r"\1", text))

    @property
    def task(self) -> str:
        """``regression`` or ``classification`` (:mod:`hyperimage.inference.tasks`)."""
        return self.config().task

    @property
    def stage1_data(self) -> str:
        """The stage-1 training phase the preset's model learns from by default (``ModelConfig.stage1_data``)."""
        return self.config().stage1_data


PRESETS: Registry[Preset] = Registry("preset")
available = PRESETS.available
spec = PRESETS.get


def register(name: str, recipe: str, heat_map: str) -> Callable[[Callable[[str], ModelConfig]], Callable[[str], ModelConfig]]:
    """Decorator: register the config builder as preset ``name`` with its default ``recipe``
    and the meaning of its ``heat_map``."""

    def wrap(build: Callable[[str], ModelConfig]) -> Callable[[str], ModelConfig]:
        PRESETS.register(name)(Preset(name, build, recipe, heat_map))
        return build

    return wrap


def get(name: str, method: str = "two-stage") -> ModelConfig:
    """A fresh :class:`ModelConfig` of preset ``name`` for ``method``."""
    return PRESETS.get(name).config(method)


#: What the cells of a quality model's heat map show.
QUALITY_MAP = "each patch's quality as stage 1 scores it (where the damage is)"


@register("synthetic", recipe="paper", heat_map="each window's synthetic score as stage 1 predicts it")
def synthetic(method: str) -> ModelConfig:
    """The synthetic task: gray 128x128 images, 32x32 windows on a 10x10 grid, Table 4 nets."""
    return ModelConfig(
        method=method,
        stage1="synthetic-stage1",
        stage2="synthetic-stage2",
        patch=32,
        grid=(10, 10),
        max_size=(128, 128),
        channels=1,
        preprocess="image-mean",
        window_labels="synthetic",
        score=ScoreSpec(name="synthetic score (Eq. 3)", low=5.0 - 2.0 * math.sqrt(5.0), high=5.0, higher_is_better=True),
        preset="synthetic",
    )


def _iqa(
    method: str,
    channels: int,
    grid: tuple[int, int],
    max_size: tuple[int, int],
    stage2: str,
    preset: str,
    window_labels: str = "selective",
    preprocess: str = "lcn",
    window_label_args: dict | None = None,
) -> ModelConfig:
    return ModelConfig(
        method=method,
        stage1="kang-stage1",
        stage2=stage2,
        patch=32,
        grid=grid,
        max_size=max_size,
        channels=channels,
        preprocess=preprocess,
        window_labels=window_labels,
        window_label_args=window_label_args or {},
        score=ScoreSpec(name="image quality", higher_is_better=True),
        preset=preset,
    )


@register("tid", recipe="paper", heat_map=QUALITY_MAP)
def tid(method: str) -> ModelConfig:
    """NR-IQA on colour photos (TID2013, Table 2 experiments 2-3): Kang stage 1 (Table 5) on
    LCN'd 32x32 RGB patches, selective patch training, "TID stage 2" on a 23x31 grid (32-px
    patches at stride 16 on 384x512 images)."""
    return _iqa(method, 3, (23, 31), (384, 512), "tid-stage2", "tid", window_label_args={"threshold": 0.9})


@register("live", recipe="paper", heat_map=QUALITY_MAP)
def live(method: str) -> ModelConfig:
    """NR-IQA on gray images (LIVE, Table 2 experiment 1): Kang stage 1 on LCN'd 32x32 gray
    patches, selective patch training, "LIVE stage 2" on a 24x23 grid."""
    return _iqa(method, 1, (24, 23), (512, 768), "live-stage2", "live", window_label_args={"threshold": 0.9})


@register("livec", recipe="paper", heat_map=QUALITY_MAP)
def livec(method: str) -> ModelConfig:
    """NR-IQA on in-the-wild photos of about 500 x 500 (LIVE In the Wild Challenge): the ``tid``
    networks on LCN'd 32x32 RGB patches over a 30 x 30 grid (Eq. 2 stride 16 on 500 px, the
    paper's TID stride), images up to 512 x 512 kept at full size. Every patch gets its image's
    MOS (Kang's rule): authentic distortions have no pristine reference, so selective patch
    training does not apply."""
    return _iqa(method, 3, (30, 30), (512, 512), "tid-stage2", "livec", window_labels="image")


@register("livec-rgb", recipe="paper", heat_map=QUALITY_MAP)
def livec_rgb(method: str) -> ModelConfig:
    """``livec`` without Eq. 4: stage 1 sees the patches' RGB values as they are, scaled to
    [-1, 1] (preprocessing ``signed``). Not in the paper: LCN suits the synthetic distortions of
    LIVE and TID2013 but removes the exposure, contrast and colour that many of LIVE-C's
    authentic ones are made of (docs/results/quality.md, "Without LCN (``livec-rgb``), from
    scratch, 3 splits")."""
    return _iqa(method, 3, (30, 30), (512, 512), "tid-stage2", "livec-rgb", window_labels="image", preprocess="signed")


def _livec_trunk(method: str, stage1: str, preprocessing: str, preset: str, stage2: str = "tid-stage2") -> ModelConfig:
    return ModelConfig(
        method=method,
        stage1_data="cells",
        stage1=stage1,
        stage2=stage2,
        patch=32,
        grid=(16, 16),
        max_size=(512, 512),
        channels=3,
        preprocess=preprocessing,
        window_labels="image",
        score=ScoreSpec(name="image quality", higher_is_better=True),
        preset=preset,
    )


@register("livec-imagenet", recipe="iqa-imagenet-rank-debian", heat_map=QUALITY_MAP)
def livec_imagenet(method: str) -> ModelConfig:
    """Table 2 experiment 5 on LIVE-C: the ImageNet EfficientNet-Lite0 trunk (frozen) + FC(800) x 2
    as stage 1, "TID stage 2" over its 16 x 16 x 800 hyper-image. The grid is the trunk's own
    map: 32-px cells (stride 31.2 on 500 px, Eq. 2), one trunk pass per image (the fast path),
    trained on every cell (phase ``cells``) with the image's MOS (Kang's rule); images up to
    512 x 512 at full size, RGB scaled for the trunk (preprocessing ``efficientnet-lite``)."""
    return _livec_trunk(method, "efficientnet-lite0-stage1", "efficientnet-lite", "livec-imagenet")


@register("livec-imagenet-pool", recipe="iqa-imagenet-rank-debian", heat_map=QUALITY_MAP)
def livec_imagenet_pool(method: str) -> ModelConfig:
    """``livec-imagenet`` with learned pooling as stage 2 (``weighted-pooling``, WaDIQaM's
    weighted average of cell scores, started from stage 1's output node: patch averaging at
    the start) instead of the convolutional "TID stage 2", which did no better than the
    plain average over the trunk."""
    return _livec_trunk(method, "efficientnet-lite0-stage1", "efficientnet-lite", "livec-imagenet-pool", "weighted-pooling")


@register("livec-vgg16", recipe="iqa-imagenet-quick", heat_map=QUALITY_MAP)
def livec_vgg16(method: str) -> ModelConfig:
    """``livec-imagenet`` with the paper's own trunk, VGG-16 (conv4_3 and conv5_3 at each cell;
    preprocessing ``imagenet``): its weights come from a file the user has, read by the
    ``load-weights`` phase (docs/method.md, "Table 2 exp. 5")."""
    return _livec_trunk(method, "vgg16-stage1", "imagenet", "livec-vgg16")


@register("koniq", recipe="paper", heat_map=QUALITY_MAP)
def koniq(method: str) -> ModelConfig:
    """NR-IQA on KonIQ-10k's 1024 x 768 photos: scaled down isotropically by 2 to 512 x 384 (the
    release's own smaller copy), then the ``tid`` grid (23 x 31 at stride 16) and networks, and
    Kang's rule (no references)."""
    return _iqa(method, 3, (23, 31), (384, 512), "tid-stage2", "koniq", window_labels="image")


@register("forgery", recipe="forgery-full", heat_map="each patch's ranker decision: negative where it looks tampered, positive where authentic")
def forgery(method: str) -> ModelConfig:
    """Image forgery classification (CASIA-2, Table 3, Experiment 2): the "Forgery channel" of
    Table 4 in a Siamese ranker trained on 64x64 patch pairs along the tampering's contour,
    "Forgery stage 2" on a 15x15x500 hyper-image with class-weighted cross-entropy. The score
    is the probability that the image is authentic (label 1, CASIA-2's "Au").

    Not in the paper: stage 1 sees the patch through a fixed noise-residual front end
    (:class:`hyperimage.inference.networks.forgery.NoiseResidual`, the SRM filters of steganalysis and
    forensics). On the generated benchmark it raised the image-level AUC of stage 1's pooled
    patch scores (``benchmarks/forgery_readout.py`` with and without ``--no-residual``; measured
    without a results file, docs/results/forgery.md): a tampered seam shows in the noise, which
    an RGB network trained on a few thousand patches does not find.
    """
    return ModelConfig(
        method=method,
        task="classification",
        stage1_data="contour-pairs",
        stage1="forgery-stage1",
        stage1_args={"residual": True},
        stage2="forgery-stage2",
        patch=64,
        grid=(15, 15),
        max_size=(384, 384),
        channels=3,
        preprocess="none",
        window_labels="image",
        score=ScoreSpec(name="probability authentic", low=0.0, high=1.0, higher_is_better=True),
        preset="forgery",
    )


@register("forgery-fast", recipe="forgery-full", heat_map="each patch's ranker decision: negative where it looks tampered, positive where authentic")
def forgery_fast(method: str) -> ModelConfig:
    """``forgery`` with the unpadded stage 1 (``forgery-stage1-valid``,
    :mod:`hyperimage.inference.networks.forgery_valid`): its features of every grid patch come
    from one pass over the whole image, on the 15 x 15 grid with its origins moved onto an
    8-px lattice (:class:`~hyperimage.inference.grid.PatchGrid` ``align``). Not in the paper."""
    return replace(forgery(method), stage1="forgery-stage1-valid", stage1_args={}, preset="forgery-fast")


@register("forgery-imagenet", recipe="forgery-imagenet-quick", heat_map="each patch's probability of being authentic as stage 1 scores it")
def forgery_imagenet(method: str) -> ModelConfig:
    """Table 2 experiment 5's idea applied to forgery: the ImageNet EfficientNet-Lite0 trunk
    (frozen) + FC(800) x 2 as stage 1, trained on every cell of whole images with the image's
    label (phase ``cells``), then "Forgery stage 2" over the 12 x 12 x 800 hyper-image. The
    grid reads the trunk's 32-px map (12 x 8 on CASIA's 384 x 256: the short side's cells
    overlap, Eq. 2); RGB scaled for the trunk. Not in the paper, whose forgery stage 1 learns
    from scratch."""
    return replace(
        forgery(method), stage1_data="cells", stage1="efficientnet-lite0-stage1", stage1_args={}, patch=32,
        grid=(12, 12), preprocess="efficientnet-lite", preset="forgery-imagenet",
    )

