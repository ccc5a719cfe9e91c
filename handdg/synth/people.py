"""People in the scenes: subjects (hand shape, skin, clothes), posing and placing hands, bodies.

A hand is posed in its own frame (hand.py), mirrored for a left hand, turned by a random
orientation and moved so that it lands where a scene wants it in the image. Bodies (torso,
head, upper arms to each hand's forearm) make the part-id 1 ("person") of RHD's masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handdg.synth.geometry import random_rotation
from handdg.synth.hand import HandShape, forward_kinematics, hand_shapes, sample_angles, sample_shape
from handdg.synth.render import Shapes

# RHD part ids: 1 person; left hand 2..17, right hand 18..33 (15 phalanges then the palm).
PERSON_PART = 1
FIRST_PART = {"left": 2, "right": 18}

_SKIN = np.array([[0.93, 0.76, 0.65], [0.88, 0.67, 0.54], [0.80, 0.58, 0.44],
                  [0.68, 0.47, 0.34], [0.52, 0.35, 0.24], [0.38, 0.25, 0.18]])
_PALM_TINT = np.array([1.04, 0.97, 0.97])
_CLOTHES = np.array([[0.15, 0.18, 0.35], [0.60, 0.10, 0.12], [0.20, 0.20, 0.20], [0.85, 0.85, 0.82],
                     [0.25, 0.45, 0.30], [0.55, 0.45, 0.30], [0.35, 0.55, 0.75]])
_GLOVES = np.array([[0.08, 0.08, 0.09], [0.88, 0.88, 0.86], [0.42, 0.28, 0.18], [0.32, 0.38, 0.48]])
_FOREARM_DIR = np.array([0.0, -1.0, 0.0])  # hand frame

@dataclass
class Subject:
    """A person: hand shape, skin, clothing and (some rendered characters) gloves."""

    shape: HandShape
    skin: np.ndarray
    sleeve: np.ndarray | None
    clothes: np.ndarray
    gloves: np.ndarray | None = None


def sample_subject(rng: np.random.Generator, sleeve_probability: float = 0.5, glove_probability: float = 0.0) -> Subject:
    """A random person: hand size and proportions, skin tone, sleeve, clothes and glove colours."""
    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.93, 1.05, 3)
    clothes = _CLOTHES[rng.integers(len(_CLOTHES))] * rng.uniform(0.7, 1.2)
    sleeve = clothes if rng.random() < sleeve_probability else None
    shape = sample_shape(rng)
    gloves = _GLOVES[rng.integers(len(_GLOVES))] if rng.random() < glove_probability else None
    return Subject(shape=shape, skin=np.clip(skin, 0, 1), sleeve=sleeve, clothes=np.clip(clothes, 0, 1), gloves=gloves)


def posed_hand(rng: np.random.Generator, subject: Subject, side: str, style: str) -> tuple[np.ndarray, Shapes]:
    """Joints (21, 3) and shapes of one articulated hand in the right-hand frame (gloved if the subject is)."""
    joints, frames = forward_kinematics(subject.shape, sample_angles(rng, style))
    bare = subject.gloves is None
    back = subject.skin if bare else subject.gloves
    palm = np.clip(subject.skin * _PALM_TINT, 0, 1) if bare else subject.gloves
    shapes = hand_shapes(subject.shape, joints, frames, back, palm, FIRST_PART[side], PERSON_PART, subject.sleeve,
                         nails=bare)
    return joints, shapes


def random_orientation(rng: np.random.Generator, forearm_min: np.ndarray, limit: float) -> np.ndarray:
    """A random hand-to-camera rotation whose forearm direction d satisfies d . forearm_min >= limit."""
    while True:
        rotation = random_rotation(rng)
        if (rotation @ _FOREARM_DIR) @ forearm_min >= limit:
            return rotation


def placement(joints: np.ndarray, rotation: np.ndarray, mirror: bool, K: np.ndarray,
              center_uv: np.ndarray, extent_px: float) -> np.ndarray:
    """Translation putting the joints' centroid on pixel `center_uv` at the depth where they span `extent_px`."""
    m = np.array([-1.0 if mirror else 1.0, 1.0, 1.0])
    rotated = (joints * m) @ rotation.T
    extent = np.ptp(rotated[:, :2], axis=0).max()
    depth = K[0, 0] * extent / extent_px
    ray = np.linalg.solve(K, np.array([center_uv[0], center_uv[1], 1.0]))
    return depth * ray - rotated.mean(axis=0)


@dataclass
class Placed:
    """A hand put into the camera frame: joints, shapes, side and where its forearm ends."""

    xyz: np.ndarray
    shapes: Shapes
    side: str
    elbow: np.ndarray


def place(joints: np.ndarray, shapes: Shapes, side: str, rotation: np.ndarray, translation: np.ndarray,
          elbow_point: np.ndarray) -> Placed:
    """Move a hand (and its forearm's end `elbow_point`) from its frame into the camera frame, mirrored if left."""
    mirror = side == "left"
    m = np.array([-1.0 if mirror else 1.0, 1.0, 1.0])
    return Placed((joints * m) @ rotation.T + translation, shapes.transformed(rotation, translation, mirror), side,
                  (elbow_point * m) @ rotation.T + translation)


_SHOULDER = np.array([0.17, -0.20, 0.0])  # the person's left shoulder from the chest (camera frame, facing us)
_HEAD_FROM_CHEST = np.array([0.0, -0.36, 0.02])
_HAIR = np.array([0.16, 0.11, 0.07])
_EYES = np.array([[-0.03, -0.012, -0.086], [0.03, -0.012, -0.086]])  # from the head centre


def person(subject: Subject, chest: np.ndarray, hands: list[Placed]) -> Shapes:
    """A torso, a head with hair and eyes, facing the camera, and an upper arm to each hand's elbow (part id 1)."""
    head = chest + _HEAD_FROM_CHEST
    centers = np.stack([chest, head, head + [0.0, -0.028, 0.018]])
    radii = np.array([[0.19, 0.30, 0.11], [0.085, 0.11, 0.095], [0.092, 0.10, 0.095]])
    colors = np.stack([subject.clothes, subject.skin, _HAIR])
    sleeve = subject.skin if subject.sleeve is None else subject.sleeve
    shoulders = [chest + _SHOULDER * [1.0 if h.side == "left" else -1.0, 1.0, 1.0] for h in hands]
    eyes = list(head + _EYES)
    p0 = np.array([h.elbow for h in hands] + eyes)
    p1 = np.array(shoulders + eyes)
    r0 = np.array([0.032] * len(hands) + [0.009] * 2)
    r1 = np.array([0.042] * len(hands) + [0.009] * 2)
    color = np.array([sleeve] * len(hands) + [[0.12, 0.1, 0.09]] * 2)
    n = len(p0)
    return Shapes(p0=p0, p1=p1, r0=r0, r1=r1, color=color, palm_color=color, palmar=np.zeros((n, 3)),
                  nail=np.zeros(n, bool), part=np.full(n, PERSON_PART), e_center=centers,
                  e_axes=np.eye(3)[None].repeat(3, axis=0), e_radii=radii, e_color=colors, e_palm_color=colors,
                  e_palmar=np.zeros((3, 3)), e_part=np.full(3, PERSON_PART))
