"""The training loop shared by both stages: the paper's recipe, checkpointed and resumable.

Recipe (section "Training/testing pipeline"): SGD with Nesterov momentum 0.9, initial
learning rate 0.005 decaying by 1e-5 with each update (the Keras/Theano form
``lr = lr0 / (1 + decay * updates)``), divided by 10 when the validation error reaches a
plateau, mean absolute error, early stopping; stage 1 runs for at most 80 epochs with
patience 20, stage 2 for 200 with patience 40. The plateau patience is not given in the
paper; it defaults to half the early-stopping patience. Adam / AdamW and a cosine schedule
(``TrainConfig.optimizer``, ``TrainConfig.schedule``) are there by name for recipes that
want them; the paper's SGD stays the default.

After every epoch the whole loop state (weights, best weights, optimizer, learning rate,
counters, random generators) is written atomically to one safetensors file; calling
:func:`fit` again with the same checkpoint path resumes where it stopped and gives the same
result as an uninterrupted run.

Under ``torchrun`` (a :class:`~hyperimage.distributed.World` of several ranks) the steps run
through DistributedDataParallel, each rank on its part of every global batch; the state a
checkpoint holds is the global one, so a run may resume with another number of processes.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from hyperimage.distributed import SINGLE, World
from hyperimage.registry import Registry
from hyperimage.storage import load_tensors, prefixed, save_tensors, unprefixed
from hyperimage.training.ranking_losses import rank_hinge, siamese_hinge

Batches = Callable[[torch.Generator], Iterable[tuple[torch.Tensor, torch.Tensor]]]
#: ``(error_sum, weight_sum)`` of this rank's share of the validation set (or one error).
Validation = Callable[[], tuple[float, float] | float]


def _sgd(params: Iterable[nn.Parameter], config: "TrainConfig") -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov and config.momentum > 0,
        weight_decay=config.weight_decay,
    )


def _adam(params: Iterable[nn.Parameter], config: "TrainConfig") -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _adamw(params: Iterable[nn.Parameter], config: "TrainConfig") -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


OPTIMIZERS: Registry[Callable[[Iterable[nn.Parameter], "TrainConfig"], torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.register("sgd")(_sgd)
OPTIMIZERS.register("adam")(_adam)
OPTIMIZERS.register("adamw")(_adamw)
#: ``paper``: ``lr0 / (1 + decay * updates)``, divided on a plateau; ``cosine``: per epoch
#: ``lr0 * (1 + cos(pi * epoch / epochs)) / 2``, no plateau division.
SCHEDULES = ("paper", "cosine")


@dataclass
class TrainConfig:
    """Optimisation settings of one stage (defaults: the paper's stage-1 recipe)."""

    epochs: int = 80
    patience: int = 20
    plateau_patience: int | None = None
    plateau_factor: float = 0.1
    lr: float = 0.005
    momentum: float = 0.9
    nesterov: bool = True
    decay: float = 1e-5
    weight_decay: float = 0.0
    batch_size: int = 128
    loss: str = "mae"
    optimizer: str = "sgd"
    schedule: str = "paper"
    seed: int = 0

    def __post_init__(self) -> None:
        OPTIMIZERS.get(self.optimizer)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; known: {', '.join(SCHEDULES)}")
        LOSSES.get(self.loss)

    @classmethod
    def stage2_default(cls) -> "TrainConfig":
        """The paper's stage-2 recipe: 200 epochs, patience 40."""
        return cls(epochs=200, patience=40, batch_size=32)


def weighted_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits ``(N,)``; ``target`` is ``(N,)`` labels or ``(N, 2)``
    columns ``[label, weight]`` (e.g. class weights, so a minority class counts as much)."""
    if target.ndim == 2 and target.shape[1] == 2:
        weight = target[:, 1]
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target[:, 0], reduction="none")
        return (loss * weight).sum() / weight.sum()
    return nn.functional.binary_cross_entropy_with_logits(logits, target)


def weighted_mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error of ``pred`` against ``target[..., 0]``, each weighted by ``target[..., 1]``
    (window weights: e.g. selective patch training's zeros)."""
    weight = target[..., 1]
    return ((pred - target[..., 0]).abs() * weight).sum() / weight.sum().clamp_min(1e-12)


LOSSES: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry("loss")
LOSSES.register("mae")(nn.functional.l1_loss)
LOSSES.register("mse")(nn.functional.mse_loss)
LOSSES.register("weighted-mae")(weighted_mae)
LOSSES.register("bce")(weighted_bce)
LOSSES.register("siamese")(siamese_hinge)
LOSSES.register("rank")(rank_hinge)


@dataclass
class LoopState:
    """Counters of a training run, saved in every checkpoint."""

    epoch: int = 0
    step: int = 0
    base_lr: float = 0.005
    best: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    plateau_epochs: int = 0
    stopped_early: bool = False
    history: list[dict[str, float]] = field(default_factory=list)


def _save(path: Path, module: nn.Module, best: dict, opt: torch.optim.Optimizer, gen: torch.Generator, state: LoopState) -> None:
    opt_state = opt.state_dict()
    tensors = {**prefixed("model", module.state_dict()), **prefixed("best", best)}
    for idx, slot in opt_state["state"].items():
        tensors.update(prefixed(f"optim/{idx}", {k: v for k, v in slot.items() if torch.is_tensor(v)}))
    tensors["rng/sampler"] = gen.get_state()
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_initialized():
        tensors["rng/cuda"] = torch.cuda.get_rng_state()
    save_tensors(path, {k: v.cpu() for k, v in tensors.items()}, {"loop": asdict(state), "param_groups": opt_state["param_groups"]})


def _restore(
    path: Path, module: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator, device: torch.device
) -> tuple[dict, LoopState]:
    tensors, meta = load_tensors(path)
    module.load_state_dict(unprefixed("model", tensors))
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in unprefixed("optim", tensors).items():
        idx, name = key.split("/", 1)
        slots.setdefault(int(idx), {})[name] = value.to(device)
    opt.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})
    gen.set_state(tensors["rng/sampler"])
    torch.set_rng_state(tensors["rng/torch"])
    if "rng/cuda" in tensors and device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng/cuda"])
    return {k: v.to(device) for k, v in unprefixed("best", tensors).items()}, LoopState(**meta["loop"])


def _validation_error(validate: Validation, world: World) -> float:
    """``validate()``'s sums added over the ranks, as one error; a single number counts as ``(error, 1)``."""
    result = validate()
    error, weight = result if isinstance(result, tuple) else (result, 1.0)
    sums = world.all_reduce_sum(torch.tensor([float(error), float(weight)], dtype=torch.float64))
    return float(sums[0] / sums[1])


@dataclass(frozen=True)
class Plan:
    """One epoch of a run, for the announcement :func:`fit` makes: ``items`` of ``what``
    (e.g. "windows") in ``steps`` batches, said through ``log``."""

    desc: str
    what: str
    items: int
    steps: int
    log: Callable[[str], None]


class _Timer:
    """Says a run's plan, then its time per epoch here from the first :attr:`PROBE` steps
    (fewer if an epoch has fewer)."""

    PROBE = 5

    def __init__(self, plan: Plan, config: "TrainConfig", done: int):
        self.plan, self.left, self.seen = plan, config.epochs - done, 0
        self.probe = max(1, min(self.PROBE, plan.steps))
        plan.log(
            f"{plan.desc}: {plan.items:,} {plan.what} per epoch in {plan.steps:,} batches, "
            f"up to {self.left} epoch{'s' * (self.left != 1)} (early stopping may end it sooner)"
        )
        self.start = time.perf_counter()

    def step(self) -> None:
        self.seen += 1
        if self.seen != self.probe:
            return
        per_epoch = (time.perf_counter() - self.start) / self.probe * self.plan.steps
        self.plan.log(
            f"{self.plan.desc}: about {_duration(per_epoch)} per epoch here (from the first {self.probe} batches), "
            f"at most {_duration(per_epoch * self.left)} for {self.left} epochs"
        )


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def fit(
    module: nn.Module,
    batches: Batches,
    validate: Validation,
    config: TrainConfig,
    checkpoint: str | Path | None = None,
    desc: str = "train",
    progress: bool = True,
    world: World = SINGLE,
    plan: Plan | None = None,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> LoopState:
    """Train ``module`` on ``world.device`` and leave it holding the weights with the best validation error.

    Parameters
    ----------
    module : the network; its ``forward`` maps a batch ``x`` to predictions shaped like ``y``.
        It is moved to ``world.device``; with several ranks the steps go through
        DistributedDataParallel, and ``module`` itself (unwrapped) is validated, saved and
        left trained.
    batches : called once per epoch with the run's random generator; yields ``(x, y)``
        (moved to the device here), THIS RANK's part of each global batch. The generator
        is seeded alike on every rank, so every rank can plan the same global batches and
        take its part (:meth:`World.part <hyperimage.distributed.World.part>`); every rank
        must yield as many batches, with parts of equal size, so that the averaged gradient
        is that of the global batch's mean loss. Empty parts are skipped (on all ranks alike).
    validate : returns ``(error_sum, weight_sum)`` over this rank's share of the validation
        set (e.g. ``(sum |e| w, sum w)``); both are summed over the ranks, and the
        validation error (lower is better) is their ratio. A single number counts as
        ``(error, 1)``: then every rank should return the error of the whole set.
    config : the recipe.
    checkpoint : safetensors file of the loop state; if it exists the run resumes from it.
        Every rank reads it; only rank 0 writes it (atomically), and the others wait for
        that write, so a later run never reads half a file.
    progress : a tqdm bar (rank 0 only).
    world : the processes (:data:`~hyperimage.distributed.SINGLE`: this one alone).
    plan : what one epoch holds and where to say it: rank 0 says it before the first
        epoch, and after the first few steps how long an epoch and the run take here.
    loss : ``(pred, y) -> loss`` in place of ``config.loss`` (a loss over several kinds of rows).

    The logged training loss is the mean over all ranks' items.
    """
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    loss_fn = loss or LOSSES.get(config.loss)
    module.to(world.device)
    opt = OPTIMIZERS.get(config.optimizer)(module.parameters(), config)
    state = LoopState(base_lr=config.lr)
    best = copy.deepcopy(module.state_dict())
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        best, state = _restore(path, module, opt, gen, world.device)
    plateau = config.plateau_patience or max(1, config.patience // 2)
    step_module: nn.Module = module
    if world.size > 1:
        step_module = DistributedDataParallel(module, device_ids=[world.device.index] if world.device.type == "cuda" else None)

    bar = tqdm(
        total=config.epochs, initial=state.epoch, desc=desc, disable=not progress or not world.is_main, leave=False, dynamic_ncols=True
    )
    timer = _Timer(plan, config, state.epoch) if plan is not None and world.is_main else None
    while state.epoch < config.epochs and not state.stopped_early:
        module.train()
        total, count = 0.0, 0
        cosine = state.base_lr * (1.0 + math.cos(math.pi * state.epoch / config.epochs)) / 2.0
        for x, y in batches(gen):
            if len(y) == 0:
                continue
            x, y = x.to(world.device, non_blocking=True), y.to(world.device, non_blocking=True)
            lr = cosine if config.schedule == "cosine" else state.base_lr / (1.0 + config.decay * state.step)
            for group in opt.param_groups:
                group["lr"] = lr
            loss = loss_fn(step_module(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state.step += 1
            if timer is not None:
                timer.step()
            total += float(loss.detach()) * len(y)
            count += len(y)
        if world.size > 1:
            sums = world.all_reduce_sum(torch.tensor([total, float(count)], dtype=torch.float64))
            total, count = float(sums[0]), int(sums[1])
        module.eval()
        with torch.no_grad():
            val = _validation_error(validate, world)
        train_loss = total / max(count, 1)
        if val < state.best:
            state.best, state.best_epoch, state.bad_epochs, state.plateau_epochs = val, state.epoch, 0, 0
            best = copy.deepcopy(module.state_dict())
        else:
            state.bad_epochs += 1
            state.plateau_epochs += 1
            if state.plateau_epochs >= plateau and config.schedule == "paper":
                state.base_lr *= config.plateau_factor
                state.plateau_epochs = 0
        state.history.append({"epoch": state.epoch, "loss": train_loss, "val": val, "lr": lr if count else state.base_lr})
        state.epoch += 1
        state.stopped_early = state.bad_epochs >= config.patience
        if path is not None:
            if world.is_main:
                _save(path, module, best, opt, gen, state)
            world.barrier()
        bar.update(1)
        bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{val:.4f}", best=f"{state.best:.4f}")
    bar.close()
    module.load_state_dict(best)
    module.eval()
    return state
