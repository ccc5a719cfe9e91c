"""A training-loop hook that times each step's two halves: waiting for the batch, and computing on it.

`train(config, timer=StepTimer())` records, per step, the seconds spent blocked on the data loader
(`wait_s`) and from the batch's arrival to the end of the optimiser step (`compute_s`; on a GPU it
synchronises first, so queued kernels count). The share of step time spent waiting says whether the
input pipeline or the network limits training.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch


@dataclass
class StepTimer:
    """Per-step wait and compute seconds of one run (its first `warm_up` steps left out of the summaries)."""

    warm_up: int = 3
    wait_s: list[float] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)
    _ready: float = 0.0
    _device: torch.device | None = None

    def batches(self, loader: Iterable, device: torch.device) -> Iterator:
        """Iterate `loader`, timing how long each batch is waited for."""
        self._device = device
        stream = iter(loader)
        while True:
            start = time.perf_counter()
            try:
                batch = next(stream)
            except StopIteration:
                return
            self._ready = time.perf_counter()
            self.wait_s.append(self._ready - start)
            yield batch

    def step_done(self) -> None:
        """Mark the end of the step whose batch arrived last."""
        if self._device is not None and self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        self.compute_s.append(time.perf_counter() - self._ready)

    def summary(self) -> dict[str, float]:
        """Median wait, compute and step seconds, and the share of all step time spent waiting."""
        wait, compute = self.wait_s[self.warm_up:], self.compute_s[self.warm_up:len(self.wait_s)]
        if not wait or not compute:
            raise ValueError(f"need more than {self.warm_up} timed steps, got {len(self.compute_s)}")
        steps = [w + c for w, c in zip(wait, compute)]
        return {"wait_s": statistics.median(wait), "compute_s": statistics.median(compute),
                "step_s": statistics.median(steps), "wait_share": sum(wait) / sum(steps), "steps": len(steps)}
