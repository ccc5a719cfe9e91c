"""Every knob of a training run in one dataclass: each of the paper's ablations is a field.

A run directory stores the resolved config as config.json; `--resume` reads it back, so a run
is fully described by that file (plus the feature store it names).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from handdg.errors import HanddgError
from handdg.loading import default_workers
from handdg.train.option_checks import check_numbers

BRANCH2_MODES = ("none", "ie", "te", "ie+te")
"""none = baseline without Branch2; ie = image features only (r = 1); te = text only (r = 0)."""
TARGET_RATIOS = {"stb": 0.6, "rhd": 0.9}
"""The paper's image:text mixing ratio per target domain (section 3.3, Table 4a)."""
AUGMENTATIONS = ("geometric", "jitter", "cutout", "noise", "sobel", "drop", "blur")
AUGMENT_PRESETS = {
    "none": (),
    "official": ("geometric", "jitter"),
    "normal": AUGMENTATIONS,
}
"""`official` = what the released code applied; `normal` = Table 6's six photometric ones + geometric."""
LAYOUTS = ("freihand", "rhd", "stb")
PRESETS = ("paper", "small", "tiny")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
"""Resolved for the device when a run starts (handdg.train.precision); config.json keeps the result."""
LR_SCHEDULES = ("cosine", "step", "constant")
ROTATIONS = ("axis-angle", "6d")
"""ViewPoint's output: H3D's axis-angle, or the continuous 6-D form (handdg.train.hand_frame.rotation_6d)."""
RECIPE = 4
"""Version of what a config's fields mean. 1 = before the learning fix (per-pixel mean L_heat, last
stage only, σ 1, constant lr, Eq. 4 as printed, no BatchNorm); 2 = the CPU presets narrowed the
lifting nets too; 3 = they keep the published lifting widths; 4 = `rotation="6d"` also pulls its two
vectors onto R's first rows (axis-angle runs train as under 3). A run of another recipe cannot be resumed."""
WARMUP_FRACTION = 0.05


def _choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise HanddgError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")


@dataclass
class TrainConfig:
    """A training run: the paper's method (Eq. 1-4, λ 1/1/0.1, Adam) with a recipe that learns from scratch.

    heatmap_size is the GT heatmap side (the paper's 32); predictions (input/8 per side) are
    upsampled to it by the heatmap loss. heatmap_sigma is the Gaussian's std in GT heatmap pixels
    (2 px of 32 ≈ hand3d's σ 25 at 256; the official code's σ 10 ≈ 0.9 px). heat_reduction /
    heat_stages: see handdg.train.losses. pose_gradient "joint" lets L_pose train the heatmap net
    too (the paper's end-to-end Eq. 1); "lifting" stops it at the heatmaps (hand3d trains the nets
    apart). norm "batch" adds BatchNorm to the heatmap net's hidden convs; "none" is the official
    network layer for layer. rotation is ViewPoint's output: "6d" (continuous) or "axis-angle" (H3D).
    lr is the peak of the schedule: "cosine" = 5 % linear warm-up then cosine to 1 %,
    "step" = ×0.1 at 1/3 and 2/3 of the steps (hand3d's PoseNet), "constant" = the paper's fixed lr.
    Validation (`val_*`) scores the model every val_every steps and keeps the best as best.safetensors.
    init names a checkpoint whose weights the run starts from (fine-tuning; the optimiser starts fresh).
    crop_scale multiplies the tight box around the 2D joints to give the crop side. root is what
    joint 0 means to the network (wrist: FreiHAND's own; palm: hand3d's), converted on read.
    """

    data: str = ""
    layout: str = "freihand"
    split: str = "train"
    store: str | None = None
    out: str = "run"
    preset: str = "small"
    norm: str = "batch"
    rotation: str = "6d"
    branch2: str = "ie+te"
    ratio: float | None = None
    target: str | None = None
    normalise_mix: bool = True
    fusion: str = "concat"
    lambda_heat: float = 1.0
    lambda_pose: float = 1.0
    lambda_con: float = 0.1
    contrastive: str = "hinge"
    heat_reduction: str = "sum"
    heat_stages: str = "all"
    pose_gradient: str = "joint"
    gt_lifting: bool = True
    pose_target: str = "canonical"
    root: str = "wrist"
    heatmap_size: int = 32
    heatmap_sigma: float = 2.0
    crop_scale: float = 1.5
    batch_size: int = 32
    steps: int = 1000
    lr: float = 3e-3
    lr_schedule: str = "cosine"
    seed: int = 0
    augment: tuple[str, ...] = field(default_factory=lambda: AUGMENT_PRESETS["official"])
    clip_mode: str = "cached"
    clip_model: str = "ViT-B-32"
    clip_weights: str = "openai"
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    log_every: int = 10
    workers: int = field(default_factory=default_workers)
    device: str = "auto"
    precision: str = "auto"
    memory_format: str = "auto"
    val_data: str | None = None
    val_layout: str | None = None
    val_split: str | None = None
    val_every: int | None = None
    val_limit: int = 500
    init: str | None = None
    recipe: int = RECIPE

    def lr_at(self, step: int) -> float:
        """Learning rate of optimiser step `step` (1-based) under the run's schedule."""
        if self.lr_schedule == "constant":
            return self.lr
        if self.lr_schedule == "step":
            return self.lr * 0.1 ** min(2, (3 * (step - 1)) // self.steps)
        warmup = max(1, round(WARMUP_FRACTION * self.steps))
        if step <= warmup:
            return self.lr * step / warmup
        progress = (step - warmup) / max(1, self.steps - warmup)
        return self.lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress)))

    def validation_every(self) -> int:
        """Steps between validations (default: every checkpoint)."""
        return self.val_every or self.checkpoint_every

    def mixing_ratio(self) -> float | None:
        """The image weight r of f = r·n(f_CI) + (1−r)·n(f_CT); None for the baseline."""
        if self.branch2 == "none":
            return None
        if self.branch2 == "ie":
            return 1.0
        if self.branch2 == "te":
            return 0.0
        if self.ratio is not None:
            return float(self.ratio)
        if self.target is not None:
            return TARGET_RATIOS[self.target]
        raise HanddgError("branch2 ie+te needs a mixing ratio: give --ratio R or --target stb|rhd")

    @property
    def uses_clip(self) -> bool:
        """Whether the run needs CLIP features (every mode except the baseline)."""
        return self.branch2 != "none"

    def validate(self) -> "TrainConfig":
        """Raise HanddgError naming the first bad field; return self so calls can chain."""
        _choice("layout", self.layout, LAYOUTS)
        _choice("preset", self.preset, PRESETS)
        _choice("norm", self.norm, ("batch", "none"))
        _choice("rotation", self.rotation, ROTATIONS)
        _choice("branch2", self.branch2, BRANCH2_MODES)
        _choice("fusion", self.fusion, ("concat", "sum"))
        _choice("contrastive", self.contrastive, ("paper", "hinge"))
        _choice("heat_reduction", self.heat_reduction, ("sum", "mean"))
        _choice("heat_stages", self.heat_stages, ("all", "last"))
        _choice("pose_gradient", self.pose_gradient, ("joint", "lifting"))
        _choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.val_layout is not None:
            _choice("val_layout", self.val_layout, LAYOUTS)
        _choice("pose_target", self.pose_target, ("canonical", "2.5d"))
        _choice("root", self.root, ("wrist", "palm"))
        _choice("clip_mode", self.clip_mode, ("cached", "online"))
        _choice("precision", self.precision, PRECISIONS)
        _choice("memory_format", self.memory_format, MEMORY_FORMATS)
        if self.target is not None:
            _choice("target", self.target, tuple(TARGET_RATIOS))
        if self.ratio is not None and not 0.0 <= self.ratio <= 1.0:
            raise HanddgError(f"--ratio must lie in [0, 1], got {self.ratio}")
        if self.ratio is not None and self.target is not None:
            raise HanddgError("give either --ratio or --target (its preset ratio), not both")
        for name in self.augment:
            _choice("augmentation", name, AUGMENTATIONS)
        if self.val_every is not None and self.val_every < 1:
            raise HanddgError(f"--val-every must be at least 1, got {self.val_every}")
        if self.val_limit < 0:
            raise HanddgError(f"--val-limit must be 0 (all) or more, got {self.val_limit}")
        for name in ("batch_size", "steps", "heatmap_size", "checkpoint_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise HanddgError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.heatmap_sigma <= 0 or self.crop_scale <= 0:
            raise HanddgError("lr, heatmap_sigma and crop_scale must be positive")
        if self.workers < 0 or self.seed < 0:
            raise HanddgError(f"workers and seed must be 0 or more, got {self.workers} and {self.seed}")
        if not self.data:
            raise HanddgError("no training data: give --data ROOT")
        if self.uses_clip and self.clip_mode == "cached" and not self.store:
            raise HanddgError(f"branch2 {self.branch2} reads cached CLIP features: give --store STORE "
                              "(made by `handdg featurize`), or use --branch2 none / --clip-mode online")
        check_numbers(self)
        self.mixing_ratio()
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["augment"] = list(self.augment)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Inverse of to_dict; unknown keys are an error (a config from another handdg version)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise HanddgError(f"unknown training option(s) {', '.join(unknown)} in config "
                              "(written by another handdg version?)")
        values = dict(values)
        if "recipe" not in values:  # written before the learning fix: the official network
            values.update(recipe=1, norm=values.get("norm", "none"))
        if "augment" in values:
            values["augment"] = tuple(values["augment"])
        return cls(**values)


def parse_augment(text: str) -> tuple[str, ...]:
    """`official`, `normal`, `none` or a comma list such as `geometric,blur` -> augmentation names."""
    if text in AUGMENT_PRESETS:
        return AUGMENT_PRESETS[text]
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in names:
        _choice("augmentation", name, AUGMENTATIONS)
    return names
