"""The constant-pose reference: what the training set's mean pose scores on a test set.

A network that has not learned outputs about the mean pose; scoring that mean pose under the
same protocol makes a result's skill a ratio (model EPE / reference EPE, 1.0 = no skill). The mean
is taken over the training hands as the network sees them (left hands mirrored to right hands,
joint 0 the run's root), root-relative, in two forms: bone-normalised (hand3d protocol: scaled by
each test hand's middle-finger bone, as the model's prediction is) and in millimetres (official
protocol: placed at each test hand's GT root, which that protocol gives the model too).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from handdg.data.transforms import bone_length
from handdg.evaluation import metrics
from handdg.model.targets import with_root

REFERENCE_LIMIT = 1000
"""Training samples (evenly spaced) the mean pose is taken over."""


def mean_pose(dataset, root: str, limit: int = REFERENCE_LIMIT) -> dict[str, Any]:
    """{"normed": 21x3, "mm": 21x3, "bone_mm": b, "count": n}: mean root-relative right-hand pose of a training
    set, and its mean middle-finger MCP->PIP bone (the scale `handdg predict` gives a 3D pose by default)."""
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(limit, len(dataset))).round().astype(int))
    normed, mm, bones = [], [], []
    for index in picks:
        sample = dataset[int(index)]
        xyz = with_root(sample.xyz_mm, sample.root, root)
        if not np.isfinite(xyz).all():
            continue
        if sample.side == "left":
            xyz[:, 0] = -xyz[:, 0]
        rel = xyz - xyz[:1]
        mm.append(rel)
        bones.append(float(bone_length(torch.as_tensor(xyz))))
        normed.append(rel / bones[-1])
    if not mm:
        return {"normed": None, "mm": None, "bone_mm": None, "count": 0}
    return {"normed": np.mean(normed, axis=0).tolist(), "mm": np.mean(mm, axis=0).tolist(),
            "bone_mm": float(np.mean(bones)), "count": len(mm)}


def constant_pose_scores(reference: dict[str, Any], gt_mm: np.ndarray, visible: np.ndarray | None,
                         stb_subset: bool) -> dict[str, dict]:
    """Both protocols' blocks for predicting `reference`'s mean pose on every test hand (GT in the crop frame)."""
    gt = np.asarray(gt_mm, dtype=np.float64)
    bone = bone_length(torch.as_tensor(gt)).numpy()  # in torch, as `decode` scales the model's prediction
    relative = np.asarray(reference["normed"])[None] * bone[:, None, None]
    camera = np.asarray(reference["mm"])[None] + gt[:, :1]
    return {"hand3d": metrics.hand3d(relative, gt, visible, stb_subset=stb_subset),
            "official": metrics.official(camera, gt, stb_subset=stb_subset)}
