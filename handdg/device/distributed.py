"""One code path for 1 and N processes: under torchrun (which sets WORLD_SIZE, even to 1) the
process group is set up from the environment (NCCL on GPUs, gloo on CPU) and the model is wrapped in
DistributedDataParallel, with SyncBatchNorm on GPUs as the official code's harness did
(PyTorch's SyncBatchNorm runs on GPUs only: on CPU each process normalises its own batch and
DDP broadcasts rank 0's running statistics). Alone, nothing is wrapped and every collective is
a no-op. (torchrun with one process still joins a group of one and wraps the model, so a
single-GPU machine exercises the NCCL + DDP path that a multi-GPU one runs.)"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from handdg.errors import HanddgError


@dataclass(frozen=True)
class Context:
    """This process's place in the job and its device."""

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Rank 0 writes files and shows progress."""
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` (this process's GPU when CUDA is there, else CPU), `cpu`, `cuda` or `cuda:N`."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise HanddgError(f"--device {name} asked for but CUDA is not available here (use --device cpu or auto)")
        return torch.device("cuda", local_rank if name == "cuda" else int(name.split(":")[1]))
    if name != "cpu":
        raise HanddgError(f"bad --device {name!r}: use auto, cpu, cuda or cuda:N")
    return torch.device("cpu")


def start(device: str = "auto") -> Context:
    """Join the torchrun job when there is one (WORLD_SIZE set) and pick this process's device."""
    launched = "WORLD_SIZE" in os.environ
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = pick_device(device, local_rank)
    if launched and not dist.is_initialized():
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo", rank=rank, world_size=world)
    return Context(rank=rank, world=world, device=chosen)


def stop() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, ctx: Context) -> nn.Module:
    """DistributedDataParallel (+ SyncBatchNorm on GPUs) in a torchrun job; the model itself when alone."""
    if not dist.is_initialized():
        return model
    if ctx.device.type != "cuda":
        return nn.parallel.DistributedDataParallel(model)
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return nn.parallel.DistributedDataParallel(model, device_ids=[ctx.device.index])


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside a DDP wrapper."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def mean_over_processes(values: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Average a tensor over all processes (identity when alone)."""
    if ctx.world == 1:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / ctx.world


def barrier(ctx: Context) -> None:
    """Wait for every process (no-op when alone)."""
    if ctx.world > 1:
        dist.barrier()
