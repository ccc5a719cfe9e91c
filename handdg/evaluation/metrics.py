"""3D hand pose metrics under the two protocols every handdg result names.

* `hand3d` (Zimmermann & Brox, `utils/general.py::EvalUtil`): the GT made relative to its root,
  the prediction scored as the network outputs it (root-relative by construction, not re-centred
  on its own predicted root, as eval3d.py), scaled by the GT middle-finger bone length (see
  `targets`); errors are gathered per
  keypoint (optionally only where visible), the mean / median / PCK of each keypoint are taken
  over samples and then averaged over keypoints. PCK thresholds are linspace(0, 50 mm, 20);
  the AUC is the trapezoid area under the PCK curve divided by the threshold range. For STB,
  hand3d also reports the AUC over thresholds[8:] (≈ 21–50 mm, which its docstring calls
  "30–50"); handdg names it `auc_20_50` as the papers do.
* `official` (the paper's Table 3, IFDG `epe_detailed`): camera-space joints (GT root depth and
  intrinsics given), EPE per sample = mean over all 21 joints, then mean over samples; the median
  is the median of those per-sample errors. No visibility mask. PCK/AUC as above over all joints.

* `freihand` (lmb-freiburg/freihand `eval.py`): camera-space joints, unaligned and after
  `align_w_scale` (translation, Frobenius-norm scale and rotation: PA-MPJPE), per-keypoint mean
  EPE and PCK/AUC over 100 thresholds from 0 to 50 mm.
* `keypoints_2d`: the 2D error of the heatmap maxima in pixels of the original image.

Inputs are millimetres, (N, 21, 3) arrays in handdg joint order.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Protocol = Literal["hand3d", "official"]
PROTOCOLS: tuple[Protocol, ...] = ("hand3d", "official")
PCK_THRESHOLDS_MM = np.linspace(0.0, 50.0, 20)
STB_SUBSET_FROM = 8  # hand3d's STB subset: thresholds[8:] = 21.05 .. 50 mm
FREIHAND_THRESHOLDS_MM = np.linspace(0.0, 50.0, 100)
PIXEL_THRESHOLDS = (2.0, 5.0, 10.0, 20.0)


def joint_errors(pred_mm: np.ndarray, gt_mm: np.ndarray) -> np.ndarray:
    """(N,21) Euclidean distance between predicted and GT joints."""
    pred, gt = np.asarray(pred_mm, dtype=np.float64), np.asarray(gt_mm, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"need matching (N,21,3) arrays, got {pred.shape} and {gt.shape}")
    return np.linalg.norm(pred - gt, axis=-1)


def auc(thresholds: np.ndarray, values: np.ndarray) -> float:
    """Area under a PCK curve over its threshold range, normalised to [0,1] (trapezoid rule)."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    return float(np.trapezoid(values, thresholds) / (thresholds[-1] - thresholds[0]))


def per_keypoint_pck(errors: np.ndarray, valid: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(K,T) fraction of each keypoint's valid errors <= each threshold (NaN rows where none is valid)."""
    hits = (errors[:, :, None] <= thresholds[None, None, :]) & valid[:, :, None]
    with np.errstate(invalid="ignore"):
        return hits.sum(axis=0) / valid.sum(axis=0)[:, None]


def _per_keypoint(errors: np.ndarray, valid: np.ndarray, stat) -> np.ndarray:
    return np.array([stat(errors[valid[:, k], k]) if valid[:, k].any() else np.nan for k in range(errors.shape[1])])


def summarise(errors: np.ndarray, protocol: Protocol, visible: np.ndarray | None = None,
              stb_subset: bool = False, thresholds: np.ndarray = PCK_THRESHOLDS_MM) -> dict:
    """Errors (N,21) in mm -> the eval JSON's protocol block: EPE mean/median, PCK, AUC, per-joint mean."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}")
    errors = np.asarray(errors, dtype=np.float64)
    if protocol == "official" or visible is None:
        valid = np.ones(errors.shape, dtype=bool)
    else:
        valid = np.asarray(visible, dtype=bool)
    per_joint = _per_keypoint(errors, valid, np.mean)
    measured = ~np.isnan(per_joint)
    pck = per_keypoint_pck(errors, valid, thresholds)[measured].mean(axis=0)
    if protocol == "hand3d":
        mean = float(per_joint[measured].mean())
        median = float(_per_keypoint(errors, valid, np.median)[measured].mean())
    else:
        per_sample = errors.mean(axis=1)
        mean, median = float(per_sample.mean()), float(np.median(per_sample))
    result = {"epe_mean_mm": mean, "epe_median_mm": median, "auc_0_50": auc(thresholds, pck)}
    if stb_subset:
        result["auc_20_50"] = auc(thresholds[STB_SUBSET_FROM:], pck[STB_SUBSET_FROM:])
    result["pck"] = {"thresholds_mm": thresholds.tolist(), "values": pck.tolist()}
    result["per_joint_mm"] = [None if np.isnan(v) else float(v) for v in per_joint]
    return result


def hand3d(pred_rel_mm: np.ndarray, gt_xyz_mm: np.ndarray, visible: np.ndarray | None = None,
           stb_subset: bool = False) -> dict:
    """hand3d protocol: the GT made relative to joint 0 (the root), the root-relative prediction as it is."""
    pred, gt = np.asarray(pred_rel_mm, dtype=np.float64), np.asarray(gt_xyz_mm, dtype=np.float64)
    errors = joint_errors(pred, gt - gt[:, :1])
    return summarise(errors, "hand3d", visible, stb_subset)


def official(pred_cam_mm: np.ndarray, gt_cam_mm: np.ndarray, stb_subset: bool = False) -> dict:
    """Official protocol: camera-space joints compared as they are (no alignment), then `summarise`."""
    return summarise(joint_errors(pred_cam_mm, gt_cam_mm), "official", None, stb_subset)


def align_w_scale(gt_mm: np.ndarray, pred_mm: np.ndarray) -> np.ndarray:
    """(N,21,3) predictions moved, scaled and rotated onto the GT (FreiHAND's align_w_scale, batched)."""
    gt, pred = np.asarray(gt_mm, dtype=np.float64), np.asarray(pred_mm, dtype=np.float64)
    gt_mean, pred_mean = gt.mean(axis=1, keepdims=True), pred.mean(axis=1, keepdims=True)
    gt_c, pred_c = gt - gt_mean, pred - pred_mean
    gt_norm = np.linalg.norm(gt_c, axis=(1, 2), keepdims=True) + 1e-8
    pred_norm = np.linalg.norm(pred_c, axis=(1, 2), keepdims=True) + 1e-8
    gt_c, pred_c = gt_c / gt_norm, pred_c / pred_norm
    u, w, vt = np.linalg.svd(np.swapaxes(pred_c, 1, 2) @ gt_c)
    rotation = u @ vt  # argmin_R |pred_c R - gt_c| over orthogonal R (scipy's orthogonal_procrustes)
    return (pred_c @ rotation) * w.sum(axis=1)[:, None, None] * gt_norm + gt_mean


def freihand(pred_cam_mm: np.ndarray, gt_cam_mm: np.ndarray) -> dict:
    """FreiHAND's benchmark figures: {"unaligned", "aligned"} blocks, 100-step PCK over 0-50 mm."""
    aligned = align_w_scale(gt_cam_mm, pred_cam_mm)
    return {name: summarise(joint_errors(pred, gt_cam_mm), "hand3d", thresholds=FREIHAND_THRESHOLDS_MM)
            for name, pred in (("unaligned", pred_cam_mm), ("aligned", aligned))}


def keypoints_2d(pred_px: np.ndarray, gt_px: np.ndarray) -> dict:
    """(N,21,2) pixel positions -> mean / median error and PCK at PIXEL_THRESHOLDS over all joints."""
    errors = np.linalg.norm(np.asarray(pred_px, dtype=np.float64) - np.asarray(gt_px, dtype=np.float64), axis=-1)
    return {"mean_px": float(errors.mean()), "median_px": float(np.median(errors)),
            "pck": {"thresholds_px": list(PIXEL_THRESHOLDS),
                    "values": [float((errors <= t).mean()) for t in PIXEL_THRESHOLDS]}}
