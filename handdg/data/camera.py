"""Pinhole camera helpers shared by readers and transforms."""

from __future__ import annotations

import numpy as np


def intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """The 3x3 intrinsic matrix of a pinhole camera without skew."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def project(xyz: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Project (..., N, 3) camera-frame points to (..., N, 2) pixels: uv = (K xyz) / z."""
    xyz = np.asarray(xyz, dtype=np.float64)
    h = xyz @ np.asarray(K, dtype=np.float64).T
    with np.errstate(divide="ignore", invalid="ignore"):
        return h[..., :2] / h[..., 2:3]
