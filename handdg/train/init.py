"""`handdg train --init MODEL`: start a run from another checkpoint's weights (fresh optimiser).

The run's network is the one its options ask for, plus what only a checkpoint can say about its
forward (`INHERITED`: the released model's hand-side input and Rodrigues without an epsilon); every
other network field must agree with the checkpoint, or the run is refused naming the options to give.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from handdg.errors import HanddgError
from handdg.model.network import ModelConfig
from handdg.run import runs

INHERITED = ("side_input", "rotation_eps")
_OPTION = {"input_size": "--preset", "width_divisor": "--preset", "lifting_divisor": "--preset", "norm": "--norm",
           "rotation": "--rotation", "target": "--pose-target", "fusion": "--fusion",
           "clip_dim": "--store (a CLIP of this feature size)"}


def inherit(model: ModelConfig, saved: dict[str, Any] | None) -> ModelConfig:
    """`model` with the checkpoint-only fields of a saved network config (unchanged when there is none)."""
    if not saved:
        return model
    return replace(model, **{name: saved[name] for name in INHERITED if name in saved})


def init_checkpoint(path: str, model: ModelConfig) -> runs.Checkpoint:
    """The checkpoint to start from, refused in one line when it was saved by another network than `model`."""
    ckpt = runs.load_weights(path)
    saved = ModelConfig.from_dict(ckpt.model).to_dict() if ckpt.model else {}
    wanted = inherit(model, saved).to_dict()
    differs = [name for name in wanted if name in saved and saved[name] != wanted[name]]
    if differs:
        found = ", ".join(f"{name} {saved[name]!r} (this run: {wanted[name]!r}, set by {_OPTION.get(name, name)})"
                          for name in differs)
        hint = ""
        if ckpt.source and ckpt.source.get("kind") == "official":
            hint = "; the released model needs --preset paper --norm none --rotation axis-angle --pose-target 2.5d"
        raise HanddgError(f"--init {path} was saved by another network: {found}{hint}")
    return ckpt
