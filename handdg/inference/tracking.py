"""Following hands through a video: detect on the first frame, then cut each frame's hands from the box of the
previous frame's joints, and detect again every `redetect` frames, as soon as a hand's mean heatmap
confidence falls below `redetect_below` times what it was in the frame it was detected in (the hand was lost,
or a new one may have come in; relative, as the confidence a checkpoint reaches varies with the checkpoint and
the images), or when its box has left the image.

Optional smoothing of the 2D joints over time: the One-Euro filter (Casiez, Roussel and Vogel, CHI 2012), a
low-pass whose cut-off rises with speed, so a still hand stops jittering and a fast one does not lag.
Hands are told apart by side (a left and a right hand), the usual case of one person's hands.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from handdg.data.boxes import overlaps
from handdg.inference.boxes import Found, joint_box
from handdg.inference.decode import Hand
from handdg.inference.detection import Detection

PREVIOUS_FRAME = "previous frame"
"""`box_from` of a hand cut from the box of its joints in the previous frame."""


class OneEuro:
    """One-Euro filter of an array signal sampled at `rate` Hz: cut-off = min_cutoff + beta·|speed| (Hz)."""

    def __init__(self, rate: float, min_cutoff: float = 1.0, beta: float = 0.02, d_cutoff: float = 1.0) -> None:
        self.rate, self.min_cutoff, self.beta, self.d_cutoff = rate, min_cutoff, beta, d_cutoff
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.rate)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The filtered value of the next sample."""
        if self.value is None:
            self.value, self.speed = x.astype(np.float64), np.zeros_like(x, dtype=np.float64)
            return self.value.copy()
        speed = (x - self.value) * self.rate
        self.speed = self.speed + self._alpha(self.d_cutoff) * (speed - self.speed)
        alpha = self._alpha(self.min_cutoff + self.beta * np.abs(self.speed))
        self.value = self.value + alpha * (x - self.value)
        return self.value.copy()


@dataclass
class _Track:
    """A hand followed: its side, last joints, their mean confidence, and that confidence when it was detected."""

    side: str
    uv: np.ndarray
    confidence: float
    detected_confidence: float


class Tracker:
    """The hands of each video frame: from the detector or from the previous frame's joints."""

    def __init__(self, detect: Callable[[np.ndarray], list[Detection]], crop_scale: float, redetect: int,
                 redetect_below: float, smooth_rate: float | None = None) -> None:
        self.detect, self.crop_scale = detect, crop_scale
        self.redetect, self.redetect_below = redetect, redetect_below
        self.smooth_rate = smooth_rate
        self.tracks: list[_Track] = []
        self.since_detection = 0
        self.filters: dict[str, OneEuro] = {}

    def hands(self, image: np.ndarray) -> list[Found]:
        """This frame's hands: detected when due, else the boxes of the previous frame's joints."""
        height, width = image.shape[:2]
        boxes = [Found(joint_box(t.uv, self.crop_scale, t.side), PREVIOUS_FRAME) for t in self.tracks]
        due = (not self.tracks or (self.redetect and self.since_detection >= self.redetect)
               or any(t.confidence < self.redetect_below * t.detected_confidence for t in self.tracks)
               or not all(overlaps(f.box.xywh, width, height) for f in boxes))
        if not due:
            self.since_detection += 1
            return boxes
        self.since_detection = 1
        found = [d.found(self.crop_scale) for d in self.detect(image)]
        if {f.box.side for f in found} != set(self.filters):
            self.filters = {}
        return found

    def update(self, found: list[Found], hands: list[Hand]) -> None:
        """Follow this frame's predicted hands into the next frame; smooth their 2D joints when asked (in place)."""
        previous = self.tracks if found and found[0].origin == PREVIOUS_FRAME else [None] * len(found)
        self.tracks = []
        for f, hand, before in zip(found, hands, previous):
            confidence = float(np.mean(hand.confidence))
            detected = confidence if before is None else before.detected_confidence
            self.tracks.append(_Track(f.box.side or "right", hand.uv.copy(), confidence, detected))
        if self.smooth_rate is None:
            return
        for track, hand in zip(self.tracks, hands):
            smoother = self.filters.setdefault(track.side, OneEuro(self.smooth_rate))
            hand.uv = smoother(hand.uv)
        self.filters = {t.side: self.filters[t.side] for t in self.tracks}

    def reset(self) -> None:
        """Forget every hand (a new video, or frames skipped on resume): the next frame is detected."""
        self.tracks, self.filters, self.since_detection = [], {}, 0
