"""The overlay `handdg predict` writes: each hand's 2D skeleton and box on the photo, a small 3D view beside it."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from handdg.data.overlay import draw_hand

VIEW_YAW, VIEW_PITCH = np.radians(35.0), np.radians(20.0)


def _view(points_mm: np.ndarray) -> np.ndarray:
    """Root-relative camera-frame mm -> 2D of an orthographic view turned 35° about y and tilted 20° (y down)."""
    cy, sy, cp, sp = np.cos(VIEW_YAW), np.sin(VIEW_YAW), np.cos(VIEW_PITCH), np.sin(VIEW_PITCH)
    yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    return (points_mm @ yaw.T @ pitch.T)[:, :2]


def inset_3d(relative_mm: np.ndarray, side: int) -> Image.Image:
    """A side x side picture of a root-relative hand seen from a fixed oblique view, scaled to fit."""
    panel = Image.new("RGB", (side, side), (30, 30, 30))
    flat = _view(np.asarray(relative_mm, dtype=np.float64))
    span = max(float(np.ptp(flat, axis=0).max()), 1e-6)
    centre = (flat.max(axis=0) + flat.min(axis=0)) / 2
    draw_hand(panel, (flat - centre) * (0.8 * side / span) + side / 2, radius=max(2, side // 60))
    ImageDraw.Draw(panel).text((3, 3), "3D", fill=(220, 220, 220))
    return panel


def draw_overlay(image: np.ndarray, hands: list[dict]) -> Image.Image:
    """The photo with every hand's box, skeleton and side; to its right, the first hand's 3D view (when known)."""
    photo = Image.fromarray(np.ascontiguousarray(image)).convert("RGB")
    draw = ImageDraw.Draw(photo)
    for hand in hands:
        x, y, w, h = hand["bbox"]
        draw.rectangle((x, y, x + w, y + h), outline=(255, 255, 255))
        draw.text((x + 2, y + 2), hand["side"], fill=(255, 255, 255))
        draw_hand(photo, np.array([j["uv"] for j in hand["joints"]]))
    shown = next((hand for hand in hands if hand["joints"][0]["xyz_mm"] is not None), None)
    if shown is None:
        return photo
    side = max(64, min(photo.size) // 2)
    canvas = Image.new("RGB", (photo.size[0] + side, max(photo.size[1], side)))
    canvas.paste(photo, (0, 0))
    canvas.paste(inset_3d(np.array([j["xyz_mm"] for j in shown["joints"]]), side), (photo.size[0], 0))
    return canvas
