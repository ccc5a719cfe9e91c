"""The 21-joint hand skeleton in FreiHAND order, and conversions from RHD's and STB's orders.

handdg's order (FreiHAND's): 0 root (wrist, or palm centre for STB); then thumb, index,
middle, ring, pinky with 4 joints each, running root->tip (MCP/CMC, PIP, DIP, tip).
Conversions are index arrays `X_TO_FH` such that `fh = x[X_TO_FH]`.
"""

from __future__ import annotations

import numpy as np

FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_THUMB_PARTS = ("cmc", "mcp", "ip", "tip")
_FINGER_PARTS = ("mcp", "pip", "dip", "tip")

NAMES: tuple[str, ...] = ("root",) + tuple(
    f"{finger}_{part}"
    for finger in FINGERS
    for part in (_THUMB_PARTS if finger == "thumb" else _FINGER_PARTS)
)
"""Joint names in handdg (FreiHAND) order; joint 0 is the dataset's root (wrist or palm)."""

PARENTS: tuple[int, ...] = (-1,) + tuple(0 if k == 0 else 1 + 4 * f + k - 1 for f in range(5) for k in range(4))
"""Parent of each joint (-1 for the root): every finger's first joint hangs off joint 0."""

BONES: tuple[tuple[int, int], ...] = tuple((PARENTS[j], j) for j in range(1, 21))
"""The 20 (parent, child) bones of the skeleton."""

MIDDLE_MCP = 9
MIDDLE_PIP = 10
RING_MCP = 13


def _finger_first(f: int) -> int:
    """Index of the first (root-most) joint of finger f (0 thumb .. 4 pinky) in FreiHAND order."""
    return 1 + 4 * f


RHD_TO_FH = np.array([0] + [4 + 4 * f - k for f in range(5) for k in range(4)])
"""RHD stores each finger tip->MCP (1 = thumb tip, 4 = thumb MCP): reverse every finger block."""

STB_TO_FH = np.array([0] + [1 + 4 * (4 - f) + k for f in range(5) for k in range(4)])
"""STB lists fingers pinky-first (1-4 pinky .. 17-20 thumb), each MCP->tip: reverse the finger order."""

FH_TO_RHD = np.argsort(RHD_TO_FH)
FH_TO_STB = np.argsort(STB_TO_FH)


def rhd_to_fh(joints: np.ndarray) -> np.ndarray:
    """Reorder (..., 21, k) joints from RHD's order (one hand's block) to handdg's."""
    return np.asarray(joints)[..., RHD_TO_FH, :]


def stb_to_fh(joints: np.ndarray) -> np.ndarray:
    """Reorder (..., 21, k) joints from STB's order to handdg's."""
    return np.asarray(joints)[..., STB_TO_FH, :]


def palm_to_wrist(xyz: np.ndarray) -> np.ndarray:
    """Replace a palm-centre root by a wrist estimate, as hand3d does for STB.

    wrist = ring_MCP + 2 (palm - ring_MCP): the palm centre lies halfway between the wrist
    and the ring-finger MCP. Works on (..., 21, 3) arrays in handdg order; returns a copy.
    """
    out = np.array(xyz, dtype=np.float64, copy=True)
    out[..., 0, :] = out[..., RING_MCP, :] + 2.0 * (out[..., 0, :] - out[..., RING_MCP, :])
    return out


def wrist_to_palm(xyz: np.ndarray) -> np.ndarray:
    """Inverse of `palm_to_wrist`: STB's palm centre = midpoint of wrist and ring-finger MCP.

    This is the palm that hand3d's STB rule implies, not hand3d's RHD palm (midpoint of wrist
    and middle MCP, `handdg.model.targets.with_root`).
    """
    out = np.array(xyz, dtype=np.float64, copy=True)
    out[..., 0, :] = 0.5 * (out[..., 0, :] + out[..., RING_MCP, :])
    return out


def finger_chains() -> list[list[int]]:
    """The five root->tip joint chains, each starting at joint 0 (for drawing skeletons)."""
    return [[0] + list(range(_finger_first(f), _finger_first(f) + 4)) for f in range(5)]
