"""DataLoader settings shared by featurize, train and eval: how many worker processes, and how
batches reach a GPU.

Workers default to the cores this process may use, less one for the process that runs the
model, shared among the processes torchrun starts on this machine (LOCAL_WORLD_SIZE): 1 on a
2-core box, 15 on a 16-core GPU machine. On CUDA, batches are collated into pinned (page-locked)
memory so the copy to the GPU can overlap compute (`non_blocking=True`), and workers persist
between passes over the data, so a second pass (validation, another epoch) does not fork them
again.
"""

from __future__ import annotations

import os
from typing import Any

MAX_WORKERS = 32
PREFETCH_BATCHES = 4
"""Batches each worker prepares ahead (DataLoader's prefetch_factor; its default is 2)."""
WORKER_NICENESS = 10
"""How much a CPU run's DataLoader workers lower their priority (yield_to_the_model)."""


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which containers and taskset narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers() -> int:
    """Data-loading processes per training/eval process: its share of the cores, less one for itself."""
    per_process = usable_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(MAX_WORKERS, per_process - 1))


def yield_to_the_model(worker_id: int) -> None:
    """A CPU run's DataLoader worker lowers its own priority (nice +WORKER_NICENESS): it then runs when the model's
    threads wait, instead of stalling one of them at its next barrier (docs/performance.md)."""
    os.nice(WORKER_NICENESS)


def loader_options(workers: int, device: Any) -> dict[str, Any]:
    """DataLoader keyword arguments for `workers` processes feeding `device` (a torch.device)."""
    kind = getattr(device, "type", str(device))
    return {
        "num_workers": workers,
        "pin_memory": kind == "cuda",
        "persistent_workers": workers > 0,
        "prefetch_factor": PREFETCH_BATCHES if workers > 0 else None,
        "worker_init_fn": yield_to_the_model if kind == "cpu" and workers > 0 else None,
    }
