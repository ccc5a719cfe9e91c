"""Eval JSON files in the `handdg eval` schema, for analysis tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

THRESHOLDS = np.linspace(0, 50, 21).tolist()


def protocol_block(epe: float, values: list[float] | None = None) -> dict:
    """One protocol's block; PCK rises linearly to 1 at 2·epe unless `values` are given."""
    if values is None:
        values = np.clip(np.asarray(THRESHOLDS) / (2 * epe), 0, 1).tolist()
    return {"epe_mean_mm": epe, "epe_median_mm": epe * 0.9, "pck": {"thresholds_mm": THRESHOLDS, "values": values},
            "per_joint_mm": [epe] * 21}


def write_eval(path: Path, dataset: str, epe: float, run_config: dict | None = None, official_epe: float | None = None) -> Path:
    """Write an eval JSON with both protocols beside its run's config.json; `run_config` = TrainConfig fields."""
    data = {
        "dataset": dataset, "split": "test", "camera": "sk" if dataset == "stb" else None, "count": 10,
        "checkpoint": str(path.parent / "last.safetensors"),
        "run_config": run_config or {},
        "protocols": {"hand3d": protocol_block(epe), "official": protocol_block(official_epe or epe + 10)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    clip = {"model": "ViT-B-32", "weights": "random:0"} if (run_config or {}).get("branch2") != "none" else None
    (path.parent / "config.json").write_text(json.dumps({"config": run_config or {}, "clip": clip}))
    return path
