"""A batch of network outputs on hand crops -> joints in the user's image: 2D pixels with a confidence,
root-relative 3D in mm and, when the camera K and the root depth are both given, camera-space mm.

Crops of left hands are cut from the mirrored image; `Crop.A` maps original pixels to crop pixels
(mirroring included), so 2D goes back through its inverse, and 3D, found in the mirrored camera,
comes back with x negated. The 3D scale: canonical models (hand3d) are bone-normalised and take
`bone_mm`; 2.5-D models give depth in mm and x, y in pixels, so they need a camera: the given K, or
an assumed focal length of max(W, H) pixels; with no root depth the root is put at the depth where
the middle finger's MCP->PIP bone is `bone_mm` long.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from handdg.data.joints import MIDDLE_MCP, MIDDLE_PIP
from handdg.model.heatmaps import HeatmapCodec
from handdg.model.network import ModelOutput
from handdg.model.targets import DEPTH_RANGE_MM, back_project, canonical_to_relative

MIRROR_X = np.diag([-1.0, 1.0, 1.0])


@dataclass
class Crop:
    """How one hand was cut: A (3x3, original pixels -> crop pixels), mirrored (a left hand), the image's
    intrinsics K (3x3; assumed when `K_assumed`), the root depth in mm when given, the bone in mm when known."""

    A: np.ndarray
    mirrored: bool
    K: np.ndarray
    K_assumed: bool
    root_depth_mm: float | None
    bone_mm: float | None


@dataclass
class Hand:
    """One hand's prediction in the user's image (see the module docstring for frames and units)."""

    uv: np.ndarray
    confidence: np.ndarray
    relative_mm: np.ndarray | None
    camera_mm: np.ndarray | None
    root_depth_mm: float | None


def assumed_K(width: int, height: int) -> np.ndarray:
    """A pinhole with focal length max(W, H) pixels (a 53° field of view) centred on the image."""
    f = float(max(width, height))
    return np.array([[f, 0.0, width / 2 - 0.5], [0.0, f, height / 2 - 0.5], [0.0, 0.0, 1.0]])


def _crop_camera(crop: Crop) -> np.ndarray:
    """The crop's intrinsics: A·K, in the mirrored camera (K·diag(-1, 1, 1)) for a left hand."""
    return crop.A @ (crop.K @ MIRROR_X if crop.mirrored else crop.K)


def root_depth_from_bone(uv: np.ndarray, dz: np.ndarray, K: np.ndarray, bone_mm: float) -> float:
    """The root depth Z at which joints back-projected at Z + dz (mm) give the MCP->PIP bone `bone_mm`.

    With rays r = K⁻¹(u, v, 1): |a·Z + b| = L, a = r_pip - r_mcp, b = r_pip·dz_pip - r_mcp·dz_mcp, the far root
    of the quadratic (or the closest approach when the bone can never be that long).
    """
    rays = _back_project(uv, np.ones(len(uv)), K)
    a = rays[MIDDLE_PIP] - rays[MIDDLE_MCP]
    b = rays[MIDDLE_PIP] * dz[MIDDLE_PIP] - rays[MIDDLE_MCP] * dz[MIDDLE_MCP]
    qa, qb, qc = a @ a, 2 * a @ b, b @ b - bone_mm**2
    disc = qb * qb - 4 * qa * qc
    depth = (-qb + np.sqrt(disc)) / (2 * qa) if disc >= 0 else -qb / (2 * qa)
    return float(max(depth, bone_mm))


def _back_project(uv: np.ndarray, z: np.ndarray, K: np.ndarray) -> np.ndarray:
    """handdg.model.targets.back_project for one hand's numpy arrays."""
    as_batch = (torch.as_tensor(np.asarray(a, dtype=np.float64))[None] for a in (uv, z, K))
    return back_project(*as_batch)[0].numpy()


def decode_hands(output: ModelOutput, crops: list[Crop], size: int) -> list[Hand]:
    """Every hand of a batch, in the user's image."""
    peaks, confidence = HeatmapCodec(size).decode(output.heatmaps.detach().float())
    peaks, confidence = peaks.numpy(), confidence.double().numpy()
    coords = output.coords.detach().double()
    relative = None
    if output.rotation is not None:
        relative = canonical_to_relative(coords, output.rotation.detach().double(), torch.ones(len(crops))).numpy()
    hands = []
    for i, crop in enumerate(crops):
        back = np.linalg.inv(crop.A)
        uv = peaks[i] @ back[:2, :2].T + back[:2, 2]
        K_crop = _crop_camera(crop)
        rel = cam = None
        depth = crop.root_depth_mm
        if relative is not None:  # canonical: bone-normalised, in the crop camera's axes
            if crop.bone_mm is not None:
                rel = (relative[i] - relative[i, :1]) * crop.bone_mm
                if depth is not None and not crop.K_assumed:
                    cam = rel + _back_project(peaks[i][:1], np.array([depth]), K_crop)
        else:  # 2.5-D: crop pixels and depth relative to the root
            uv_crop = coords[i, :, :2].numpy() * size
            z = (2.0 * coords[i, :, 2].numpy() - 1.0) * (DEPTH_RANGE_MM / 2.0)
            dz = z - z[0]
            if depth is None and crop.bone_mm is not None:
                depth = root_depth_from_bone(uv_crop, dz, K_crop, crop.bone_mm)
            if depth is not None:
                points = _back_project(uv_crop, dz + depth, K_crop)
                rel = points - points[:1]
                cam = points if crop.root_depth_mm is not None and not crop.K_assumed else None
        if crop.mirrored:
            rel = None if rel is None else rel @ MIRROR_X
            cam = None if cam is None else cam @ MIRROR_X
        hands.append(Hand(uv, confidence[i], rel, cam, depth))
    return hands
