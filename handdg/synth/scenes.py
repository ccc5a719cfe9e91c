"""Scenes per domain: who is in the picture, where the camera is, how the light and sensor look.

- freihand (source): one right hand held up in front of a studio green screen, hand-centred
  224x224 crops; the same render composited four ways (FreiHAND's gs/hom/sample/auto versions).
- rhd (target): a rendered person with both hands, small in a 320x320 outdoor-like picture,
  hard sunlight, crisp CG look.
- stb (target): one subject's left hand in one lab room, seen at 640x480 by the RealSense colour
  camera (SK) and a Bumblebee stereo pair (BB), dim warm light, sensor noise and blur.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter

from handdg.data.camera import intrinsics, project
from handdg.data.stb import BB_BASELINE_MM, CAMERAS as STB_CAMERAS
from handdg.synth import backgrounds
from handdg.synth.geometry import random_rotation
from handdg.synth.hand import (POSE_STYLES, HandShape, elbow, forward_kinematics, hand_shapes, sample_angles,
                               sample_shape)
from handdg.synth.render import Layers, Light, Shapes, render

FREIHAND_SIZE = 224
RHD_SIZE = 320
STB_SIZE = (480, 640)  # (height, width)
STB_BB_LEFT_FROM_SK = np.array([0.060, 0.0, 0.0])  # xyz_bb_left = xyz_sk_color + this (metres): the
# SK camera sits midway between the two Bumblebee cameras, so a hand centred for SK is centred for the pair

# RHD part ids: 1 person; left hand 2..17, right hand 18..33 (15 phalanges then the palm).
PERSON_PART = 1
FIRST_PART = {"left": 2, "right": 18}

_SKIN = np.array([[0.93, 0.76, 0.65], [0.88, 0.67, 0.54], [0.80, 0.58, 0.44],
                  [0.68, 0.47, 0.34], [0.52, 0.35, 0.24], [0.38, 0.25, 0.18]])
_PALM_TINT = np.array([1.04, 0.97, 0.97])
_CLOTHES = np.array([[0.15, 0.18, 0.35], [0.60, 0.10, 0.12], [0.20, 0.20, 0.20], [0.85, 0.85, 0.82],
                     [0.25, 0.45, 0.30], [0.55, 0.45, 0.30], [0.35, 0.55, 0.75]])
_FOREARM_DIR = np.array([0.0, -1.0, 0.0])  # hand frame


@dataclass
class Hand:
    """Ground truth of one hand in a view: joints in metres (camera frame, FreiHAND order, wrist root)."""

    xyz: np.ndarray  # (21, 3)
    side: str  # "left" | "right"
    visible: np.ndarray  # (21,) bool: in the image and not hidden behind something nearer


@dataclass
class View:
    """One rendered image with everything a writer needs."""

    image: np.ndarray  # (H, W, 3) uint8
    K: np.ndarray  # (3, 3)
    hands: list[Hand]
    part: np.ndarray  # (H, W) int16: 0 background, 1 person, 2..33 RHD hand parts
    depth: np.ndarray  # (H, W) float32 metres, inf where only background


@dataclass
class Subject:
    """A person: hand shape, skin and clothing."""

    shape: HandShape
    skin: np.ndarray
    sleeve: np.ndarray | None
    clothes: np.ndarray


def sample_subject(rng: np.random.Generator, sleeve_probability: float = 0.5) -> Subject:
    """A random person: hand size and proportions, skin tone, sleeve and clothes colours."""
    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.93, 1.05, 3)
    clothes = _CLOTHES[rng.integers(len(_CLOTHES))] * rng.uniform(0.7, 1.2)
    sleeve = clothes if rng.random() < sleeve_probability else None
    return Subject(shape=sample_shape(rng), skin=np.clip(skin, 0, 1), sleeve=sleeve, clothes=np.clip(clothes, 0, 1))


def _posed(rng: np.random.Generator, subject: Subject, side: str, style: str) -> tuple[np.ndarray, Shapes]:
    """Joints (21, 3) and shapes of one articulated hand in the right-hand frame."""
    joints, frames = forward_kinematics(subject.shape, sample_angles(rng, style))
    shapes = hand_shapes(subject.shape, joints, frames, subject.skin, np.clip(subject.skin * _PALM_TINT, 0, 1),
                         FIRST_PART[side], PERSON_PART, subject.sleeve)
    return joints, shapes


def _orientation(rng: np.random.Generator, forearm_min: np.ndarray, limit: float) -> np.ndarray:
    """A random hand-to-camera rotation whose forearm direction d satisfies d . forearm_min >= limit."""
    while True:
        rotation = random_rotation(rng)
        if (rotation @ _FOREARM_DIR) @ forearm_min >= limit:
            return rotation


def _placement(joints: np.ndarray, rotation: np.ndarray, mirror: bool, K: np.ndarray,
               center_uv: np.ndarray, extent_px: float) -> np.ndarray:
    """Translation putting the joints' centroid on pixel `center_uv` at the depth where they span `extent_px`."""
    m = np.array([-1.0 if mirror else 1.0, 1.0, 1.0])
    rotated = (joints * m) @ rotation.T
    extent = np.ptp(rotated[:, :2], axis=0).max()
    depth = K[0, 0] * extent / extent_px
    ray = np.linalg.solve(K, np.array([center_uv[0], center_uv[1], 1.0]))
    return depth * ray - rotated.mean(axis=0)


@dataclass
class _Placed:
    """A hand put into the camera frame: joints, shapes, side and where its forearm ends."""

    xyz: np.ndarray
    shapes: Shapes
    side: str
    elbow: np.ndarray


def _place(joints, shapes, side, rotation, translation, elbow_point) -> _Placed:
    """Move a hand from its frame into the camera frame (mirrored for a left hand)."""
    mirror = side == "left"
    m = np.array([-1.0 if mirror else 1.0, 1.0, 1.0])
    return _Placed((joints * m) @ rotation.T + translation, shapes.transformed(rotation, translation, mirror), side,
                   (elbow_point * m) @ rotation.T + translation)


def _visible(xyz: np.ndarray, K: np.ndarray, depth: np.ndarray, tolerance: float = 0.02) -> np.ndarray:
    """Joints inside the image whose pixel shows nothing nearer than the joint minus `tolerance`."""
    h, w = depth.shape
    uv = np.round(project(xyz, K)).astype(int)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h) & (xyz[:, 2] > 0)
    vis = np.zeros(len(xyz), bool)
    idx = np.flatnonzero(inside)
    vis[idx] = depth[uv[idx, 1], uv[idx, 0]] > xyz[idx, 2] - tolerance
    return vis


_SHOULDER = np.array([0.17, -0.20, 0.0])  # the person's left shoulder from the chest (camera frame, facing us)


_HEAD_FROM_CHEST = np.array([0.0, -0.36, 0.02])
_HAIR = np.array([0.16, 0.11, 0.07])
_EYES = np.array([[-0.03, -0.012, -0.086], [0.03, -0.012, -0.086]])  # from the head centre


def _person(subject: Subject, chest: np.ndarray, hands: list[_Placed]) -> Shapes:
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


def _view(layers: Layers, image: np.ndarray, K: np.ndarray, hands: list[_Placed]) -> View:
    """Bundle a final image with per-hand ground truth (visibility from the depth buffer)."""
    truth = [Hand(h.xyz, h.side, _visible(h.xyz, K, layers.depth)) for h in hands]
    return View(image=image, K=K, hands=truth, part=layers.part, depth=layers.depth)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] image to uint8."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _sensor(rng: np.random.Generator, image: np.ndarray, blur: float, noise: float, gain: np.ndarray,
            gamma: float = 1.0) -> np.ndarray:
    """A real camera's look: colour cast `gain`, per-pixel noise, tone curve, optical blur; uint8 out."""
    img = image * np.asarray(gain, np.float32)
    if noise > 0:
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(noise)
    out = to_uint8(img)
    if gamma != 1.0:
        out = (255.0 * (np.arange(256) / 255.0) ** gamma + 0.5).astype(np.uint8)[out]
    if blur > 0:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.BoxBlur(blur)))
    return out


def _skin_texture(rng: np.random.Generator, layers: Layers) -> Layers:
    """Blotchy low-contrast albedo variation over the foreground, so skin does not look like plastic."""
    h, w = layers.alpha.shape
    texture = 0.93 + 0.14 * backgrounds.smooth_noise(rng, h, w, max(4, max(h, w) // 30))
    layers.rgb *= texture
    return layers


def _shadow(alpha: np.ndarray, offset: np.ndarray, blur: float) -> np.ndarray:
    """A soft shadow of the foreground: its coverage shifted by `offset` (u, v) pixels and blurred, in [0, 1]."""
    shifted = np.roll(alpha, (int(offset[1]), int(offset[0])), axis=(0, 1))
    img = Image.fromarray(to_uint8(shifted)).filter(ImageFilter.BoxBlur(blur))
    return np.asarray(img, np.float32) / 255.0


# ---------------------------------------------------------------- FreiHAND


FREIHAND_VERSIONS = ("gs", "hom", "sample", "auto")


def freihand_views(rng: np.random.Generator) -> tuple[list[np.ndarray], View]:
    """One FreiHAND sample: its four image versions (gs, hom, sample, auto) and the green-screen view."""
    size = FREIHAND_SIZE
    subject = sample_subject(rng)
    joints, shapes = _posed(rng, subject, "right", POSE_STYLES[rng.integers(len(POSE_STYLES))])
    f = rng.uniform(430.0, 650.0)
    K = intrinsics(f, f, size / 2 + rng.normal(0, 2), size / 2 + rng.normal(0, 2))
    rotation = _orientation(rng, np.array([0.0, 0.0, 1.0]), -0.3)
    translation = _placement(joints, rotation, False, K, size / 2 + rng.normal(0, 6, 2), rng.uniform(100, 165))
    hand = _place(joints, shapes, "right", rotation, translation, elbow(subject.shape))
    light = Light(direction=np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.7, -0.1), -1.0]),
                  ambient=rng.uniform(0.38, 0.5), diffuse=rng.uniform(0.55, 0.75), specular=0.08)
    layers = _skin_texture(rng, render(hand.shapes, K, size, size, light))
    screen = backgrounds.green_screen(rng, size, size)
    offset = (light.direction[:2] / -light.direction[2] * rng.uniform(6, 14)).round().astype(int)
    screen *= 1.0 - 0.35 * _shadow(layers.alpha, offset, blur=6.0)[..., None]
    versions = [layers.over(screen)]
    for name in FREIHAND_VERSIONS[1:]:
        fg, bg = layers.rgb, backgrounds.indoor_clutter(rng, size, size)
        if name == "hom":  # harmonised: the hand takes on the new background's mean colour
            fg = fg * (0.75 + 0.25 * bg.mean(axis=(0, 1)) / 0.5)
        elif name == "auto":  # automatic recolouring of the hand
            fg = fg * (rng.uniform(0.8, 1.2) * rng.uniform(0.9, 1.1, 3)).astype(np.float32)
        versions.append(fg + (1.0 - layers.alpha[..., None]) * bg)
    images = [_sensor(rng, v, blur=rng.uniform(0.0, 0.5), noise=0.008, gain=np.ones(3)) for v in versions]
    return images, _view(layers, images[0], K, [hand])


# ---------------------------------------------------------------- RHD


def rhd_view(rng: np.random.Generator) -> View:
    """One RHD frame: a person with both hands in front of an outdoor scene, hard sunlight."""
    size = RHD_SIZE
    subject = sample_subject(rng, sleeve_probability=0.7)
    f = rng.uniform(260.0, 320.0)
    K = intrinsics(f, f, size / 2, size / 2)
    first = "left" if rng.random() < 0.5 else "right"
    placed = []
    center = rng.uniform(0.25, 0.75, 2) * size
    extent = rng.uniform(45.0, 120.0)
    for k, side in enumerate((first, "right" if first == "left" else "left")):
        joints, shapes = _posed(rng, subject, side, POSE_STYLES[rng.integers(len(POSE_STYLES))])
        rotation = _orientation(rng, np.array([0.0, 0.0, 1.0]), -0.2)
        translation = _placement(joints, rotation, side == "left", K, center, extent)
        if k == 1:  # the other hand: a shoulder-width away from the first, at a similar depth
            sign = 1.0 if side == "left" else -1.0
            offset = np.array([sign * rng.uniform(0.2, 0.45), rng.uniform(-0.15, 0.15), rng.uniform(-0.1, 0.15)])
            centred = _place(joints, shapes, side, rotation, np.zeros(3), np.zeros(3)).xyz.mean(0)
            translation = placed[0].xyz.mean(0) + offset - centred
        placed.append(_place(joints, shapes, side, rotation, translation, elbow(subject.shape)))
    chest = 0.5 * (placed[0].elbow + placed[1].elbow) + np.array([0.0, rng.uniform(0.05, 0.2), rng.uniform(0.2, 0.3)])
    scene = Shapes.concat([placed[0].shapes, placed[1].shapes, _person(subject, chest, placed)])
    sun = np.array([rng.uniform(-1, 1), rng.uniform(-1, -0.2), rng.uniform(-1, 0.3)])
    light = Light(direction=sun, ambient=rng.uniform(0.25, 0.35), diffuse=rng.uniform(0.85, 1.05),
                  specular=0.2, color=np.array([1.0, rng.uniform(0.92, 1.0), rng.uniform(0.82, 0.95)]))
    layers = _skin_texture(rng, render(scene, K, size, size, light))
    image = layers.over(backgrounds.outdoor(rng, size, size))
    image = _sensor(rng, image, blur=0.0, noise=0.0, gain=np.full(3, rng.uniform(0.95, 1.1)), gamma=0.9)
    return _view(layers, image, K, placed)


# ---------------------------------------------------------------- STB


@lru_cache(maxsize=6)
def _stb_room(background: int) -> np.ndarray:
    """STB background `background` (1..6; the same for every frame and camera of its sequences)."""
    return backgrounds.stb_room(*STB_SIZE, background)


def stb_subject() -> Subject:
    """STB's single subject (the same in every sequence)."""
    return sample_subject(np.random.default_rng(1500), sleeve_probability=1.0)


def stb_views(rng: np.random.Generator, subject: Subject, style: str, background: int = 1) -> dict[str, View]:
    """One STB frame seen by the SK colour camera and the BB stereo pair; keys sk, bb_left, bb_right.

    The hand is posed in the SK colour camera's frame; BB-left sees it shifted by
    STB_BB_LEFT_FROM_SK and BB-right a further baseline to the left.
    """
    h, w = STB_SIZE
    joints, shapes = _posed(rng, subject, "left", style)
    sk_K = STB_CAMERAS["sk"].K
    rotation = _orientation(rng, np.array([0.0, 1.0, 0.3]), 0.2)
    center = np.array([w / 2, h / 2]) + rng.normal(0, [35, 25])
    translation = _placement(joints, rotation, True, sk_K, center, rng.uniform(140, 210))
    centroid = _place(joints, shapes, "left", rotation, translation, np.zeros(3)).xyz.mean(axis=0)
    chest = centroid + np.array([-0.17, 0.33, 0.30]) + rng.normal(0, 0.03, 3)  # seated, head beside the hand
    light = Light(direction=np.array([0.2, -1.0, -0.5]) + rng.normal(0, 0.1, 3), ambient=0.45, diffuse=0.55,
                  specular=0.06, color=np.array([1.0, 0.93, 0.80]))
    cameras = {"sk": (sk_K, np.zeros(3), 1.2, 0.035, np.array([1.04, 0.98, 0.86])),
               "bb_left": (STB_CAMERAS["bb"].K, STB_BB_LEFT_FROM_SK, 0.7, 0.02, np.array([0.95, 0.98, 1.02])),
               "bb_right": (STB_CAMERAS["bb"].K, STB_BB_LEFT_FROM_SK - [BB_BASELINE_MM / 1000.0, 0, 0], 0.7, 0.02,
                            np.array([0.95, 0.98, 1.02]))}
    views = {}
    for name, (K, shift, blur, noise, gain) in cameras.items():
        hand = _place(joints, shapes, "left", rotation, translation + shift, elbow(subject.shape))
        scene = Shapes.concat([hand.shapes, _person(subject, chest + shift, [hand])])
        layers = _skin_texture(rng, render(scene, K, h, w, light))
        shift_px = int(round(K[0, 0] * shift[0] / 2.5))  # the room is ~2.5 m away: a little parallax
        image = layers.over(np.roll(_stb_room(background), shift_px, axis=1))
        image = _sensor(rng, image, blur=blur, noise=noise, gain=gain, gamma=1.1)
        views[name] = _view(layers, image, K, [hand])
    return views
