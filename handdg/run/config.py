"""Every knob of a training run in one dataclass: each of the paper's ablations is a field.

The fields, their defaults, allowed values and help are declared once in handdg.run.options
(OPTIONS); TrainConfig is built from that declaration, plus `recipe`, the version of what the
fields mean. A run directory stores the resolved config as config.json; `--resume` reads it back,
so a run is fully described by that file (plus the feature store it names).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handdg import saved
from handdg.errors import HanddgError
from handdg.run.init_network import check_init
from handdg.run.options import (AUGMENT_PRESETS, AUGMENTATIONS, BRANCH2_MODES, LAYOUTS, LR_SCHEDULES,  # noqa: F401
                                  MEMORY_FORMATS, OPTION, OPTIONS, PRECISIONS, PRESETS, ROTATIONS, TARGET_RATIOS,
                                  parse_augment)

RECIPE = 4
"""Version of what a config's fields mean (a saved config without the field: 1, handdg.saved). 1 = before the
learning fix (per-pixel mean L_heat, last stage only, σ 1, constant lr, Eq. 4 as printed, no BatchNorm);
2 = the CPU presets narrowed the lifting nets too; 3 = they keep the published lifting widths; 4 =
`rotation="6d"` also pulls its two vectors onto R's first rows (axis-angle runs train as under 3). A run of
another recipe cannot be resumed."""
WARMUP_FRACTION = 0.05


def recipe(version: int = RECIPE, resuming: Path | str | None = None) -> int:
    """`version`, refused with `resuming` (the run's folder) when it is not RECIPE: the same settings meant
    other training then."""
    if resuming is not None and version != RECIPE:
        raise HanddgError(f"{resuming} was trained with training recipe {version} (an older handdg); "
                          f"its settings mean something else under recipe {RECIPE}: start a new run in another --out")
    return version


def _option_fields(cls: type) -> type:
    """`cls` as a dataclass whose fields are OPTIONS (in order, with their defaults) then its own."""
    own = dict(cls.__dict__.get("__annotations__", {}))
    cls.__annotations__ = {**{option.name: option.annotation for option in OPTIONS}, **own}
    for option in OPTIONS:
        setattr(cls, option.name, option.field())
    return dataclass(cls)


@_option_fields
class TrainConfig:
    """A training run: the paper's method (Eq. 1-4, λ 1/1/0.1, Adam) with a recipe that learns from scratch.

    One field per option of handdg.run.options.OPTIONS (`handdg train --help` lists them), plus `recipe`.
    heatmap_size is the GT heatmap side (the paper's 32); predictions (input/8 per side) are
    upsampled to it by the heatmap loss. heatmap_sigma is the Gaussian's std in GT heatmap pixels
    (2 px of 32 ≈ hand3d's σ 25 at 256; the official code's σ 10 ≈ 0.9 px). heat_reduction /
    heat_stages: see handdg.model.losses. pose_gradient "joint" lets L_pose train the heatmap net
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
        """Raise HanddgError naming the first bad option (as typed: --lr); return self so calls can chain.

        Each option is checked by its declaration (the CLI's checks, same messages), then the rules that
        join options."""
        for option in OPTIONS:
            option.check(getattr(self, option.name))
        if self.ratio is not None and self.target is not None:
            raise HanddgError("give either --ratio or --target (its preset ratio), not both")
        if self.uses_clip and self.clip_mode == "cached" and not self.store:
            raise HanddgError(f"branch2 {self.branch2} reads cached CLIP features: give --store STORE "
                              "(made by `handdg featurize`), or use --branch2 none / --clip-mode online")
        if self.uses_clip and self.batch_size < 2:
            raise HanddgError(f"--batch-size {self.batch_size} with --branch2 {self.branch2}: the contrastive loss "
                              "takes each sample's negative from another sample of the batch; use --batch-size 2 "
                              "or more (or --branch2 none)")
        self.mixing_ratio()
        return self

    def check_inputs(self) -> "TrainConfig":
        """Raise HanddgError naming the first input a new run reads that is not there (--data, --store, --val-data),
        or an --init checkpoint of another network: file checks made before torch loads."""
        for name, what in (("data", "dataset root"), ("store", "feature store"), ("val_data", "dataset root")):
            value = getattr(self, name)
            if value and not Path(value).exists():
                raise HanddgError(f"{OPTION[name].flag} {value}: {what} not found (check the path)")
        check_init(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["augment"] = list(self.augment)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Inverse of to_dict; unknown keys are an error (a config from another handdg version). A field the
        saved config lacks (written before that option existed) takes the value it was trained with then
        (handdg.saved: e.g. norm none, rotation axis-angle), not today's default."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise HanddgError(f"unknown training option(s) {', '.join(unknown)} in config "
                              "(written by another handdg version?)")
        values = saved.training_fields(values)
        if "augment" in values:
            values["augment"] = tuple(values["augment"])
        return cls(**values)
