"""Synthetic rankings beside the labels in stage 2 (RankIQA's idea, ``shared/papers/related-methods.md``,
applied where the model learns *where* damage counts).

Human scores of authentic photos (LIVE-C) rarely show one region damaged and the rest clean,
so a stage 2 trained on them alone need not lower its score when blur or noise covers part
of a photo. Rankings need no label: one pristine photo distorted by one TID2013 type at
levels 1-5, over the whole image or inside one region mask (the same mask at every level),
plus the photo itself at level 0, must score in that order. Such sets come from the photo
benchmark's generator (:func:`~hyperimage.data.generators.iqa_photos.make_iqa_dataset`, its
proxy labels unused) over photos a user names, and stage 2 trains on both: the task's loss
on the labelled hyper-images of each batch, plus ``weight`` times RankIQA's all-pairs hinge
(:func:`~hyperimage.training.ranking_losses.all_pairs_hinge`) over a few ranked sets, in the
standardised units of the targets. Validation stays the labelled error.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from hyperimage.data import datasets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.generators import iqa_photos
from hyperimage.data.photo_pools import load_pool
from hyperimage.data.photos import builtin_photos
from hyperimage.training.ranking_losses import all_pairs_hinge
from hyperimage.training.store import HyperImageCache

#: Stage-2 target columns when rankings join the labels: ``[target, -level, set]``; a
#: labelled hyper-image has set ``-1``, a ranked one a target that nothing reads.
UNRANKED = -1.0


@dataclass(frozen=True)
class RankSpec:
    """The ranked sets of ``Recipe.stage2_rank`` and how much they count.

    photos : folder of pristine photos (e.g. from ``hyperimage photos``); keep out any photo a
        check is run on. ``None``: the built-in photos.
    types : TID2013 types (numbers or a named set of :data:`~hyperimage.data.generators.iqa_photos.TYPE_SETS`).
    localized : region-mask versions of each (photo, type), beside the whole-image one.
    size : (height, width) the photos are scaled and centre-cropped to.
    pool : of a folder with a manifest, only this pool's photos (``"training"``:
        :mod:`~hyperimage.data.photo_pools`, so that a level check on the held-out pool is one
        on photos the model never saw); None: every photo of ``photos``.
    soft : also rank from a soft, low-resolution copy of each photo (:func:`~hyperimage.data.generators.iqa_photos.soft_copy`).
    sets_per_batch : ranked sets added to each stage-2 batch (each 6 hyper-images: levels 0-5).
    weight, margin : the hinge's weight in the loss and its margin, in standard deviations of the targets.
    """

    photos: str | None = None
    types: Sequence[int] | str = "live"
    localized: int = 4
    size: tuple[int, int] = (384, 512)
    pool: str | None = None
    soft: bool = False
    sets_per_batch: int = 4
    weight: float = 1.0
    margin: float = 0.1

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RankSpec":
        """A spec from the recipe's JSON; ValueError naming a bad key or value."""
        if not isinstance(data, dict):
            raise ValueError(f"stage2_rank must be an object, got {data!r}")
        try:
            spec = cls(**{**data, **({"size": tuple(data["size"])} if "size" in data else {})})
        except TypeError as err:
            raise ValueError(f"stage2_rank: {err}") from None
        if spec.sets_per_batch < 1 or spec.localized < 0 or spec.weight <= 0 or spec.margin <= 0:
            raise ValueError(f"stage2_rank: sets_per_batch >= 1, localized >= 0, weight > 0 and margin > 0, got {data}")
        if spec.pool not in (None, "training", "held-out") or (spec.pool is not None and spec.photos is None):
            raise ValueError(f"stage2_rank: pool is training or held-out, of a folder of photos, got {data}")
        return spec


def check_photos(spec: RankSpec, folder: Path, what: str = "stage2_rank") -> None:
    """ValueError naming ``what`` reads them and the command that makes ``spec.photos`` when that
    folder is missing and :func:`ranked_records` has not yet made ``folder`` from it; called
    before any training, so a missing folder does not surface only after stage 1 has trained."""
    if spec.photos is not None and not (folder / "labels.csv").is_file() and not Path(spec.photos).is_dir():
        raise ValueError(
            f"{what} photos {spec.photos}: no such folder; make it with "
            f"`hyperimage photos {spec.photos} --debian --no-pypi` (or name another folder of photos)"
        )


def ranked_records(spec: RankSpec, folder: Path, seed: int) -> list[ImageRecord]:
    """The ranked images in ``folder``, generated there once (a rerun reads them back)."""
    if (folder / "labels.csv").is_file():
        return datasets.load(folder)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    photos: Any = spec.photos if spec.photos is not None else builtin_photos(size=spec.size)
    if spec.pool is not None:
        images, names = load_pool([spec.photos], spec.pool)
        photos = [(name, image.astype("float32") / 255.0) for name, image in zip(names, images)]
    iqa_photos.make_iqa_dataset(photos, tmp, types=spec.types, localized=spec.localized, seed=seed, size=spec.size, soft=spec.soft)
    tmp.rename(folder)
    return datasets.load(folder)


def ranked_sets(records: Sequence[ImageRecord]) -> list[torch.Tensor]:
    """Per set of :func:`~hyperimage.data.generators.iqa_photos.level_sets` with two levels or
    more, its ``(n, 2)`` rows ``[record index, level]``."""
    sets = []
    for members in iqa_photos.level_sets(records).values():
        levels = [records[i].level or 0 for i in members]
        if len(set(levels)) > 1:
            sets.append(torch.tensor([[float(i), float(level)] for i, level in zip(members, levels)]))
    if not sets:
        raise ValueError("no ranked set with two levels or more (photos, types?)")
    return sets


def with_ranked_sets(
    x: torch.Tensor, y: torch.Tensor, cache: HyperImageCache, sets: list[torch.Tensor], spec: RankSpec,
    higher_is_better: bool, gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of labelled hyper-images ``x`` with targets ``y`` ``(B,)``, plus ``spec.sets_per_batch``
    random sets of :func:`ranked_sets` read from ``cache``: targets ``[target, -level, set]``
    (``[target, level, set]`` for a lower-is-better score), labelled rows in set :data:`UNRANKED`."""
    picks = torch.randint(len(sets), (spec.sets_per_batch,), generator=gen).tolist()
    rows = torch.cat([torch.cat([sets[k], torch.full((len(sets[k]), 1), float(j))], dim=1) for j, k in enumerate(picks)])
    sign = -1.0 if higher_is_better else 1.0  # the rank column: higher must score higher
    labelled = torch.stack([y, torch.zeros_like(y), torch.full_like(y, UNRANKED)], dim=1)
    ranked = torch.stack([torch.zeros(len(rows)), sign * rows[:, 1], rows[:, 2]], dim=1)
    return torch.cat([x, cache.read(rows[:, 0].long())]), torch.cat([labelled, ranked])


def combined_loss(base: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], spec: RankSpec):
    """``base`` on the labelled rows of ``[target, -level, set]`` targets, plus ``spec.weight``
    times the hinge over the ranked rows (a milder level must score ``spec.margin`` higher)."""

    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        labelled = target[:, 2] == UNRANKED
        total = base(pred[labelled], target[labelled, 0]) if labelled.any() else pred.sum() * 0.0
        if (~labelled).any():
            ranked = target[~labelled]
            total = total + spec.weight * all_pairs_hinge(pred[~labelled], ranked[:, 1], ranked[:, 2], spec.margin)
        return total

    return loss
