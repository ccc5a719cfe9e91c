"""Scenes per domain: who is in the picture, where the camera is, how the light and sensor look.

- freihand (source): one right hand held up in front of a studio green screen, hand-centred
  224x224 crops; the same render composited four ways (FreiHAND's gs/hom/sample/auto versions).
- rhd (target): a rendered person with both hands, small in a 320x320 outdoor-like picture,
  hard sunlight, crisp CG look.
- stb (target): one subject's left hand in one lab room, seen at 640x480 by the RealSense colour
  camera (SK) and a Bumblebee stereo pair (BB), dim warm light, sensor noise and blur.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from handdg.data.camera import intrinsics, project
from handdg.data.stb import BB_BASELINE_MM, CAMERAS as STB_CAMERAS
from handdg.synth import backgrounds
from handdg.synth.attributes import Attributes, Described, draw_look, hand_albedo, nearest_colour, nearest_hand_colour
from handdg.synth.described import described as described_backdrop
from handdg.synth.hand import POSE_STYLES, elbow
from handdg.synth.look import drop_shadow, sensor, skin_texture
from handdg.synth.people import Placed, Subject, person, place, placement, posed_hand, random_orientation
from handdg.synth.render import Layers, Light, Shapes, render

FREIHAND_SIZE = 224
RHD_SIZE = 320
STB_SIZE = (480, 640)  # (height, width)
STB_BB_LEFT_FROM_SK = np.array([0.060, 0.0, 0.0])  # xyz_bb_left = xyz_sk_color + this (metres): the
# SK camera sits midway between the two Bumblebee cameras, so a hand centred for SK is centred for the pair


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
    attributes: Attributes | None = None  # what the image shows, in Table 2's words


def _visible(xyz: np.ndarray, K: np.ndarray, depth: np.ndarray, tolerance: float = 0.02) -> np.ndarray:
    """Joints inside the image whose pixel shows nothing nearer than the joint minus `tolerance`."""
    h, w = depth.shape
    uv = np.round(project(xyz, K)).astype(int)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h) & (xyz[:, 2] > 0)
    vis = np.zeros(len(xyz), bool)
    idx = np.flatnonzero(inside)
    vis[idx] = depth[uv[idx, 1], uv[idx, 0]] > xyz[idx, 2] - tolerance
    return vis


def _view(layers: Layers, image: np.ndarray, K: np.ndarray, hands: list[Placed], attributes: Attributes) -> View:
    """Bundle a final image with per-hand ground truth (visibility from the depth buffer)."""
    truth = [Hand(h.xyz, h.side, _visible(h.xyz, K, layers.depth)) for h in hands]
    return View(image=image, K=K, hands=truth, part=layers.part, depth=layers.depth, attributes=attributes)


def _dress(rng: np.random.Generator, subject: Subject, look: Described | None) -> Subject:
    """The subject with bare hands of the described colour (unchanged for a domain's own look)."""
    return subject if look is None else replace(subject, skin=hand_albedo(rng, look.hand_colour), gloves=None)


def _hand_word(subject: Subject) -> str:
    """The hand colour word of a subject's hands (gloves when gloved)."""
    return nearest_hand_colour(subject.skin if subject.gloves is None else subject.gloves)


def _attributes(subject: Subject, look: Described | None, background: np.ndarray, place: str, sides: list[str],
                domain_look: str) -> Attributes:
    """The record of an image: the described words, or the domain look named by the nearest words."""
    hands = tuple(sorted(set(sides)))
    if look is not None:
        return Attributes(look.hand_colour, look.colour, look.place, hands, look.look)
    colour = nearest_colour(background.reshape(-1, 3).mean(axis=0))
    return Attributes(_hand_word(subject), colour, place, hands, domain_look, subject.gloves is not None)




FREIHAND_VERSIONS = ("gs", "hom", "sample", "auto")


def freihand_views(rng: np.random.Generator, subject: Subject, look: Described | None = None
                   ) -> tuple[list[np.ndarray], View, list[Attributes]]:
    """One FreiHAND sample: four image versions (gs, hom, sample, auto), the first one's view, each one's attributes.

    With a described `look` the hand takes its colour and side and the four versions show it
    over four described backdrops (the first the look's own, the others drawn afresh).
    """
    size = FREIHAND_SIZE
    subject = _dress(rng, subject, look)
    side = "right" if look is None else look.side
    joints, shapes = posed_hand(rng, subject, side, POSE_STYLES[rng.integers(len(POSE_STYLES))])
    f = rng.uniform(430.0, 650.0)
    K = intrinsics(f, f, size / 2 + rng.normal(0, 2), size / 2 + rng.normal(0, 2))
    rotation = random_orientation(rng, np.array([0.0, 0.0, 1.0]), -0.3)
    translation = placement(joints, rotation, side == "left", K, size / 2 + rng.normal(0, 6, 2), rng.uniform(100, 165))
    hand = place(joints, shapes, side, rotation, translation, elbow(subject.shape))
    light = Light(direction=np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.7, -0.1), -1.0]),
                  ambient=rng.uniform(0.38, 0.5), diffuse=rng.uniform(0.55, 0.75), specular=0.08)
    layers = skin_texture(rng, render(hand.shapes, K, size, size, light))
    if look is not None:
        return _described_versions(rng, layers, _shadow(rng, layers, light), look, subject, K, hand)
    screen = backgrounds.green_screen(rng, size, size)
    screen *= _shadow(rng, layers, light)
    versions = [layers.over(screen)]
    attributes = [_attributes(subject, None, screen, "background", [side], "green screen")]
    for name in FREIHAND_VERSIONS[1:]:
        fg, bg = layers.rgb, backgrounds.indoor_clutter(rng, size, size)
        if name == "hom":  # harmonised: the hand takes on the new background's mean colour
            fg = fg * (0.75 + 0.25 * bg.mean(axis=(0, 1)) / 0.5)
        elif name == "auto":  # automatic recolouring of the hand
            fg = fg * (rng.uniform(0.8, 1.2) * rng.uniform(0.9, 1.1, 3)).astype(np.float32)
        versions.append(fg + (1.0 - layers.alpha[..., None]) * bg)
        attributes.append(_attributes(subject, None, bg, "room", [side], "indoor"))
    images = [sensor(rng, v, blur=rng.uniform(0.0, 0.5), noise=0.008, gain=np.ones(3)) for v in versions]
    return images, _view(layers, images[0], K, [hand], attributes[0]), attributes


def _shadow(rng: np.random.Generator, layers: Layers, light: Light) -> np.ndarray:
    """(H, W, 1) factor darkening a backdrop by the hand's soft shadow, cast away from the light."""
    offset = (light.direction[:2] / -light.direction[2] * rng.uniform(6, 14)).round().astype(int)
    return 1.0 - 0.35 * drop_shadow(layers.alpha, offset, blur=6.0)[..., None]


def _described_versions(rng: np.random.Generator, layers: Layers, shadow: np.ndarray, look: Described,
                        subject: Subject, K: np.ndarray, hand: Placed) -> tuple[list[np.ndarray], View, list[Attributes]]:
    """The four FreiHAND versions of a described look: one hand over four described backdrops."""
    size = FREIHAND_SIZE
    images, attributes = [], []
    for k in range(len(FREIHAND_VERSIONS)):
        words = look if k == 0 else replace(draw_look(rng, look.look), hand_colour=look.hand_colour, side=look.side)
        backdrop = described_backdrop(rng, words.colour, words.place, size, size) * shadow
        images.append(sensor(rng, layers.over(backdrop), blur=rng.uniform(0.0, 0.5), noise=0.008, gain=np.ones(3)))
        attributes.append(_attributes(subject, words, backdrop, words.place, [hand.side], look.look))
    return images, _view(layers, images[0], K, [hand], attributes[0]), attributes


# ---------------------------------------------------------------- RHD


def rhd_view(rng: np.random.Generator, subject: Subject, look: Described | None = None) -> View:
    """One RHD frame: `subject` with both hands in front of an outdoor scene (or a described look), hard sunlight."""
    size = RHD_SIZE
    subject = _dress(rng, subject, look)
    f = rng.uniform(260.0, 320.0)
    K = intrinsics(f, f, size / 2, size / 2)
    first = "left" if rng.random() < 0.5 else "right"
    placed = []
    center = rng.uniform(0.25, 0.75, 2) * size
    extent = rng.uniform(45.0, 120.0)
    for k, side in enumerate((first, "right" if first == "left" else "left")):
        joints, shapes = posed_hand(rng, subject, side, POSE_STYLES[rng.integers(len(POSE_STYLES))])
        rotation = random_orientation(rng, np.array([0.0, 0.0, 1.0]), -0.2)
        translation = placement(joints, rotation, side == "left", K, center, extent)
        if k == 1:  # the other hand: a shoulder-width away from the first, at a similar depth
            sign = 1.0 if side == "left" else -1.0
            offset = np.array([sign * rng.uniform(0.2, 0.45), rng.uniform(-0.15, 0.15), rng.uniform(-0.1, 0.15)])
            centred = place(joints, shapes, side, rotation, np.zeros(3), np.zeros(3)).xyz.mean(0)
            translation = placed[0].xyz.mean(0) + offset - centred
        placed.append(place(joints, shapes, side, rotation, translation, elbow(subject.shape)))
    chest = 0.5 * (placed[0].elbow + placed[1].elbow) + np.array([0.0, rng.uniform(0.05, 0.2), rng.uniform(0.2, 0.3)])
    scene = Shapes.concat([placed[0].shapes, placed[1].shapes, person(subject, chest, placed)])
    sun = np.array([rng.uniform(-1, 1), rng.uniform(-1, -0.2), rng.uniform(-1, 0.3)])
    light = Light(direction=sun, ambient=rng.uniform(0.25, 0.35), diffuse=rng.uniform(0.85, 1.05),
                  specular=0.3, shininess=30.0, color=np.array([1.0, rng.uniform(0.92, 1.0), rng.uniform(0.82, 0.95)]))
    layers = skin_texture(rng, render(scene, K, size, size, light))
    if look is None:
        backdrop, place_word = backgrounds.outdoor(rng, size, size), "background"
    else:
        backdrop, place_word = described_backdrop(rng, look.colour, look.place, size, size), look.place
    attributes = _attributes(subject, look, backdrop, place_word, [p.side for p in placed], "outdoor")
    image = sensor(rng, layers.over(backdrop), blur=0.0, noise=0.0, gain=np.full(3, rng.uniform(0.95, 1.1)), gamma=0.9)
    return _view(layers, image, K, placed, attributes)


# ---------------------------------------------------------------- STB


@lru_cache(maxsize=6)
def _stb_room(background: int) -> np.ndarray:
    """STB background `background` (1..6; the same for every frame and camera of its sequences)."""
    return backgrounds.stb_room(*STB_SIZE, background)


def stb_views(rng: np.random.Generator, subject: Subject, style: str, background: int = 1,
              look: Described | None = None) -> dict[str, View]:
    """One STB frame seen by the SK colour camera and the BB stereo pair; keys sk, bb_left, bb_right.

    The hand is posed in the SK colour camera's frame; BB-left sees it shifted by
    STB_BB_LEFT_FROM_SK and BB-right a further baseline to the left.
    """
    h, w = STB_SIZE
    subject = _dress(rng, subject, look)
    room = _stb_room(background) if look is None else described_backdrop(rng, look.colour, look.place, h, w)
    attributes = _attributes(subject, look, room, "room", ["left"], "lab room")
    joints, shapes = posed_hand(rng, subject, "left", style)
    sk_K = STB_CAMERAS["sk"].K
    rotation = random_orientation(rng, np.array([0.0, 1.0, 0.3]), 0.2)
    center = np.array([w / 2, h / 2]) + rng.normal(0, [35, 25])
    translation = placement(joints, rotation, True, sk_K, center, rng.uniform(140, 210))
    centroid = place(joints, shapes, "left", rotation, translation, np.zeros(3)).xyz.mean(axis=0)
    chest = centroid + np.array([-0.17, 0.33, 0.30]) + rng.normal(0, 0.03, 3)  # seated, head beside the hand
    light = Light(direction=np.array([0.2, -1.0, -0.5]) + rng.normal(0, 0.1, 3), ambient=0.45, diffuse=0.55,
                  specular=0.06, color=np.array([1.0, 0.93, 0.80]))
    cameras = {"sk": (sk_K, np.zeros(3), 1.2, 0.035, np.array([1.04, 0.98, 0.86])),
               "bb_left": (STB_CAMERAS["bb"].K, STB_BB_LEFT_FROM_SK, 0.7, 0.02, np.array([0.95, 0.98, 1.02])),
               "bb_right": (STB_CAMERAS["bb"].K, STB_BB_LEFT_FROM_SK - [BB_BASELINE_MM / 1000.0, 0, 0], 0.7, 0.02,
                            np.array([0.95, 0.98, 1.02]))}
    views = {}
    for name, (K, shift, blur, noise, gain) in cameras.items():
        hand = place(joints, shapes, "left", rotation, translation + shift, elbow(subject.shape))
        scene = Shapes.concat([hand.shapes, person(subject, chest + shift, [hand])])
        layers = skin_texture(rng, render(scene, K, h, w, light))
        shift_px = int(round(K[0, 0] * shift[0] / 2.5))  # the room is ~2.5 m away: a little parallax
        image = layers.over(np.roll(room, shift_px, axis=1))
        image = sensor(rng, image, blur=blur, noise=noise, gain=gain, gamma=1.1)
        views[name] = _view(layers, image, K, [hand], attributes)
    return views
