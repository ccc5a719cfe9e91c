"""Every training option, declared once: name, type, default, allowed values or range, help, and what a
resume or a reproduction may do with it.

From OPTIONS derive TrainConfig's fields and defaults (handdg.run.config), `handdg train`'s options
(handdg.commands.train: names, flags, types, defaults, help), the validation of a config, a command
line, ModelConfig and LossConfig (`Option.check`: one message per kind of mistake, the same from the
CLI and from the library), ModelConfig's and LossConfig's defaults, and the resume rules (RESUMABLE,
RUNTIME, PLANNED, REPRODUCE_FLAGS). The network's and the loss's choices and defaults are the model's own
(handdg.model.defaults), read here. Imports neither torch nor click.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field
from typing import Any, Callable, Literal

from handdg.errors import HanddgError
from handdg.loading import default_workers
from handdg.model.defaults import CHOICES, DEFAULTS, NETWORK_PRESETS, ROTATIONS
from handdg.options import check_float, check_int, flag

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
PRESETS = tuple(NETWORK_PRESETS)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
"""Resolved for the device when a run starts (handdg.device.precision); config.json keeps the result."""
LR_SCHEDULES = ("cosine", "step", "constant")
AUGMENT_ON = ("auto", "workers", "device")
"""Resolved for the device when a run starts (handdg.train.loop); config.json keeps the result."""

Reproduce = Literal["set", "flag", "plan"]


@dataclass(frozen=True)
class Option:
    """One training option.

    kind: str, int, float, bool or tuple (a list of `choices`, e.g. augmentations). default: the value, or a
    function giving it (workers). choices / low, high, low_open: what a value may be (every int has a `low`,
    low_open excludes it); optional: None is allowed
    too (and is the default). path: names a file or folder (the CLI makes it absolute). required: an empty
    value is refused. cli: the command-line spelling when not `--name` (bool: `--on/--off`).
    resume: `handdg train --resume` may give it again (the rest comes from the run's config.json).
    runtime: where or how the run executes, not what it learns: config.json may hold another value than
    the config a reproduction plan asks for (check_run_dir ignores it).
    reproduce: how `handdg reproduce` sets it: "set" (--set NAME=VALUE), "flag" (its own option) or "plan"
    (the plan itself: a table knob, an input, the seed or a runtime option; --set refuses it).
    What a saved config written before an option existed means is handdg.saved's.
    """

    name: str
    kind: type
    default: Any
    help: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    optional: bool = False
    path: bool = False
    required: bool = False
    cli: str = ""
    resume: bool = False
    runtime: bool = False
    reproduce: Reproduce = "set"

    @property
    def flag(self) -> str:
        """The option as a user types it: --lambda-con."""
        return flag(self.name)

    @property
    def annotation(self) -> str:
        """The dataclass field's type, as text."""
        kind = "tuple[str, ...]" if self.kind is tuple else self.kind.__name__
        return f"{kind} | None" if self.optional else kind

    def default_value(self) -> Any:
        """The default (called when it is a function)."""
        return self.default() if callable(self.default) else self.default

    def field(self) -> Any:
        """The dataclass field of this option."""
        if callable(self.default):
            return dataclass_field(default_factory=self.default)
        return dataclass_field(default=self.default)

    def choice_error(self, value: Any, label: str | None = None) -> HanddgError:
        """The one message of an unknown choice."""
        return HanddgError(f"{label or self.flag} must be one of {', '.join(map(str, self.choices))}, got {value!r}")

    def check(self, value: Any) -> Any:
        """`value` if this option may take it, else HanddgError naming the option as typed (--name)."""
        if value is None and self.optional:
            return None
        if self.required and not value:
            raise HanddgError(f"{self.flag} is required: {self.help}")
        if self.kind is bool:
            if not isinstance(value, bool):
                raise HanddgError(f"{self.flag} must be true or false, got {value!r}")
        elif self.kind is int:
            check_int(self.name, value, int(self.low))
        elif self.kind is float:
            value = check_float(self.name, value, self.low, self.high, self.low_open)
        elif self.kind is tuple:
            for item in (value,) if isinstance(value, str) else value:
                if item not in self.choices:
                    raise self.choice_error(item, "augmentation")
        elif self.choices and value not in self.choices:
            raise self.choice_error(value)
        return value

    def parse(self, text: str) -> Any:
        """A value typed on a command line (or `--set NAME=TEXT`) -> the checked value; the same message as `check`."""
        if self.kind is bool:
            if text.lower() not in ("true", "false"):
                raise HanddgError(f"{self.flag} must be true or false, got {text!r}")
            return text.lower() == "true"
        if self.kind in (int, float):
            try:
                number = self.kind(text)
            except ValueError:
                return self.check(text)  # the option's message, naming what was typed
            return self.check(number)
        if self.kind is tuple:
            return parse_augment(text)
        return self.check(text)


def parse_augment(text: str) -> tuple[str, ...]:
    """`official`, `normal`, `none` or a comma list such as `geometric,blur` -> augmentation names."""
    if text in AUGMENT_PRESETS:
        return AUGMENT_PRESETS[text]
    return OPTION["augment"].check(tuple(part.strip() for part in text.split(",") if part.strip()))


OPTIONS: tuple[Option, ...] = (
    Option("data", str, "", "Training dataset root (in its own on-disk layout).", path=True, required=True,
           resume=True, reproduce="plan"),
    Option("layout", str, "freihand", "Layout of --data.", LAYOUTS, reproduce="plan"),
    Option("split", str, "train", "Split of --data to train on.", reproduce="plan"),
    Option("store", str, None, "Feature store of --data made by `handdg featurize` (cached CLIP features).",
           optional=True, path=True, resume=True, reproduce="plan"),
    Option("out", str, "run", "Run directory to create (or resume).", path=True, resume=True, runtime=True,
           reproduce="plan"),
    Option("preset", str, DEFAULTS["preset"], "Network size: paper (256 px, published widths), small, tiny.", PRESETS,
           reproduce="flag"),
    Option("norm", str, DEFAULTS["norm"],
           "batch: BatchNorm after the heatmap net's hidden convs; none: the official network layer for layer.",
           CHOICES["norm"]),
    Option("rotation", str, DEFAULTS["rotation"],
           "ViewPoint's rotation output: 6d (continuous, Zhou et al. 2019) or axis-angle (H3D, the official net).",
           ROTATIONS),
    Option("branch2", str, "ie+te",
           "none = baseline; ie = CLIP image only (r=1); te = text only (r=0); ie+te = mixed.", BRANCH2_MODES,
           reproduce="plan"),
    Option("ratio", float, None, "Image weight r of f = r·n(f_CI) + (1-r)·n(f_CT) (ie+te).", low=0.0, high=1.0,
           optional=True, reproduce="plan"),
    Option("target", str, None, "Use the paper's ratio for this target: stb 0.6, rhd 0.9.", tuple(TARGET_RATIOS),
           optional=True, reproduce="plan"),
    Option("normalise_mix", bool, True,
           "L2-normalise image and text features before mixing, or mix raw CLIP outputs.",
           cli="--normalise-mix/--raw-mix"),
    Option("fusion", str, DEFAULTS["fusion"], "How Branch2 joins the CLIP feature (Table 4b).", CHOICES["fusion"],
           reproduce="plan"),
    Option("lambda_heat", float, DEFAULTS["lambda_heat"], "λ1, heatmap loss weight.", low=0.0),
    Option("lambda_pose", float, DEFAULTS["lambda_pose"], "λ2, 3D pose loss weight.", low=0.0),
    Option("lambda_con", float, DEFAULTS["lambda_con"], "λ3, contrastive loss weight (Table 5).", low=0.0,
           reproduce="plan"),
    Option("contrastive", str, DEFAULTS["contrastive"],
           "Eq. 4 as printed (unbounded below), or its bounded hinge form.", CHOICES["contrastive"]),
    Option("heat_reduction", str, DEFAULTS["heat_reduction"],
           "L_heat per sample: sum over maps and pixels (Eq. 2's squared norm) or per-pixel mean.",
           CHOICES["heat_reduction"]),
    Option("heat_stages", str, DEFAULTS["heat_stages"], "Supervise every CPM stage (hand3d) or only the last.",
           CHOICES["heat_stages"]),
    Option("pose_gradient", str, "joint",
           "joint: L_pose also trains the heatmap net (end-to-end); lifting: only the lifting nets.",
           ("joint", "lifting")),
    Option("gt_lifting", bool, True,
           "Also train PosePrior/ViewPoint on the ground-truth maps each step (hand3d's lifting training)."),
    Option("pose_target", str, DEFAULTS["pose_target"],
           "3D target: hand3d canonical pose + rotation, or the released code's 2.5-D.", CHOICES["pose_target"]),
    Option("root", str, "wrist", "What joint 0 is to the network.", ("wrist", "palm")),
    Option("heatmap_size", int, 32, "Side of the ground-truth heatmaps.", low=1),
    Option("heatmap_sigma", float, 2.0, "Gaussian std of the GT heatmaps, in GT heatmap pixels.", low=0.0,
           low_open=True),
    Option("crop_scale", float, 1.5, "Crop side = this × the longer side of the 2D joints' box.", low=0.0,
           low_open=True),
    Option("batch_size", int, 32, "Samples per step per process.", low=1, reproduce="flag"),
    Option("steps", int, 1000, "Optimiser steps in all (with --resume: extend the run to this many).", low=1,
           resume=True, reproduce="flag"),
    Option("lr", float, 3e-3, "Adam learning rate (the schedule's peak).", low=0.0, low_open=True),
    Option("lr_schedule", str, "cosine",
           "cosine: 5% warm-up then cosine to 1%; step: x0.1 at 1/3 and 2/3; constant (paper).", LR_SCHEDULES),
    Option("seed", int, 0, "Seed of initialisation, data order, augmentation and prompt draws.", low=0,
           reproduce="plan"),
    Option("augment", tuple, AUGMENT_PRESETS["official"],
           f"{', '.join(AUGMENT_PRESETS)} or a comma list of {', '.join(AUGMENTATIONS)}.", AUGMENTATIONS,
           reproduce="plan"),
    Option("styles", str, None,
           "Style bank made by `handdg styles` (text styles, or a --like control): a training crop is restyled by "
           "the style of a prompt drawn for it, with probability --style-share.", optional=True, path=True),
    Option("style_share", float, 0.5, "Share of training crops restyled with --styles.", low=0.0, high=1.0),
    Option("feature_stats", str, DEFAULTS["feature_stats"],
           "Perturb the heatmap net's early feature statistics while training (no text): mixstyle (Zhou et al. "
           "2021) or dsu (Li et al. 2022).", CHOICES["feature_stats"]),
    Option("augment_on", str, "auto",
           "Where crops are warped, heat-mapped and jittered: workers (each sample in a DataLoader worker) or "
           "device (the whole batch on the training device; workers only decode); auto = device on CUDA, "
           "workers on CPU.", AUGMENT_ON, runtime=True, reproduce="plan"),
    Option("decode_cache", str, "auto",
           "Where the training images are kept decoded (uint8, memory-mapped; built on first use, verified at each "
           "start): a folder, auto ($HANDDG_CACHE/decoded, else ~/.cache/handdg/decoded), or none (decode every "
           "sample).", runtime=True, reproduce="plan"),
    Option("clip_mode", str, "cached",
           "cached = features from --store; online = frozen CLIP in every step (reference).", ("cached", "online")),
    Option("clip_model", str, "ViT-B-32", "CLIP architecture for --clip-mode online."),
    Option("clip_weights", str, "openai", "CLIP weights for --clip-mode online: tag, local file or random[:SEED]."),
    Option("checkpoint_every", int, 200, "Steps between checkpoints.", low=1),
    Option("keep_checkpoints", int, 2, "How many recent checkpoints to keep.", low=1),
    Option("log_every", int, 10, "Steps between metrics.csv rows.", low=1),
    Option("workers", int, default_workers,
           "Data-loading worker processes (default: usable CPU cores - 1; 0 loads in this process).", low=0,
           resume=True, runtime=True, reproduce="plan"),
    Option("device", str, "auto", "auto, cpu, cuda or cuda:N.", resume=True, runtime=True, reproduce="plan"),
    Option("precision", str, "auto",
           "Number format: fp32, or bf16 / fp16 autocast (fp16 with loss scaling); "
           "auto = bf16 on CUDA GPUs that support it, fp32 otherwise.", PRECISIONS, runtime=True, reproduce="plan"),
    Option("memory_format", str, "auto",
           "Tensor layout of the network: auto = channels_last for bf16/fp16 on CUDA.", MEMORY_FORMATS,
           runtime=True, reproduce="plan"),
    Option("compile", bool, False,
           "Compile the network with torch.compile (inductor) before training: the same losses to rounding; the "
           "first step compiles, the later ones run faster (docs/performance.md).",
           cli="--compile/--eager", runtime=True, reproduce="plan"),
    Option("val_data", str, None,
           "Validation dataset root (default: --data's FreiHAND evaluation split when labelled).", optional=True,
           path=True),
    Option("val_layout", str, None, "Layout of --val-data (default: --layout).", LAYOUTS, optional=True),
    Option("val_split", str, None, "Split of --val-data (default: evaluation for FreiHAND, else test).",
           optional=True),
    Option("val_every", int, None, "Steps between validations (default: --checkpoint-every).", low=1,
           optional=True),
    Option("val_limit", int, 500, "Validate on at most this many evenly spaced samples (0 = all).", low=0),
    Option("init", str, None,
           "Start from this checkpoint's weights with a fresh optimiser (fine-tuning; e.g. an "
           "`handdg import-official` model with --preset paper --norm none --rotation axis-angle "
           "--pose-target 2.5d).", optional=True, path=True),
)
"""Every training option, in TrainConfig's field order (and `handdg train --help`'s)."""
OPTION: dict[str, Option] = {option.name: option for option in OPTIONS}


def names(**attributes: Any) -> tuple[str, ...]:
    """The options whose attributes have these values, in declaration order: names(resume=True)."""
    return tuple(o.name for o in OPTIONS if all(getattr(o, key) == value for key, value in attributes.items()))


def default(name: str) -> Any:
    """The default of option `name`."""
    return OPTION[name].default_value()


def check(name: str, value: Any) -> Any:
    """`value` checked as option `name` takes it (HanddgError naming --name otherwise)."""
    return OPTION[name].check(value)


RESUMABLE = names(resume=True)
"""What `handdg train --resume` may change (handdg.train.lifecycle.resume's arguments): --out (a copied run), where
--data and --store are now, --steps (extend only), --workers and --device. The rest comes from config.json."""
RUNTIME = names(runtime=True)
"""Where and how a run executes: may differ between a run directory and the config its plan asks for."""
PLANNED = names(reproduce="plan")
"""Set by `handdg reproduce` itself (table knobs, inputs, seed, runtime options): `--set` cannot change them."""
REPRODUCE_FLAGS = names(reproduce="flag")
"""Training options `handdg reproduce` takes as its own flags; every other one goes through --set."""
