"""Data-parallel training under ``torchrun`` (one or many machines).

The Trainer calls these helpers; a script needs no change to run as::

    torchrun --nproc_per_node=2 train.py               # or: torchrun ... -m emotionkit train ...

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.
Each process trains on its shard of the epoch's shuffled indices (as ``DistributedSampler``
does: pad to a multiple of the world size, then take every ``world_size``-th index), gradients
are averaged by ``DistributedDataParallel``, metrics are summed across processes, and only rank 0
prints and writes files. The backend is NCCL on CUDA and Gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a (possibly single-process) job.

    Args:
        rank: Global rank (0 for a single process).
        world_size: Number of processes.
        local_rank: Rank on this machine (selects the GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        """Whether more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process prints and writes files (rank 0)."""
        return self.rank == 0


def detect() -> DistEnv:
    """Read the torchrun environment variables.

    Returns:
        The environment; a single-process one when ``WORLD_SIZE`` is unset or 1.

    Raises:
        ConfigError: If the variables are malformed.
    """
    def _int(name: str, default: int) -> int:
        value = os.environ.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None

    world = _int("WORLD_SIZE", 1)
    rank = _int("RANK", 0)
    local = _int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ConfigError(f"inconsistent torchrun environment: RANK={rank} WORLD_SIZE={world} "
                          f"LOCAL_RANK={local}")
    return DistEnv(rank, world, local)


def device_for(env: DistEnv, device: torch.device) -> torch.device:
    """Pin each process to its own GPU (``cuda:LOCAL_RANK``) when training on CUDA."""
    if env.is_distributed and device.type == "cuda" and device.index is None:
        return torch.device("cuda", env.local_rank % max(1, torch.cuda.device_count()))
    return device


def setup(env: DistEnv, device: torch.device) -> bool:
    """Join the process group if the job is distributed and it is not joined yet.

    Args:
        env: From :func:`detect`.
        device: This process's training device (chooses NCCL or Gloo).

    Returns:
        Whether this call created the process group (and :func:`teardown` should end it).
    """
    if not env.is_distributed or dist.is_initialized():
        return False
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=env.rank, world_size=env.world_size)
    return True


def teardown(created: bool) -> None:
    """Leave the process group if :func:`setup` created it."""
    if created and dist.is_initialized():
        dist.destroy_process_group()


def shard(indices: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """This rank's share of an epoch's shuffled indices (all shares have equal length).

    Args:
        indices: The epoch's permutation, identical on every rank.
        env: The distributed environment.

    Returns:
        ``padded[rank::world_size]`` where ``padded`` repeats leading indices so its length is a
        multiple of the world size.
    """
    if not env.is_distributed:
        return indices
    n = len(indices)
    total = -(-n // env.world_size) * env.world_size
    if total > n:
        reps = -(-(total - n) // n)
        indices = torch.cat([indices, indices.repeat(reps)[: total - n]])
    return indices[env.rank::env.world_size]


def wrap(model: nn.Module, env: DistEnv, device: torch.device) -> nn.Module:
    """Wrap ``model`` in DistributedDataParallel when distributed, else return it unchanged."""
    if not env.is_distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_reduce_sum(values: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum a tensor over all ranks (in place; returns it)."""
    if env.is_distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def any_rank(flag: bool, env: DistEnv, device: torch.device) -> bool:
    """Whether ``flag`` is true on at least one rank (all ranks get the same answer)."""
    if not env.is_distributed:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_buffers(model: nn.Module, env: DistEnv) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank."""
    if env.is_distributed:
        for buf in model.buffers():
            dist.broadcast(buf, src=0)


def gather_objects(obj: Any, env: DistEnv) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` for a single process)."""
    if not env.is_distributed:
        return [obj]
    out: list[Any] = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(env: DistEnv) -> None:
    """Wait for every rank."""
    if env.is_distributed:
        dist.barrier()


__all__ = ["DistEnv", "detect", "device_for", "setup", "teardown", "shard", "wrap",
           "all_reduce_sum", "any_rank", "broadcast_buffers", "gather_objects", "barrier"]
