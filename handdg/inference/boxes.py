"""Where each frame's hands are for `handdg predict`: a boxes file (by frame name, or the official .npy in
frame order) or the whole image; boxes enlarged about their centre, and the box of a hand's joints.

Boxes are handdg.data.boxes.HandBox: `[x_min, y_min, w, h]` in the pixels of the image as read (upright),
pixel corners, a side when known; each is checked against its image by handdg.data.boxes.check_box before it
is cut. The detector's boxes come from handdg.inference.detection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handdg.data.boxes import HandBox, read_boxes
from handdg.errors import HanddgError
from handdg.inference.sources import Frame

WHOLE_IMAGE = "whole image"
BOXES_FILE = "boxes file"


@dataclass(frozen=True)
class Found:
    """A hand to cut: its box, where the box came from (`box_from` in the JSON), and the detector's scores
    (palm detection, side) when the detector found it."""

    box: HandBox
    origin: str
    score: float | None = None
    side_score: float | None = None


class BoxTable:
    """The hands of each frame: the boxes file's entries (by frame name or path), its rows in frame order
    (official .npy), or the whole image."""

    def __init__(self, path: str | Path | None, side: str) -> None:
        self.path = path
        self.side = side
        self.table = read_boxes(path) if path is not None else None

    def hands(self, frame: Frame, position: int) -> list[Found]:
        """The frame's boxes (stored frame), each with where it came from."""
        height, width = frame.image.shape[:2]
        if self.table is None:
            return [Found(HandBox((0.0, 0.0, float(width), float(height)), side=self.side), WHOLE_IMAGE)]
        if isinstance(self.table, list):
            if position >= len(self.table):
                raise HanddgError(f"boxes file {self.path} has {len(self.table)} rows, fewer than the frames "
                                  f"given ({frame.name} is frame {position + 1}): one row per frame, in order")
            box = self.table[position]
            stored = HandBox(box.xywh, "mirrored", self.side).in_frame("stored", width, self.side)
            return [Found(stored, BOXES_FILE)]
        for key in (frame.name, str(frame.source.path), frame.source.path.as_posix()):
            if key in self.table:
                return [Found(box, BOXES_FILE) for box in self.table[key]]
        raise HanddgError(f"boxes file {self.path} has no entry for {frame.name}: key each image by its "
                          "file name (a video frame as name.mp4#000120)")


def scaled(box: HandBox, scale: float) -> HandBox:
    """The box enlarged `scale` times about its centre (side and K kept)."""
    x, y, w, h = box.xywh
    cx, cy = x + w / 2, y + h / 2
    return HandBox((cx - w * scale / 2, cy - h * scale / 2, w * scale, h * scale), box.frame, box.side, box.K)


def joint_box(uv: np.ndarray, scale: float, side: str) -> HandBox:
    """The box of 2D joints (N, 2) in pixel centres, as pixel corners, enlarged `scale` times: how the training
    crops were cut (handdg.data.transforms.hand_box), so a detector's or the previous frame's joints give the
    crop the network saw in training."""
    lo, hi = uv.min(axis=0) - 0.5, uv.max(axis=0) + 0.5
    tight = HandBox((float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])), side=side)
    return scaled(tight, scale)
