"""Geometric transforms that keep image, 2D keypoints, intrinsics and 3D joints consistent.

Pixel convention: integer coordinates are pixel centres, so pixel i covers [i - 0.5, i + 0.5]
and a W-pixel-wide image spans [-0.5, W - 0.5]. Every transform here maps uv and K with the
same affine map, so `project(xyz, K_new) == uv_new` whenever `project(xyz, K) == uv`.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from handdg.data.base import Sample
from handdg.data.joints import MIDDLE_MCP, MIDDLE_PIP

if TYPE_CHECKING:
    import torch

_OTHER_SIDE = {"left": "right", "right": "left"}


def crop_affine(center: np.ndarray, side: float, out_size: int) -> np.ndarray:
    """3x3 similarity taking the square (centre, side) of an image to an out_size x out_size crop."""
    scale = out_size / float(side)
    cu, cv = np.asarray(center, dtype=np.float64)
    return np.array(
        [
            [scale, 0.0, (side / 2.0 - cu) * scale - 0.5],
            [0.0, scale, (side / 2.0 - cv) * scale - 0.5],
            [0.0, 0.0, 1.0],
        ]
    )


def crop_square(
    image: np.ndarray, uv: np.ndarray, K: np.ndarray, center: np.ndarray, side: float, out_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut the square (centre, side) out of `image` and resample it to out_size x out_size.

    Returns the crop (bilinear, black outside the image), the keypoints in crop pixels and the
    crop's own intrinsics (A K), so 3D joints project straight into the crop.
    """
    A = crop_affine(center, side, out_size)
    inv = np.linalg.inv(A)
    # PIL maps output to input in pixel-corner coordinates (centre of pixel i at i + 0.5):
    # shift by half a pixel on both sides to apply `inv` in the centre convention.
    coeffs = (inv[0, 0], 0.0, inv[0, 2] + 0.5 - 0.5 * inv[0, 0], 0.0, inv[1, 1], inv[1, 2] + 0.5 - 0.5 * inv[1, 1])
    crop = Image.fromarray(np.ascontiguousarray(image)).transform(
        (out_size, out_size), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR, fillcolor=0
    )
    uv = np.asarray(uv, dtype=np.float64)
    uv_crop = uv * A[0, 0] + A[:2, 2]
    return np.asarray(crop), uv_crop, A @ np.asarray(K, dtype=np.float64)


def hand_box(uv: np.ndarray, scale: float = 1.5, min_side: float = 16.0) -> tuple[np.ndarray, float]:
    """Square box around the finite keypoints: (centre of their bounding box, scale x its longer side)."""
    uv = np.asarray(uv, dtype=np.float64)
    pts = uv[np.isfinite(uv).all(axis=1)]
    if len(pts) == 0:
        raise ValueError("hand_box needs at least one finite keypoint")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return (lo + hi) / 2.0, max(float((hi - lo).max()) * scale, min_side)


def mirror(sample: Sample) -> Sample:
    """Mirror a sample left<->right, keeping image, uv, K and xyz consistent.

    The image flips about its centre column (u -> W-1-u), the joints about the camera's y-z
    plane (x -> -x), and K becomes F K D with F the image flip and D = diag(-1, 1, 1), so the
    mirrored joints project exactly onto the mirrored keypoints. (The official STB code flips
    the image but mirrors the joints about the optical axis, which is off by W-1-2cx pixels.)
    """
    width = sample.image.shape[1]
    flip = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    uv = np.array(sample.uv, dtype=np.float64, copy=True)
    uv[:, 0] = width - 1.0 - uv[:, 0]
    xyz = np.array(sample.xyz_mm, dtype=np.float64, copy=True)
    xyz[:, 0] = -xyz[:, 0]
    return dataclasses.replace(
        sample,
        image=np.ascontiguousarray(sample.image[:, ::-1]),
        uv=uv,
        xyz_mm=xyz,
        K=flip @ sample.K @ np.diag([-1.0, 1.0, 1.0]),
        side=_OTHER_SIDE.get(sample.side, sample.side),
        extra={**sample.extra, "mirrored": not sample.extra.get("mirrored", False)},
    )


def root_relative(xyz: np.ndarray, root: int = 0) -> np.ndarray:
    """(..., 21, 3) joints minus the root joint."""
    xyz = np.asarray(xyz, dtype=np.float64)
    return xyz - xyz[..., root : root + 1, :]


def bone_length(xyz: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """(...,) length of the middle finger's proximal bone (MCP->PIP) of (..., 21, 3) joints, the scale hand3d
    (and FreiHAND) normalise by. A torch tensor gives a float64 tensor on its device (computed by torch);
    anything else a float64 numpy array."""
    loaded = sys.modules.get("torch")  # a tensor exists only once torch is loaded: the data layer never loads it
    if loaded is not None and isinstance(xyz, loaded.Tensor):
        xyz = xyz.to(loaded.float64)
        return (xyz[..., MIDDLE_PIP, :] - xyz[..., MIDDLE_MCP, :]).norm(dim=-1)
    xyz = np.asarray(xyz, dtype=np.float64)
    return np.linalg.norm(xyz[..., MIDDLE_PIP, :] - xyz[..., MIDDLE_MCP, :], axis=-1)


def bone_normalise(xyz: np.ndarray) -> np.ndarray:
    """(..., 21, 3) joints divided by their middle-finger MCP->PIP bone length."""
    xyz = np.asarray(xyz, dtype=np.float64)
    return xyz / bone_length(xyz)[..., None, None]
