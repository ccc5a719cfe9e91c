"""A procedural hand: per-subject bone lengths, joint-angle limits, random articulation, forward kinematics.

Joints come out in FreiHAND order (0 wrist; thumb, index, middle, ring, pinky, each root->tip),
in metres, in the *hand frame* of a right hand: x radial (towards the thumb), y distal (towards
the fingers), z palmar (out of the palm). A left hand is the mirror image (x -> -x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handdg.synth.geometry import rot_x, rot_z
from handdg.synth.render import Shapes

# Rest positions of the thumb CMC and the four finger MCPs (index, middle, ring, pinky), metres.
_BASES = np.array([
    [0.021, 0.024, 0.009],
    [0.028, 0.088, 0.000],
    [0.008, 0.092, 0.000],
    [-0.011, 0.087, 0.000],
    [-0.028, 0.078, 0.000],
])
# Bone lengths per finger, root->tip (thumb: CMC->MCP, MCP->IP, IP->tip).
_LENGTHS = np.array([
    [0.038, 0.031, 0.028],
    [0.038, 0.023, 0.021],
    [0.042, 0.027, 0.023],
    [0.039, 0.026, 0.023],
    [0.030, 0.019, 0.020],
])
# Capsule radii at the four joints of each finger (root, two middle joints, tip).
_RADII = np.array([
    [0.0150, 0.0112, 0.0098, 0.0085],
    [0.0108, 0.0097, 0.0087, 0.0078],
    [0.0111, 0.0100, 0.0089, 0.0080],
    [0.0104, 0.0094, 0.0085, 0.0076],
    [0.0093, 0.0085, 0.0076, 0.0069],
])
# Rest spread of each finger about the palm normal (degrees; positive turns towards the pinky),
# and how much of a whole-hand spread each finger takes (fingers fan out from the middle one).
_REST_SPREAD = np.array([0.0, -9.0, -1.0, 6.0, 14.0])
_FAN = np.array([1.2, -1.0, -0.2, 0.8, 1.4])
_THUMB_REST_DIR = np.array([0.62, 0.70, 0.36])
_THUMB_CURL_DIR = np.array([-1.0, 0.1, 0.9])

# Joint-angle limits in degrees: (low, high) for root spread, root flexion, middle flexion, distal flexion.
LIMITS = {
    "finger": np.array([[-20.0, 20.0], [-20.0, 90.0], [-5.0, 110.0], [-5.0, 85.0]]),
    "thumb": np.array([[-30.0, 30.0], [-20.0, 55.0], [-10.0, 65.0], [-20.0, 85.0]]),
}

POSE_STYLES = ("random", "open", "fist", "count", "pinch", "point")


@dataclass(frozen=True)
class HandShape:
    """One subject's hand: joint bases, bone lengths and capsule radii (metres)."""

    bases: np.ndarray  # (5, 3)
    lengths: np.ndarray  # (5, 3)
    radii: np.ndarray  # (5, 4)

    @property
    def scale(self) -> float:
        """Overall size relative to the template hand (1 = adult average)."""
        return float(self.lengths[2].sum() / _LENGTHS[2].sum())


def sample_shape(rng: np.random.Generator, size: float | None = None) -> HandShape:
    """Draw a subject: overall size (or `size`), per-bone length jitter, finger thickness."""
    s = rng.uniform(0.86, 1.12) if size is None else size
    lengths = _LENGTHS * s * rng.normal(1.0, 0.035, _LENGTHS.shape)
    bases = _BASES * s * rng.normal(1.0, 0.03, _BASES.shape)
    radii = _RADII * s * rng.uniform(0.9, 1.12)
    return HandShape(bases=bases, lengths=lengths, radii=radii)


def _curls(rng: np.random.Generator, style: str) -> np.ndarray:
    """Per-finger curl in [0, 1] (thumb first) for a named pose family."""
    if style == "open":
        return rng.uniform(0.0, 0.2, 5)
    if style == "fist":
        return rng.uniform(0.75, 1.0, 5)
    if style == "count":
        shown = rng.integers(0, 6)
        order = np.array([1, 2, 3, 4, 0]) if rng.random() < 0.7 else rng.permutation(5)
        curls = rng.uniform(0.75, 1.0, 5)
        curls[order[:shown]] = rng.uniform(0.0, 0.12, shown)
        return curls
    if style == "pinch":
        curls = rng.uniform(0.0, 0.5, 5)
        curls[:2] = rng.uniform(0.35, 0.6, 2)
        return curls
    if style == "point":
        curls = rng.uniform(0.8, 1.0, 5)
        curls[1] = rng.uniform(0.0, 0.1)
        curls[0] = rng.uniform(0.3, 0.9)
        return curls
    return rng.uniform(0.0, 1.0, 5)


def sample_angles(rng: np.random.Generator, style: str = "random") -> np.ndarray:
    """Random articulation (5, 4) in degrees: spread, root, middle and distal flexion, clipped to LIMITS."""
    curls = _curls(rng, style)
    spread = rng.uniform(-1.0, 1.0)
    angles = np.empty((5, 4))
    for f, c in enumerate(curls):
        lim = LIMITS["thumb" if f == 0 else "finger"]
        middle = np.interp(c, [0, 1], [lim[2, 0] + 5, lim[2, 1] - 8]) + rng.normal(0, 7)
        angles[f] = [
            spread * (1.0 - 0.7 * c) * 10.0 * _FAN[f] + rng.normal(0, 4),
            np.interp(c, [0, 1], [lim[1, 0] + 12, lim[1, 1] - 5]) + rng.normal(0, 8),
            middle,
            0.7 * middle + rng.normal(0, 6),
        ]
        angles[f] = np.clip(angles[f], lim[:, 0], lim[:, 1])
    return angles


def _finger_frame(f: int) -> np.ndarray:
    """Rest orientation (columns: flexion axis, bone direction, curl direction) of finger f's root."""
    if f == 0:
        y = _THUMB_REST_DIR / np.linalg.norm(_THUMB_REST_DIR)
        z = _THUMB_CURL_DIR - (_THUMB_CURL_DIR @ y) * y
        z /= np.linalg.norm(z)
        return np.stack([np.cross(y, z), y, z], axis=1)
    return rot_z(np.deg2rad(_REST_SPREAD[f]))


def forward_kinematics(shape: HandShape, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions (21, 3) in the right-hand frame, and each finger's root frames (5, 4, 3, 3).

    Each finger turns by `spread` about its curl axis at the root, then flexes at every joint
    about its own x axis towards the palm (positive angles curl the finger).
    """
    joints = np.zeros((21, 3))
    frames = np.empty((5, 4, 3, 3))
    for f in range(5):
        spread, *flex = np.deg2rad(angles[f])
        frame = _finger_frame(f) @ rot_z(spread)
        pos = shape.bases[f]
        joints[1 + 4 * f] = pos
        for k in range(3):
            frame = frame @ rot_x(flex[k])
            frames[f, k] = frame
            pos = pos + frame[:, 1] * shape.lengths[f, k]
            joints[2 + 4 * f + k] = pos
        frames[f, 3] = frame
    return joints, frames


# Palm pieces in the template hand frame (metres, scaled with the subject): (start, end, r_start, r_end).
_PALM = (
    ((0.014, 0.014, 0.0), None, 0.0115, None),  # metacarpals: wrist-side point -> finger MCP
    ((0.005, 0.012, 0.0), None, 0.0115, None),
    ((-0.006, 0.012, 0.0), None, 0.0110, None),
    ((-0.014, 0.016, 0.0), None, 0.0105, None),
    ((0.011, 0.006, 0.0), (-0.011, 0.006, 0.0), 0.0165, 0.0160),  # wrist
    ((0.027, 0.086, 0.0), (-0.027, 0.077, 0.0), 0.0110, 0.0100),  # knuckle row
)
_PALM_CENTER, _PALM_RADII = np.array([0.0, 0.047, 0.003]), np.array([0.037, 0.050, 0.0165])
_THENAR_END = np.array([0.012, 0.050, 0.004])
_FOREARM = ((0.0, 0.0, 0.0), (0.0, -0.26, -0.005), 0.0225, 0.030)
_TIP_INSET = 0.55


def elbow(shape: HandShape) -> np.ndarray:
    """The far end of the forearm (hand frame), where an upper arm attaches."""
    return np.array(_FOREARM[1]) * shape.scale  # the tip joint sits this many tip radii inside the end of the distal capsule


def hand_shapes(shape: HandShape, joints: np.ndarray, frames: np.ndarray, skin: np.ndarray,
                palm_skin: np.ndarray, first_part: int, arm_part: int,
                sleeve: np.ndarray | None = None, nails: bool = True) -> Shapes:
    """Shapes of one right hand (hand frame): 15 phalanges, the palm and the forearm.

    Part ids follow RHD: phalanx k of finger f gets `first_part + 3f + k`, the palm
    `first_part + 15`, the forearm `arm_part`. `sleeve` colours the forearm (skin if None);
    `nails` draws finger nails (not on gloves).
    """
    s = shape.scale
    hand_z = np.array([0.0, 0.0, 1.0])
    palm = first_part + 15
    rows = []  # (start, end, start radius, end radius, palmar direction, part id, nail)
    for f in range(5):
        for k in range(3):
            a, b = joints[1 + 4 * f + k], joints[2 + 4 * f + k]
            rb = shape.radii[f, k + 1]
            if k == 2:
                b = b - frames[f, 2][:, 1] * (_TIP_INSET * rb)
            rows.append((a, b, shape.radii[f, k], rb, frames[f, k][:, 2], first_part + 3 * f + k, nails and k == 2))
    for f, (start, end, ra, rb) in enumerate(_PALM):
        if end is None:
            rows.append((np.array(start) * s, shape.bases[f + 1], ra * s, shape.radii[f + 1, 0] * 1.05, hand_z, palm, False))
        else:
            rows.append((np.array(start) * s, np.array(end) * s, ra * s, rb * s, hand_z, palm, False))
    rows.append((joints[1], _THENAR_END * s, shape.radii[0, 0] * 0.9, 0.013 * s, hand_z, palm, False))
    start, end, ra, rb = _FOREARM
    rows.append((np.array(start) * s, np.array(end) * s, ra * s, rb * s, hand_z, arm_part, False))
    p0, p1, r0, r1, palmar, part, nail = (np.array(column) for column in zip(*rows))
    n = len(r0)
    color = np.tile(skin, (n, 1))
    palm_color = np.tile(palm_skin, (n, 1))
    if sleeve is not None:
        color[-1] = palm_color[-1] = sleeve
    return Shapes(p0=p0, p1=p1, r0=r0, r1=r1, color=color, palm_color=palm_color, palmar=palmar, nail=nail,
                  part=part, e_center=_PALM_CENTER[None] * s, e_axes=np.eye(3)[None], e_radii=_PALM_RADII[None] * s,
                  e_color=skin[None], e_palm_color=palm_skin[None], e_palmar=hand_z[None], e_part=np.array([palm]))
