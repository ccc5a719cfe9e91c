"""Training targets for the two 3D heads and their inverses back to millimetres (heatmaps: heatmaps.py).

`canonical` (the paper / hand3d, docs/official-code.md#hand3ds-conventions): joints relative to the root
(palm or wrist), divided by the middle finger's MCP->PIP bone, turned into hand3d's canonical
frame (middle MCP on -y, pinky MCP in the xy-plane with x > 0); right hands get canonical z
negated; the rotation target R maps canonical back: xyz_normed = flip(canonical) @ R. The
hand-side flag that builds the target is the one the model is fed and the one the inverse
uses, so train and test agree by construction.

`2.5d` (the released checkpoint, docs/official-code.md#training-targets-and-augmentation):
(u/S, v/S, ((z - z_root)/150 mm + 1)/2) in an S-pixel crop. The official RHD decoding back-projects with
the un-shifted depth and then moves only z so the root sits at the GT root depth
(docs/official-code.md#evaluation); here the depths are shifted first and every joint is back-projected
with the crop's own intrinsics, so x, y and z agree with one camera.

All functions are batched over a leading dimension, accept numpy or torch input and return
float64 tensors (cast to the model's dtype for the loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from handdg.data.joints import MIDDLE_MCP, palm_to_wrist
from handdg.data.transforms import bone_length
from handdg.model.hand_frame import flip_right_hand
from handdg.model.heatmaps import HeatmapCodec
from handdg.model.network import ModelOutput

Root = Literal["wrist", "palm"]
PINKY_MCP = 17  # handdg (FreiHAND) order; hand3d's ROT_NODE_ID 20 in RHD order
DEPTH_RANGE_MM = 300.0  # I2L / official bbox_3d_size 0.3 m: relative depth +-150 mm -> [0, 1]

ArrayLike = np.ndarray | torch.Tensor | list


def _t(x: ArrayLike) -> torch.Tensor:
    """Any array as a float64 tensor (targets are built and decoded in double precision)."""
    return torch.as_tensor(x, dtype=torch.float64)


def with_root(xyz_mm: np.ndarray, joint0: Root, root: Root) -> np.ndarray:
    """(..., 21, 3) joints with joint 0 replaced by the chosen root (the 21 joints hand3d evaluates).

    wrist -> palm is hand3d's RHD rule (BinaryDbReader.py): palm = (wrist + middle MCP) / 2;
    palm -> wrist is hand3d's STB rule (`handdg.data.joints.palm_to_wrist`).
    """
    out = np.array(xyz_mm, dtype=np.float64, copy=True)
    if joint0 == root:
        return out
    if root == "palm":
        out[..., 0, :] = 0.5 * (out[..., 0, :] + out[..., MIDDLE_MCP, :])
        return out
    return palm_to_wrist(out)


def _rot(angle: torch.Tensor, axis: int) -> torch.Tensor:
    """hand3d's row-vector rotation about x (0), y (1) or z (2), batched over `angle`."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    rows = {
        0: [[one, zero, zero], [zero, c, s], [zero, -s, c]],
        1: [[c, zero, -s], [zero, one, zero], [s, zero, c]],
        2: [[c, s, zero], [-s, c, zero], [zero, zero, one]],
    }[axis]
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def canonical_frame(xyz_normed: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """hand3d's canonical_trafo: (B,21,3) root-relative joints -> (canonical joints, M) with canonical = xyz @ M."""
    x = _t(xyz_normed)
    p = x[:, MIDDLE_MCP]
    m = _rot(torch.atan2(p[:, 0], p[:, 1]), 2)
    p = (x @ m)[:, MIDDLE_MCP]
    m = m @ _rot(-torch.atan2(p[:, 2], p[:, 1]) + torch.pi, 0)
    q = (x @ m)[:, PINKY_MCP]
    m = m @ _rot(torch.atan2(q[:, 2], q[:, 0]), 1)
    return x @ m, m


@dataclass
class CanonicalTarget:
    """coords: (B,21,3) canonical joints (z negated for right hands); rotation: (B,3,3); scale: (B,) bone mm."""

    coords: torch.Tensor
    rotation: torch.Tensor
    scale: torch.Tensor


def canonical_target(xyz_mm: ArrayLike, is_right: ArrayLike) -> CanonicalTarget:
    """(B,21,3) joints with joint 0 = the chosen root, (B,) right-hand flags -> the canonical target."""
    xyz = _t(xyz_mm)
    scale = bone_length(xyz)
    normed = (xyz - xyz[:, :1]) / scale[:, None, None]
    canonical, m = canonical_frame(normed)
    is_right = torch.as_tensor(is_right)
    return CanonicalTarget(coords=flip_right_hand(canonical, is_right), rotation=m.transpose(1, 2), scale=scale)


def canonical_to_relative(coords: ArrayLike, rotation: ArrayLike, is_right: ArrayLike) -> torch.Tensor:
    """Inverse of `canonical_target`: (B,21,3) root-relative, bone-normalised joints."""
    return flip_right_hand(_t(coords), torch.as_tensor(is_right)) @ _t(rotation)


def uvd_target(uv_crop: ArrayLike, xyz_mm: ArrayLike, crop_size: int,
               depth_range_mm: float = DEPTH_RANGE_MM) -> torch.Tensor:
    """(B,21,2) crop pixels and (B,21,3) camera mm -> (B,21,3) (u/S, v/S, ((z - z_root)/(range/2) + 1)/2)."""
    uv, xyz = _t(uv_crop), _t(xyz_mm)
    depth = ((xyz[..., 2] - xyz[:, :1, 2]) / (depth_range_mm / 2.0) + 1.0) / 2.0
    return torch.cat([uv / crop_size, depth[..., None]], dim=-1)


def back_project(uv: torch.Tensor, z: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """(B,21,2) pixels at depths (B,21) through intrinsics (B,3,3) -> (B,21,3) camera points."""
    pixels = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)
    rays = pixels @ torch.linalg.inv(K).transpose(1, 2)
    return rays / rays[..., 2:] * z[..., None]


def uvd_to_camera(uvd: ArrayLike, K_crop: ArrayLike, crop_size: int, root_depth_mm: ArrayLike,
                  depth_range_mm: float = DEPTH_RANGE_MM) -> torch.Tensor:
    """Inverse of `uvd_target` given the GT root depth (B,) and the crop's intrinsics (B,3,3): camera mm."""
    uvd, K = _t(uvd), _t(K_crop)
    z_rel = (2.0 * uvd[..., 2] - 1.0) * (depth_range_mm / 2.0)
    z = z_rel - z_rel[:, :1] + _t(root_depth_mm).reshape(-1, 1)
    return back_project(uvd[..., :2] * crop_size, z, K)


@dataclass
class Decoded:
    """Predictions in millimetres: root-relative (hand3d protocol) and camera-space (official protocol)."""

    relative_mm: torch.Tensor
    camera_mm: torch.Tensor


def decode(output: ModelOutput, is_right: ArrayLike, gt_xyz_mm: ArrayLike, K_crop: ArrayLike, crop_size: int,
           xy_from: Literal["regression", "heatmap"] = "regression") -> Decoded:
    """Turn a batch of predictions into millimetres using only what each protocol allows from the GT.

    canonical: relative = flip(coords) @ R x GT bone length; camera = relative + GT root position.
    2.5d: camera = `uvd_to_camera` with the GT root depth (x, y from the regression, or from the
    heatmaps' maxima as the official STB code does); relative = camera - camera root.
    """
    gt = _t(gt_xyz_mm)
    if output.rotation is not None:
        rel = canonical_to_relative(output.coords.detach().double(), output.rotation.detach().double(), is_right)
        rel = rel * bone_length(gt)[:, None, None]
        return Decoded(relative_mm=rel, camera_mm=rel + gt[:, :1])
    uvd = output.coords.detach().double()
    if xy_from == "heatmap":
        uv, _ = HeatmapCodec(crop_size).decode(output.heatmaps.detach().double())
        uvd = torch.cat([uv / crop_size, uvd[..., 2:]], dim=-1)
    cam = uvd_to_camera(uvd, K_crop, crop_size, gt[:, 0, 2])
    return Decoded(relative_mm=cam - cam[:, :1], camera_mm=cam)


OFFICIAL_DEPTH_RANGE_MM = {"stb": 130.0}
"""The official evaluation de-normalises depth with ±65 mm on STB (0.13 m range), ±150 mm elsewhere
(docs/official-code.md#evaluation)."""


def decode_official(output: ModelOutput, gt_xyz_mm: ArrayLike, K_crop: ArrayLike, crop_size: int, layout: str,
                    xy_from: Literal["regression", "heatmap"] = "regression") -> Decoded:
    """A 2.5-D prediction decoded as the official Rhp.py / STB.py do (docs/official-code.md#evaluation).

    STB: depth (2z - 1)·65 mm, root moved onto the GT root depth, then every joint back-projected.
    Elsewhere (RHD): depth (2z - 1)·150 mm + the GT root depth, back-projected unshifted, then only z
    moved so the root sits at the GT root depth (x, y keep the unshifted depth). x, y as `xy_from`.
    Done in the crop's own camera frame, so a mirrored hand is compared with mirrored ground truth.
    """
    gt, K = _t(gt_xyz_mm), _t(K_crop)
    uvd = output.coords.detach().double()
    if xy_from == "heatmap":
        uv, _ = HeatmapCodec(crop_size).decode(output.heatmaps.detach().double())
    else:
        uv = uvd[..., :2] * crop_size
    half = OFFICIAL_DEPTH_RANGE_MM.get(layout, DEPTH_RANGE_MM) / 2.0
    z = (2.0 * uvd[..., 2] - 1.0) * half
    root = gt[:, :1, 2]
    if layout == "stb":
        cam = back_project(uv, z - z[:, :1] + root, K)
    else:
        cam = back_project(uv, z + root, K)
        cam = torch.cat([cam[..., :2], cam[..., 2:] - cam[:, :1, 2:] + root[..., None]], dim=-1)
    return Decoded(relative_mm=cam - cam[:, :1], camera_mm=cam)
