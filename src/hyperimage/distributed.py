"""Which device a command runs on, and the ``torchrun`` processes it is one of.

:func:`torchrun_env` and :func:`local_world_size` are the one place that reads
``torchrun``'s environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``):
sharded scoring uses it alone (every rank scores its share of the files, no process
group), training through :func:`init_world`, which joins the process group (gloo on the
CPU, NCCL on GPUs) for DistributedDataParallel.

A :class:`World` is what :func:`hyperimage.training.fit` and the data producers need to
know about the processes: this rank, how many there are, the device, the rank's part of a
global batch, and the sums across ranks. :data:`SINGLE` is the one-process world.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Sequence, TypeVar

import torch
import torch.distributed as dist

#: The values ``--device`` takes; ``auto`` is CUDA where available, else the CPU.
DEVICES = ("auto", "cpu", "cuda", "mps")

T = TypeVar("T", torch.Tensor, Sequence)
R = TypeVar("R")


def resolve_device(name: str | None) -> torch.device:
    """``--device``: ``None``/``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda`` or ``mps``.

    A device this machine does not have is a ValueError saying so, not a crash later.
    """
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in DEVICES:
        raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device cuda: no CUDA GPU is available to this torch {torch.__version__}; use --device cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device mps: Apple's MPS is not available to this torch {torch.__version__}; use --device cpu")
    return torch.device(name)


def torchrun_env() -> tuple[int, int, int]:
    """``(rank, world size, local rank)`` of a ``torchrun`` process, else ``(0, 1, 0)``."""
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    raw = [os.environ.get(n, d) for n, d in zip(names, ("0", "1", "0"))]
    try:
        rank, size, local = (int(v) for v in raw)
    except ValueError:
        shown = ", ".join(f"{n}={v!r}" for n, v in zip(names, raw))
        raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers, got {shown}") from None
    if size < 1 or not 0 <= rank < size or local < 0:
        raise ValueError(f"need 0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0, got RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local}")
    return rank, size, local


def local_world_size() -> int:
    """How many ``torchrun`` processes run on this node (``LOCAL_WORLD_SIZE``; 1 outside torchrun)."""
    raw = os.environ.get("LOCAL_WORLD_SIZE", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"LOCAL_WORLD_SIZE must be a positive integer, got {raw!r}")
    return int(raw)


def local_device(name: str | None) -> torch.device:
    """:func:`resolve_device`, with CUDA narrowed to this node's GPU ``LOCAL_RANK`` (one GPU per process)."""
    device = resolve_device(name)
    if device.type != "cuda":
        return device
    local = torchrun_env()[2]
    if local >= torch.cuda.device_count():
        raise ValueError(f"LOCAL_RANK={local} but this node has {torch.cuda.device_count()} CUDA GPUs: start at most that many processes")
    return torch.device("cuda", local)


@dataclass(frozen=True)
class World:
    """The processes of one run as one of them sees it (:data:`SINGLE`: just this one)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints and the model and shows progress."""
        return self.rank == 0

    def shard(self, n: int) -> range:
        """This rank's items of ``n`` (every ``size``-th from ``rank``): all of them, split without gaps."""
        return range(self.rank, n, self.size)

    def part(self, items: T) -> T:
        """This rank's part of one global batch (every ``size``-th item from ``rank``).

        All ranks get equally many: the last ``len(items) % size`` items are left out, so
        that DistributedDataParallel's gradient average is the gradient of the global
        batch's mean loss. One process gets ``items`` unchanged.
        """
        if self.size == 1:
            return items
        return items[: len(items) - len(items) % self.size][self.rank :: self.size]

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over all ranks (``tensor`` itself in one process), on ``tensor``'s device."""
        if self.size == 1:
            return tensor
        out = tensor.detach().to(self.device, copy=True)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out.to(tensor.device)

    def barrier(self) -> None:
        """Wait until every rank gets here (nothing in one process)."""
        if self.size > 1:
            dist.barrier(device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def made_once(self, shared: bool, make: Callable[[], R], open_: Callable[[], R]) -> R:
        """``make()`` on rank 0 and ``open_()`` of its files on the others, when the ranks share a
        work folder (``shared``); otherwise every rank makes its own."""
        if not shared or self.size == 1:
            return make()
        made = make() if self.is_main else None
        self.barrier()
        return made if made is not None else open_()


SINGLE = World()


def init_world(device: str | None = None) -> World:
    """This process's :class:`World`: one process, or a rank of ``torchrun`` (``WORLD_SIZE`` > 1).

    Under ``torchrun`` the process group is joined once (gloo for the CPU, NCCL for CUDA,
    each process on GPU ``LOCAL_RANK``); the rendezvous is torchrun's (``MASTER_ADDR``,
    ``MASTER_PORT``). ``device`` as ``--device`` (:func:`resolve_device`).
    """
    rank, size, local = torchrun_env()
    dev = local_device(device)
    if size == 1:
        return World(device=dev)
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"several processes (WORLD_SIZE={size}) need --device cpu or cuda, got {dev.type}")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=size)
    return World(rank, size, local, dev)
