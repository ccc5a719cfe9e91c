"""How a training config or network config saved by an older handdg is read, in one place.

A run's config.json and every checkpoint hold a training config (TrainConfig) and a network config
(ModelConfig). A field such a file lacks did not exist when it was written, so it means what training did
then, not today's default: TRAINED_BEFORE and BUILT_BEFORE say what. A field in neither did not change what
a run does, and takes today's default. Imports nothing of handdg's.
"""

from __future__ import annotations

from typing import Any

TRAINED_BEFORE: dict[str, Any] = {
    "recipe": 1, "norm": "none", "rotation": "axis-angle", "heat_reduction": "mean", "heat_stages": "last",
    "gt_lifting": False, "lr_schedule": "constant", "augment_on": "workers", "precision": "fp32",
    "memory_format": "contiguous",
}
"""Training-config fields added after runs were saved without them, and what those runs were trained with.
`recipe` 1 is before the learning fix (handdg.run.config.RECIPE says what each recipe meant)."""
BUILT_BEFORE: dict[str, Any] = {
    "input_size": 256, "width_divisor": 1, "clip_dim": 512, "fusion": "concat", "target": "canonical",
    "rotation_eps": 1e-8, "norm": "none", "rotation": "axis-angle", "side_input": "given", "feature_stats": "none",
}
"""Network-config fields and what a network saved without them was built with: the official network's norm
none and axis-angle, the given hand side. `lifting_divisor` was then the `width_divisor`."""


def training_fields(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved training config's fields, each one it lacks set to what it meant when it was saved."""
    return {**TRAINED_BEFORE, **saved}


def network_fields(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved network config's fields, each one it lacks set to what the network then was."""
    return {**BUILT_BEFORE, "lifting_divisor": saved.get("width_divisor", 1), **saved}
