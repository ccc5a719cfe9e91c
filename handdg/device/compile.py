"""`--compile`: the training network through torch.compile (inductor), refused up front where inductor
cannot build its kernels, instead of a traceback at the first step."""

from __future__ import annotations

import importlib.util
import os
import shutil

import torch

from handdg.errors import HanddgError

CXX_COMPILERS = ("g++", "clang++", "c++")
"""What inductor's CPU backend compiles its kernels with, after $CXX."""


def missing_toolchain(device: torch.device) -> str | None:
    """What inductor lacks to compile for `device` (a C++ compiler on CPU, Triton on CUDA), or None."""
    if device.type == "cuda":
        return None if importlib.util.find_spec("triton") else "Triton (pip install triton)"
    if os.environ.get("CXX") or any(shutil.which(name) for name in CXX_COMPILERS):
        return None
    return f"a C++ compiler ({', '.join(CXX_COMPILERS)} on PATH, or $CXX)"


def compiled(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`model` compiled by torch.compile; HanddgError (one line) when inductor cannot build kernels for `device`."""
    missing = missing_toolchain(device)
    if missing is not None:
        raise HanddgError(f"--compile needs {missing} to build its kernels on {device.type}: install it, "
                          "or train with --eager")
    return torch.compile(model)
