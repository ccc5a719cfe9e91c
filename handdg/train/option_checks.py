"""Numeric checks of a TrainConfig beyond TrainConfig.validate's: no NaN or infinity anywhere, and a batch
that the contrastive loss can draw a negative from; each message names the option as typed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handdg.errors import HanddgError
from handdg.options import check_float, check_ratio

if TYPE_CHECKING:
    from handdg.train.config import TrainConfig

POSITIVE = ("lr", "heatmap_sigma", "crop_scale")
NON_NEGATIVE = ("lambda_heat", "lambda_pose", "lambda_con")


def check_numbers(config: "TrainConfig") -> None:
    """HanddgError naming the first option of `config` that is NaN, infinite or out of its range."""
    for name in POSITIVE:
        check_float(name, getattr(config, name), 0.0, low_open=True)
    for name in NON_NEGATIVE:
        check_float(name, getattr(config, name), 0.0)
    if config.ratio is not None:
        check_ratio(config.ratio)
    if config.branch2 != "none" and config.batch_size < 2:
        raise HanddgError(f"--batch-size {config.batch_size} with --branch2 {config.branch2}: the contrastive loss "
                          "takes each sample's negative from another sample of the batch; use --batch-size 2 or more "
                          "(or --branch2 none)")
