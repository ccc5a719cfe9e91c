"""`handdg train --init MODEL`: start a run from another checkpoint's weights (fresh optimiser).

The run's network is the one its options ask for, plus what only a checkpoint can say about its
forward (`INHERITED`: the released model's hand-side input and Rodrigues without an epsilon); every
other network field must agree with the checkpoint, or the run is refused naming the options to give
(handdg.run.init_network, which the CLI runs on the file's header before torch loads).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from handdg.model.network import ModelConfig
from handdg.run import runs
from handdg.run.init_network import refuse_other_network

INHERITED = ("side_input", "rotation_eps")


def inherit(model: ModelConfig, saved: dict[str, Any] | None) -> ModelConfig:
    """`model` with the checkpoint-only fields of a saved network config (unchanged when there is none)."""
    if not saved:
        return model
    return replace(model, **{name: saved[name] for name in INHERITED if name in saved})


def init_checkpoint(path: str, model: ModelConfig) -> runs.Checkpoint:
    """The checkpoint to start from, refused in one line when it was saved by another network than `model`."""
    ckpt = runs.load_weights(path)
    saved = ModelConfig.from_dict(ckpt.model).to_dict() if ckpt.model else {}
    refuse_other_network(path, saved, {name: value for name, value in model.to_dict().items() if name not in INHERITED})
    return ckpt
