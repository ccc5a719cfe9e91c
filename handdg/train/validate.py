"""Validation while training: score the model on a held-out set every few steps, keep the best.

The default held-out set is FreiHAND's evaluation split of the training root when it has labels
(evaluation_xyz.json). Scores are the eval command's own (`handdg.evaluation.evaluate.score`) on up to
`val_limit` evenly spaced samples; the lowest hand3d EPE so far is kept as RUN/best.safetensors
(with RUN/best.json naming its step), so a run that overfits late still leaves its best model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from handdg.evaluation.evaluate import DEFAULT_XY_FROM, score
from handdg.inputs.batches import CropSpec, HandCrops
from handdg.model.network import HandPoseNet
from handdg.run import runs
from handdg.run.config import TrainConfig

FIELDS = ["val_hand3d_mm", "val_official_mm", "val_2d_px", "val_constant_mm"]
BEST_JSON = "best.json"


def default_validation(config: TrainConfig) -> TrainConfig:
    """Fill val_data/val_layout/val_split from the training root's FreiHAND evaluation split when it has labels."""
    if config.val_data is None and config.layout == "freihand" and (Path(config.data) / "evaluation_xyz.json").exists():
        config.val_data, config.val_layout, config.val_split = config.data, "freihand", "evaluation"
    if config.val_data is not None:
        config.val_layout = config.val_layout or config.layout
        config.val_split = config.val_split or ("evaluation" if config.val_layout == "freihand" else "test")
    return config


class Validator:
    """Scores a model on the run's validation set and keeps best.safetensors."""

    def __init__(self, config: TrainConfig, spec: CropSpec, reference: dict | None, device: torch.device,
                 precision: str = "fp32") -> None:
        from handdg.data import open_dataset

        dataset = open_dataset(config.val_data, config.val_layout, config.val_split)
        crops = HandCrops(dataset, spec)
        if config.val_limit and len(dataset) > config.val_limit:
            picks = np.unique(np.linspace(0, len(dataset) - 1, config.val_limit).round().astype(int)).tolist()
            crops = Subset(crops, picks)
        self.crops, self.reference, self.device, self.layout = crops, reference, device, config.val_layout
        self.xy_from = DEFAULT_XY_FROM[config.val_layout]
        self.batch_size, self.workers, self.precision = config.batch_size, config.workers, precision

    def __call__(self, net: HandPoseNet) -> dict[str, Any]:
        """The eval metrics of `net` now (the net is put back in training mode afterwards)."""
        net.eval()
        try:
            return score(net, self.crops, self.layout, self.device, self.xy_from, self.reference,
                         self.batch_size, self.workers, precision=self.precision)
        finally:
            net.train()


def logged(scores: dict[str, Any]) -> dict[str, float]:
    """The metrics.csv columns of one validation."""
    constant = (scores.get("constant_pose") or {}).get("hand3d") or {}
    return {"val_hand3d_mm": scores["protocols"]["hand3d"]["epe_mean_mm"],
            "val_official_mm": scores["protocols"]["official"]["epe_mean_mm"],
            "val_2d_px": scores["keypoints_2d"]["mean_px"],
            "val_constant_mm": constant.get("epe_mean_mm", float("nan"))}


def keep_best(out: Path, step: int, values: dict[str, float], net: HandPoseNet, config: TrainConfig,
              reference: dict | None) -> bool:
    """Write best.safetensors + best.json when this validation beats the best so far; True if it did."""
    path = out / BEST_JSON
    best = json.loads(path.read_text()) if path.exists() else None
    if best is not None and best["step"] < step and best["val_hand3d_mm"] <= values["val_hand3d_mm"]:
        return False
    runs.write_weights(out / runs.BEST, step, net.state_dict(), config, net.config.to_dict(), reference)
    runs.write_json(path, {"step": step, **values})
    return True
