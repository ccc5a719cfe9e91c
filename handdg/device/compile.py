"""`--compile`: the training network through torch.compile (inductor), refused up front where inductor
cannot build its kernels, instead of a traceback at the first step."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys

import torch

from handdg.errors import HanddgError


def cpp_compiler() -> str:
    """The C++ compiler inductor's CPU backend builds its kernels with: $CXX, else g++ (clang++ on macOS)."""
    return os.environ.get("CXX") or ("clang++" if sys.platform == "darwin" else "g++")


def missing_toolchain(device: torch.device) -> str | None:
    """What inductor lacks to compile for `device` (a C++ compiler that runs, on CPU; Triton on CUDA), or None."""
    if device.type == "cuda":
        return None if importlib.util.find_spec("triton") else "Triton (pip install triton)"
    compiler = cpp_compiler()
    named = "$CXX" if os.environ.get("CXX") else "its default"
    words = shlex.split(compiler)
    if not words or shutil.which(words[0]) is None:
        return f"a C++ compiler ({named}, {compiler!r}, is not a program on PATH: install it or set $CXX to one)"
    try:
        subprocess.run([*words, "--version"], capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return f"a C++ compiler that runs ({named}, `{compiler} --version`, failed: set $CXX to a working one)"
    return None


def require_toolchain(device: torch.device) -> None:
    """HanddgError (one line) when inductor cannot build kernels for `device`: checked before a run starts."""
    missing = missing_toolchain(device)
    if missing is not None:
        raise HanddgError(f"--compile needs {missing} to build its kernels on {device.type}, "
                          "or train with --eager")


def compiled(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`model` compiled by torch.compile; HanddgError (one line) when inductor cannot build kernels for `device`."""
    require_toolchain(device)
    return torch.compile(model)
