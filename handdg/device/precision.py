"""How a training or evaluation step uses its device: number format, memory layout, backend flags.

`fp32` runs as written; `bf16` and `fp16` run forward and loss under torch.autocast (weights,
gradients and Adam's state stay float32), and `fp16` scales the loss with a GradScaler so small
gradients do not underflow. `auto` is bf16 on a CUDA GPU that supports it and fp32 elsewhere
(on a CPU without bf16 hardware bf16 autocast is much slower than fp32). On CUDA, float32
matmuls use TF32 tensor cores and cuDNN picks the fastest convolution per shape; convolutions
in channels_last layout run on tensor cores without transposes, which pays under bf16/fp16.
The resolved choices are written into the run's config.json, so `--resume` keeps them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from handdg.errors import HanddgError
from handdg.run.options import check

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
SCALER_KEY = "grad_scaler"


def resolve_precision(name: str, device: torch.device) -> str:
    """`auto` -> bf16 on a CUDA GPU with bf16 support, fp32 otherwise; explicit names pass through."""
    if check("precision", name) != "auto":
        return name
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def resolve_memory_format(name: str, device: torch.device, precision: str) -> str:
    """`auto` -> channels_last for bf16/fp16 on CUDA (tensor-core convolutions), contiguous otherwise."""
    if check("memory_format", name) != "auto":
        return name
    return "channels_last" if device.type == "cuda" and precision != "fp32" else "contiguous"


def configure_backends(device: torch.device) -> None:
    """On CUDA: TF32 for float32 matmuls and convolutions, cuDNN autotuning (no effect on CPU)."""
    if device.type != "cuda":
        return
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True


class Precision:
    """A run's number format and memory layout on its device: autocast, loss scaling, batch transfer."""

    def __init__(self, name: str, device: torch.device, memory_format: str = "contiguous") -> None:
        if name not in DTYPES:
            raise HanddgError(f"precision must be one of {', '.join(DTYPES)} once resolved, got {name!r}")
        self.name, self.device = name, device
        self.dtype = DTYPES[name]
        self.layout = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
        self.scaler = torch.amp.GradScaler(device.type, enabled=name == "fp16")

    @classmethod
    def for_device(cls, precision: str, device: torch.device, memory_format: str = "auto") -> "Precision":
        """Resolve `auto` choices for `device`, set its backend flags and return the Precision."""
        name = resolve_precision(precision, device)
        configure_backends(device)
        return cls(name, device, resolve_memory_format(memory_format, device, name))

    @classmethod
    def for_run(cls, config: Any, device: torch.device) -> "Precision":
        """The run's Precision; `config.precision` / `config.memory_format` are resolved in place,
        so config.json records what ran."""
        amp = cls.for_device(config.precision, device, config.memory_format)
        config.precision = amp.name
        config.memory_format = "channels_last" if amp.layout is torch.channels_last else "contiguous"
        return amp

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Forward (and loss) under autocast in bf16/fp16; a no-op context in fp32."""
        if self.name == "fp32":
            yield
            return
        with torch.autocast(self.device.type, dtype=self.dtype):
            yield

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model on the run's device in the run's memory layout."""
        return model.to(self.device, memory_format=self.layout)

    def batch_to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Copy a batch to the device (asynchronously from pinned memory); images in the run's layout."""
        moved = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if "image" in moved and self.layout is torch.channels_last:
            moved["image"] = moved["image"].contiguous(memory_format=torch.channels_last)
        return moved

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and optimiser step; with fp16 the loss is scaled and a step with inf/NaN gradients skipped."""
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep for an exact resume: the fp16 loss scale (nothing otherwise)."""
        return {SCALER_KEY: self.scaler.state_dict()} if self.scaler.is_enabled() else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the loss scale saved by state_dict (checkpoints without one keep the initial scale)."""
        if self.scaler.is_enabled() and SCALER_KEY in state:
            self.scaler.load_state_dict(state[SCALER_KEY])
