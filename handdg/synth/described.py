"""Backdrops drawn from Table 2's background words: plain colours, bright, dark, mountain, lake, dotted, flower.

"background" is the word's backdrop filling the frame; "room" is the same backdrop as the wall
of a room with a floor and furniture in front of it. Drawn small with PIL and upsampled.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from handdg.synth.attributes import COLOUR_RGB
from handdg.synth.backgrounds import draw_shapes, finish

_FURNITURE = np.array([[0.40, 0.28, 0.18], [0.30, 0.30, 0.32], [0.55, 0.45, 0.35], [0.20, 0.16, 0.12]])
_PETALS = np.array([[0.90, 0.15, 0.20], [0.95, 0.60, 0.75], [0.97, 0.97, 0.95], [0.60, 0.30, 0.80]])


def _rgb(color: np.ndarray) -> tuple[int, int, int]:
    """A float colour as a PIL fill."""
    return tuple(int(c) for c in np.clip(np.asarray(color) * 255, 0, 255))


def _fill(size: tuple[int, int], top: np.ndarray, bottom: np.ndarray) -> Image.Image:
    """A vertical gradient image from `top` to `bottom`."""
    w = np.linspace(0.0, 1.0, size[1])[:, None, None]
    grad = np.broadcast_to(np.asarray(top) * (1 - w) + np.asarray(bottom) * w, (size[1], size[0], 3))
    return Image.fromarray((np.clip(grad, 0, 1) * 255).astype(np.uint8))


def _glow(img: Image.Image, rng: np.random.Generator, color: np.ndarray, strength: float) -> Image.Image:
    """Add a soft radial light spot of `color` somewhere in the upper half."""
    w, h = img.size
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.0, 0.5) * h
    yy, xx = np.mgrid[0:h, 0:w]
    spot = np.exp(-(((xx - cx) / (0.5 * w)) ** 2 + ((yy - cy) / (0.5 * h)) ** 2))[..., None]
    out = np.asarray(img, np.float32) / 255.0 + strength * spot * np.asarray(color)
    return Image.fromarray((np.clip(out, 0, 1) * 255).astype(np.uint8))


def _landscape(rng: np.random.Generator, size: tuple[int, int], lake: bool) -> Image.Image:
    """Sky over mountains (snow caps) or over a tree line and a lake with ripples."""
    w, h = size
    img = _fill(size, np.array([0.35, 0.55, 0.90]) * rng.uniform(0.85, 1.1), np.array([0.78, 0.86, 0.96]))
    draw = ImageDraw.Draw(img)
    if lake:
        shore = rng.uniform(0.35, 0.5) * h
        draw.rectangle([0, shore - 0.08 * h, w, shore], fill=_rgb([0.10, 0.28, 0.12]))
        draw.rectangle([0, shore, w, h], fill=_rgb(np.array([0.10, 0.35, 0.62]) * rng.uniform(0.85, 1.1)))
        for _ in range(int(rng.integers(8, 16))):
            y, x = rng.uniform(shore + 2, h), rng.uniform(-0.2, 0.9) * w
            draw.line([x, y, x + rng.uniform(0.1, 0.4) * w, y], fill=_rgb([0.55, 0.72, 0.88]), width=1)
        return img
    base = rng.uniform(0.6, 0.8) * h
    for layer in range(int(rng.integers(2, 4))):
        shade = np.array([0.38, 0.40, 0.48]) * (1.0 - 0.2 * layer)
        peak_x, peak_y = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.4) * h + layer * 0.08 * h
        half = rng.uniform(0.35, 0.6) * w
        draw.polygon([(peak_x - half, base), (peak_x, peak_y), (peak_x + half, base)], fill=_rgb(shade))
        cap = 0.3
        draw.polygon([(peak_x - half * cap, peak_y + (base - peak_y) * cap), (peak_x, peak_y),
                      (peak_x + half * cap, peak_y + (base - peak_y) * cap)], fill=_rgb([0.95, 0.95, 0.97]))
    draw.rectangle([0, base, w, h], fill=_rgb(np.array([0.30, 0.45, 0.20]) * rng.uniform(0.8, 1.1)))
    return img


def _pattern(rng: np.random.Generator, size: tuple[int, int], flower: bool) -> Image.Image:
    """Polka dots of one colour on another, or flowers (petals round a yellow centre) on green."""
    w, h = size
    names = list(COLOUR_RGB)
    if flower:
        img = _fill(size, np.array([0.25, 0.50, 0.20]), np.array([0.18, 0.40, 0.15]))
    else:
        img = _fill(size, *[np.array(COLOUR_RGB[names[rng.integers(len(names))]])] * 2)
    draw = ImageDraw.Draw(img)
    step = rng.uniform(0.12, 0.2) * w
    dot = _rgb(COLOUR_RGB[names[rng.integers(len(names))]])
    for row, y in enumerate(np.arange(step / 2, h + step, step)):
        for x in np.arange(step / 2 + (row % 2) * step / 2, w + step, step):
            r = step * 0.28
            if flower:
                x, y0 = x + rng.normal(0, step / 6), y + rng.normal(0, step / 6)
                petal = _rgb(_PETALS[rng.integers(len(_PETALS))])
                for a in np.linspace(0, 2 * np.pi, 5, endpoint=False):
                    px, py = x + r * np.cos(a), y0 + r * np.sin(a)
                    draw.ellipse([px - r * 0.7, py - r * 0.7, px + r * 0.7, py + r * 0.7], fill=petal)
                draw.ellipse([x - r * 0.5, y0 - r * 0.5, x + r * 0.5, y0 + r * 0.5], fill=_rgb([0.98, 0.85, 0.1]))
            else:
                draw.ellipse([x - r, y - r, x + r, y + r], fill=dot)
    return img


def _backdrop(rng: np.random.Generator, word: str, size: tuple[int, int]) -> Image.Image:
    """The word's backdrop at `size` (w, h)."""
    if word in ("mountain", "lake"):
        return _landscape(rng, size, lake=word == "lake")
    if word in ("dotted", "flower"):
        return _pattern(rng, size, flower=word == "flower")
    if word == "bright":
        tint = np.array([1.0, 0.95, 0.8]) * rng.uniform(0.85, 1.0, 3)
        return _glow(_fill(size, tint, tint * 0.9), rng, np.ones(3), 0.5)
    if word == "dark":
        tint = rng.uniform(0.05, 0.18, 3)
        return _glow(_fill(size, tint, tint * 0.6), rng, np.array([0.5, 0.4, 0.25]), 0.2)
    color = np.array(COLOUR_RGB[word]) * rng.uniform(0.92, 1.04)
    return _fill(size, color, color * rng.uniform(0.88, 0.97))


def _furnish(rng: np.random.Generator, img: Image.Image) -> None:
    """Turn a backdrop into a room's wall: a floor, a door frame and some furniture in front of it."""
    w, h = img.size
    draw = ImageDraw.Draw(img)
    floor = rng.uniform(0.68, 0.8) * h
    draw.rectangle([0, floor, w, h], fill=_rgb(_FURNITURE[rng.integers(len(_FURNITURE))] * 0.8))
    door = rng.uniform(0.0, 0.75) * w
    draw.rectangle([door, 0.15 * h, door + 0.2 * w, floor], outline=_rgb([0.3, 0.22, 0.15]), width=max(1, w // 40))
    furniture = Image.new("RGB", img.size)
    draw_shapes(rng, furniture, int(rng.integers(2, 4)), _FURNITURE)
    region = Image.new("L", img.size, 0)
    ImageDraw.Draw(region).rectangle([0, floor - 0.25 * h, w, h], fill=255)
    drawn = np.any(np.asarray(furniture) > 0, axis=-1)  # furniture stands on the floor, below the wall's top
    img.paste(furniture, (0, 0), Image.fromarray(np.where(drawn, np.asarray(region), 0).astype(np.uint8)))


def described(rng: np.random.Generator, word: str, place: str, height: int, width: int) -> np.ndarray:
    """A float32 (H, W, 3) backdrop showing background word `word` as a "room" or a plain "background"."""
    img = _backdrop(rng, word, (max(16, width // 3), max(16, height // 3)))
    if place == "room":
        _furnish(rng, img)
    return finish(rng, img, height, width, blur=rng.uniform(0.3, 1.0), grain=0.1)
