"""Stage-1 trainers by name: each module registers one phase.

A phase gets a :class:`PhaseRun` (the model, the data, its :class:`~.recipe.PhaseSpec`, its
typed settings :attr:`PhaseRun.args` and a checkpoint path) and trains ``run.model.stage1`` in
place, returning its loop state. Values it fits (e.g. the label normalisation) go into
``run.model.fitted``, apart from its configuration.

Adding a phase (e.g. a pre-training) is one new module here with ``@register("name",
args=ItsArgs)`` and its import at the bottom of this file; a recipe then lists it by name.
``ItsArgs`` is a dataclass, one field per setting a recipe may give the phase in its
``args`` (a type hint :mod:`hyperimage.settings` reads, a default unless the setting is
required, a docstring saying what it is and why); the phase reads ``run.args.<field>``.
A recipe's ``args`` are checked against it by :func:`check` before any image is read.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from hyperimage import settings
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.distributed import SINGLE, World
from hyperimage.inference.model import HyperImageModel
from hyperimage.registry import Registry
from hyperimage.training.loop import LoopState, Plan
from hyperimage.training.recipe import PhaseSpec, Recipe
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

    @cached_property
    def args(self) -> Any:
        """The phase's settings, ``spec.args`` read into its registered dataclass (:func:`parse`)."""
        return parse(self.spec.name, self.spec.args)

    def plan(self, desc: str, what: str, items: int, batch_size: int) -> Plan | None:
        """The epoch :func:`~hyperimage.training.loop.fit` announces through :attr:`log` (none without one)."""
        return None if self.log is None else Plan(desc, what, items, -(-items // batch_size), self.log)


class Trainer(Protocol):
    """A stage-1 trainer."""

    def __call__(self, run: PhaseRun) -> LoopState: ...


@dataclass(frozen=True)
class NoArgs:
    """The settings of a phase that takes none (e.g. ``contour-pairs``)."""


@dataclass(frozen=True)
class Phase:
    """A registered phase: its trainer and the dataclass of the settings a recipe may give it."""

    train: Trainer
    args: type = NoArgs

    def __call__(self, run: PhaseRun) -> LoopState:
        """Train: ``self.train(run)``."""
        return self.train(run)


PHASES: Registry[Phase] = Registry("training phase")
get = PHASES.get
available = PHASES.available


def register(name: str, args: type = NoArgs) -> Callable[[Trainer], Trainer]:
    """Decorator: make the decorated trainer the phase ``name``, whose settings are the dataclass
    ``args`` (checked here, :func:`hyperimage.settings.declared`: a bad declaration fails on import)."""

    def wrap(train: Trainer) -> Trainer:
        PHASES.register(name)(Phase(train, settings.declared(args)))
        return train

    return wrap


def taking(key: str) -> list[str]:
    """The phases that take the setting ``key``, in registration order."""
    return [name for name, phase in PHASES.items() if key in {f.name for f in fields(phase.args)}]


def parse(name: str, args: Mapping[str, Any]) -> Any:
    """``args`` as phase ``name``'s settings (an instance of its ``args`` dataclass); a ValueError
    of one line naming the phase and the key otherwise, e.g. ``phase 'cells': unknown setting
    'windows_per_image' (a setting of phase 'windows'); its settings: images_per_batch``."""

    def elsewhere(key: str) -> str:
        others = taking(key)
        return f" (a setting of phase {', '.join(map(repr, others))})" if others else ""

    return settings.parse(get(name).args, args, f"phase {name!r}", elsewhere)


def check(recipe: Recipe) -> Recipe:
    """``recipe`` with every phase's ``args`` checked (:func:`parse`) and written back in full,
    defaults included, as plain JSON values (so ``recipe.json`` records every setting a run used).

    Every phase must be named: :func:`hyperimage.training.engine.resolve` names the model's own
    and calls this, and :func:`hyperimage.api.train` resolves the recipe as soon as it knows the
    model, before the data set is read. Reading a recipe file (:func:`~.recipe.get`) cannot do it
    itself: ``recipe.py`` sits below this package, which imports it.
    """
    return replace(recipe, phases=[replace(p, args=settings.dump(parse(p.name, p.args))) for p in recipe.phases])


from hyperimage.training.phases import cells, contour_pairs, inpaint, load_weights, rank, rank_cells, tamper_pairs, windows  # noqa: E402,F401  (registration)
