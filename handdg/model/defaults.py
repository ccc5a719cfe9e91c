"""The network's and the loss's choices and defaults, declared with the model: ModelConfig and LossConfig
take their defaults from here, and the training options (handdg.run.options) read them. Imports no torch.

Keys are the training options' names, so a check here names the option as a user types it (--pose-target).
"""

from __future__ import annotations

from typing import Any

from handdg.errors import HanddgError
from handdg.options import check_float, flag

NETWORK_PRESETS: dict[str, dict[str, int]] = {
    "paper": {"input_size": 256, "width_divisor": 1, "lifting_divisor": 1},
    "small": {"input_size": 128, "width_divisor": 4, "lifting_divisor": 1},
    "tiny": {"input_size": 64, "width_divisor": 8, "lifting_divisor": 1},
}
"""--preset: the network's input side and width divisors. The CPU presets narrow the heatmap net only: the
lifting nets keep the published widths, which cost little at 8²-16² maps and which the lifting needs
(docs/training.md, "The recipe")."""
ROTATIONS = ("axis-angle", "6d")
"""ViewPoint's output: H3D's axis-angle, or the continuous 6-D form (handdg.model.hand_frame.rotation_6d)."""
CHOICES: dict[str, tuple[str, ...]] = {
    "preset": tuple(NETWORK_PRESETS),
    "fusion": ("concat", "sum"),
    "pose_target": ("canonical", "2.5d"),
    "norm": ("batch", "none"),
    "rotation": ROTATIONS,
    "contrastive": ("paper", "hinge"),
    "heat_reduction": ("sum", "mean"),
    "heat_stages": ("all", "last"),
    "feature_stats": ("none", "mixstyle", "dsu"),
}
"""The values each network or loss choice may take."""
DEFAULTS: dict[str, Any] = {
    "preset": "small", "fusion": "concat", "pose_target": "canonical", "norm": "batch", "rotation": "6d",
    "lambda_heat": 1.0, "lambda_pose": 1.0, "lambda_con": 0.1, "contrastive": "hinge", "heat_reduction": "sum",
    "heat_stages": "all", "feature_stats": "none",
}
"""What `handdg train` builds and trains with unless told otherwise."""


def check(name: str, value: Any) -> Any:
    """`value` if the network or loss choice `name` may take it, else HanddgError naming --name."""
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise HanddgError(f"{flag(name)} must be one of {', '.join(CHOICES[name])}, got {value!r}")
        return value
    return check_float(name, value, 0.0)  # a loss weight λ
