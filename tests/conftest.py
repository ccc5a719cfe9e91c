"""Shared test helpers: a CLI runner and an environment for subprocess runs of `python -m handdg`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

# Tiny tensors: one thread is faster than two and keeps results independent of the machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "mmpose-samples"
"""Real FreiHAND and RHD images with mmpose's COCO-style annotations (see its README.md)."""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for `[sys.executable, "-m", "handdg", ...]` that imports this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


PYTHON = sys.executable
