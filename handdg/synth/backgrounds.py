"""Procedural backgrounds, one family per domain: studio green screen, indoor clutter, outdoors, one room.

All return float32 (H, W, 3) images in [0, 1]. They are drawn with PIL at reduced resolution and
upsampled, so they stay cheap even at 640x480.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int, channels: int = 1) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a random grid of about `cells` cells across, upsampled bicubically."""
    gh = max(2, round(cells * height / max(height, width)))
    gw = max(2, round(cells * width / max(height, width)))
    grid = (rng.random((gh, gw, channels)) * 255).astype(np.uint8)
    img = Image.fromarray(grid.squeeze(-1) if channels == 1 else grid)
    out = np.asarray(img.resize((width, height), Image.BICUBIC), np.float32) / 255.0
    return out[..., None] if channels == 1 else out


def _gradient(height: int, width: int, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Vertical blend from colour `top` to colour `bottom`."""
    w = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    return np.broadcast_to(top * (1 - w) + bottom * w, (height, width, 3)).astype(np.float32)


def green_screen(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A studio green screen: saturated green cloth, uneven lighting, soft folds."""
    base = np.array([rng.uniform(0.10, 0.22), rng.uniform(0.52, 0.72), rng.uniform(0.18, 0.32)], np.float32)
    light = 0.78 + 0.3 * smooth_noise(rng, height, width, 3)
    folds = 1.0 + 0.06 * np.sin(np.linspace(0, rng.uniform(6, 14), width, dtype=np.float32)[None, :, None]
                                + 3.0 * smooth_noise(rng, height, width, 4))
    return np.clip(base * light * folds, 0, 1)


def draw_shapes(rng: np.random.Generator, img: Image.Image, count: int, palette: np.ndarray) -> None:
    """Random filled rectangles and ellipses (furniture, posters, foliage) in colours near `palette`."""
    draw = ImageDraw.Draw(img)
    w, h = img.size
    for _ in range(count):
        color = palette[rng.integers(len(palette))] * rng.uniform(0.6, 1.2, 3)
        fill = tuple(int(c) for c in np.clip(color * 255, 0, 255))
        x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.2, 1.0) * h
        x1, y1 = x0 + rng.uniform(0.05, 0.6) * w, y0 + rng.uniform(0.05, 0.6) * h
        (draw.rectangle if rng.random() < 0.6 else draw.ellipse)([x0, y0, x1, y1], fill=fill)


def finish(rng: np.random.Generator, img: Image.Image, height: int, width: int, blur: float, grain: float) -> np.ndarray:
    """Soften a small drawing, upsample it and add texture grain (`blur` in output pixels)."""
    scale = width / img.size[0]
    img = img.filter(ImageFilter.BoxBlur(blur / scale)).resize((width, height), Image.BILINEAR)
    out = np.asarray(img, np.float32) / 255.0
    texture = 1.0 + grain * (smooth_noise(rng, height, width, max(height, width) // 3) - 0.5)
    return np.clip(out * texture, 0, 1)


_INDOOR = np.array([[0.85, 0.82, 0.75], [0.55, 0.40, 0.28], [0.30, 0.30, 0.33], [0.75, 0.20, 0.18],
                    [0.20, 0.35, 0.60], [0.92, 0.92, 0.90], [0.45, 0.55, 0.35], [0.10, 0.10, 0.12]])
_OUTDOOR = np.array([[0.20, 0.38, 0.15], [0.32, 0.50, 0.20], [0.45, 0.42, 0.38], [0.60, 0.55, 0.48],
                     [0.15, 0.22, 0.12], [0.70, 0.65, 0.55], [0.35, 0.30, 0.25]])


def indoor_clutter(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random indoor photo: a wall gradient with furniture, screens and posters."""
    small = (max(8, width // 4), max(8, height // 4))
    wall = _INDOOR[rng.integers(len(_INDOOR))] * rng.uniform(0.6, 1.1)
    base = _gradient(small[1], small[0], wall, wall * rng.uniform(0.5, 0.9))
    img = Image.fromarray((np.clip(base, 0, 1) * 255).astype(np.uint8))
    draw_shapes(rng, img, int(rng.integers(4, 12)), _INDOOR)
    return finish(rng, img, height, width, blur=rng.uniform(0.5, 2.5), grain=0.15)


def outdoor(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random outdoor scene: sky with clouds above a horizon, ground, trees and buildings."""
    small = (max(8, width // 4), max(8, height // 4))
    horizon = rng.uniform(0.25, 0.7)
    sky = _gradient(small[1], small[0], np.array([0.35, 0.55, 0.88]) * rng.uniform(0.7, 1.1),
                    np.array([0.75, 0.85, 0.95]))
    ground_color = _OUTDOOR[rng.integers(len(_OUTDOOR))]
    rows = np.arange(small[1])[:, None, None] >= horizon * small[1]
    base = np.where(rows, ground_color * rng.uniform(0.7, 1.1), sky)
    clouds = smooth_noise(rng, small[1], small[0], 6)
    base = np.where(rows, base, base + 0.35 * np.clip(clouds - 0.5, 0, 1))
    img = Image.fromarray((np.clip(base, 0, 1) * 255).astype(np.uint8))
    draw_shapes(rng, img, int(rng.integers(3, 10)), _OUTDOOR)
    return finish(rng, img, height, width, blur=rng.uniform(0.3, 1.5), grain=0.25)


_WALLS = np.array([[0.78, 0.74, 0.66], [0.70, 0.72, 0.74], [0.80, 0.78, 0.70], [0.66, 0.70, 0.64],
                   [0.82, 0.76, 0.72], [0.60, 0.62, 0.66]])


def stb_room(height: int, width: int, background: int = 1) -> np.ndarray:
    """One of STB's six lab scenes (B1..B6), identical in every frame: wall, door, shelf, desk, monitor."""
    rng = np.random.default_rng(20170426 + background)
    small = (width // 2, height // 2)
    wall = _WALLS[(background - 1) % len(_WALLS)]
    base = _gradient(small[1], small[0], wall, wall * 0.75)
    img = Image.fromarray((base * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    w, h = small
    door = rng.uniform(0.02, 0.35)
    draw.rectangle([door * w, 0.05 * h, (door + 0.24) * w, 0.95 * h], fill=(150, 120, 90))
    draw.rectangle([(door + 0.02) * w, 0.07 * h, (door + 0.22) * w, 0.93 * h], fill=(165, 133, 100))
    shelf = rng.uniform(0.55, 0.64)
    draw.rectangle([shelf * w, 0.10 * h, (shelf + 0.36) * w, 0.55 * h], fill=(90, 70, 55))
    for k, y in enumerate((0.20, 0.32, 0.44)):
        books = tuple(int(c) for c in rng.integers(40, 160, 3))
        draw.rectangle([(shelf + 0.02) * w, y * h, (shelf + 0.34) * w, (y + 0.09) * h], fill=books)
    desk = rng.uniform(0.78, 0.88)
    draw.rectangle([0.0, desk * h, w, h], fill=(120, 105, 95))
    screen = rng.uniform(0.3, 0.45)
    draw.rectangle([screen * w, (desk - 0.22) * h, (screen + 0.18) * w, desk * h], fill=(35, 35, 40))
    return finish(rng, img, height, width, blur=1.5, grain=0.15)
