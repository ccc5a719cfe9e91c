"""`handdg train --init`: a run starts from another checkpoint's weights with a fresh optimiser, and refuses
a checkpoint saved by another network in one line."""

from __future__ import annotations

from pathlib import Path

import torch
from click.testing import CliRunner

from handdg.cli import main
from handdg.run import runs
from handdg.train.loop import train
from train_helpers import tiny_config, tiny_freihand


def test_a_run_starts_from_the_init_weights(tmp_path: Path) -> None:
    data = tiny_freihand(tmp_path / "fh")
    first = train(tiny_config(data, tmp_path / "first", steps=3, lr=0.05))
    start = runs.load_weights(first / "last.safetensors")
    tuned = train(tiny_config(data, tmp_path / "tuned", steps=1, seed=7, lr=1e-12, lr_schedule="constant",
                              init=str(first / "last.safetensors")))
    after = runs.load_weights(tuned / "last.safetensors")
    fresh = train(tiny_config(data, tmp_path / "fresh", steps=1, seed=7, lr=1e-12, lr_schedule="constant"))
    other = runs.load_weights(fresh / "last.safetensors")
    name = "heatmap_net.trunk.0.0.weight"
    assert torch.allclose(after.weights[name], start.weights[name], atol=1e-8)
    assert not torch.allclose(other.weights[name], start.weights[name], atol=1e-3)
    assert after.config.init == str(first / "last.safetensors")
    state = runs.load_state(tuned, 1)
    assert state["optimizer"]["state"][0]["step"].item() == 1  # a fresh Adam: one step, not the first run's three


def test_init_from_another_network_is_one_line(tmp_path: Path) -> None:
    data = tiny_freihand(tmp_path / "fh")
    first = train(tiny_config(data, tmp_path / "first", steps=1))
    result = CliRunner().invoke(main, ["train", "--data", str(data), "--out", str(tmp_path / "b"), "--preset", "tiny",
                                       "--branch2", "none", "--norm", "none", "--steps", "1", "--device", "cpu",
                                       "--init", str(first / "last.safetensors")])
    assert result.exit_code == 2
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "--init" in line and "norm 'batch' (this run: 'none', set by --norm)" in line
    assert not (tmp_path / "b" / "last.safetensors").exists()
