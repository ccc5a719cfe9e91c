"""Shared test helpers: a CLI runner and an environment for subprocess runs of `python -m handdg`."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

# Tiny tensors: one thread is faster than two and keeps results independent of the machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Decoded-image caches of the tests' datasets go to a folder of this session, not the user's ~/.cache.
os.environ["HANDDG_CACHE"] = tempfile.mkdtemp(prefix="handdg-test-cache-")
atexit.register(shutil.rmtree, os.environ["HANDDG_CACHE"], True)

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
