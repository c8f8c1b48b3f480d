"""Stage-1 trainers by name: each module registers one phase.

A phase gets a :class:`PhaseRun` (the model, the data, its :class:`~.recipe.PhaseSpec` and a
checkpoint path) and trains ``run.model.stage1`` in place, returning its loop state. Values
it fits (e.g. the label normalisation) go into ``run.model.fitted``, apart from its configuration.
Adding a phase (e.g. a pre-training) is one new module here with ``@register("name")``
and its import at the bottom of this file; a recipe then lists it by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.distributed import SINGLE, World
from hyperimage.inference.model import HyperImageModel
from hyperimage.registry import Registry
from hyperimage.training.loop import LoopState, Plan
from hyperimage.training.recipe import PhaseSpec
from hyperimage.training.store import ImageStore


@dataclass
class PhaseRun:
    """What a phase trains on, where it checkpoints, and the processes it trains with
    (each rank yields its :meth:`~hyperimage.distributed.World.part` of every global batch)."""

    model: HyperImageModel
    spec: PhaseSpec
    train_records: Sequence[ImageRecord]
    val_records: Sequence[ImageRecord]
    train_store: ImageStore
    val_store: ImageStore
    checkpoint: Path | None
    progress: bool
    world: World = SINGLE
    log: Callable[[str], None] | None = None

    def plan(self, desc: str, what: str, items: int, batch_size: int) -> Plan | None:
        """The epoch :func:`~hyperimage.training.loop.fit` announces through :attr:`log` (none without one)."""
        return None if self.log is None else Plan(desc, what, items, -(-items // batch_size), self.log)


class Phase(Protocol):
    """A stage-1 trainer."""

    def __call__(self, run: PhaseRun) -> LoopState: ...


PHASES: Registry[Phase] = Registry("training phase")
register = PHASES.register
get = PHASES.get
available = PHASES.available

from hyperimage.training.phases import cells, contour_pairs, inpaint, load_weights, rank, rank_cells, windows  # noqa: E402,F401  (registration)
