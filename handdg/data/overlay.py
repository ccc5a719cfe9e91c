"""Drawing a sample's skeleton on its image, so a user can see that the annotation fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from handdg.data.base import Sample
from handdg.data.joints import finger_chains
from handdg.errors import HanddgError
from handdg.files import write_atomic

FINGER_COLOURS = ((255, 64, 64), (255, 200, 0), (64, 220, 64), (0, 200, 255), (200, 64, 255))
"""Thumb, index, middle, ring, pinky."""


def draw_skeleton(sample: Sample) -> Image.Image:
    """The sample's image with its 2D keypoints and bones drawn, one colour per finger."""
    canvas = Image.fromarray(np.ascontiguousarray(sample.image)).convert("RGB")
    draw_hand(canvas, sample.uv)
    ImageDraw.Draw(canvas).text((3, 3), f"{sample.id}  {sample.side}  root={sample.root}", fill=(255, 255, 255))
    return canvas


def draw_hand(canvas: Image.Image, uv: np.ndarray, radius: int | None = None) -> None:
    """Draw 21 keypoints (handdg order, pixel centres at integers) and their bones onto `canvas`; NaN joints are skipped."""
    draw = ImageDraw.Draw(canvas)
    radius = radius or max(2, round(max(canvas.size) / 160))
    uv = np.asarray(uv, dtype=np.float64)
    for colour, chain in zip(FINGER_COLOURS, finger_chains()):
        points = [tuple(uv[j]) for j in chain if np.isfinite(uv[j]).all()]
        draw.line(points, fill=colour, width=max(1, radius // 2 + 1))
        for j in chain[1:]:
            if np.isfinite(uv[j]).all():
                u, v = uv[j]
                draw.ellipse((u - radius, v - radius, u + radius, v + radius), fill=colour, outline=(0, 0, 0))
    if np.isfinite(uv[0]).all():
        u, v = uv[0]
        draw.rectangle((u - radius, v - radius, u + radius, v + radius), fill=(255, 255, 255), outline=(0, 0, 0))


def save_overlay(sample: Sample, out: Path | str) -> Path:
    """Write `draw_skeleton(sample)` to `out` (format from its suffix), atomically."""
    out = Path(out)
    if not out.parent.is_dir():
        raise HanddgError(f"cannot write overlay {out}: folder {out.parent} does not exist")
    image = draw_skeleton(sample)
    try:
        return write_atomic(out, image.save)
    except (ValueError, OSError) as exc:
        raise HanddgError(f"cannot write overlay {out}: {exc} (use a .png or .jpg name)") from None
