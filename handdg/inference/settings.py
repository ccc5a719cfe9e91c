"""What a `handdg predict` run is asked to do (Settings) and what it did (Report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from handdg.errors import HanddgError
from handdg.inference.detection import check_detect

DETECT_CHOICES = ("auto", "mediapipe", "none")


@dataclass
class Settings:
    """How to find and measure the hands: boxes file, detector or whole images; the side of hands a box does not
    name; box enlargement; video frame step, re-detection and smoothing; intrinsics, root depth, bone length; the
    compute."""

    boxes: str | Path | None = None
    detect: str = "auto"
    side: str = "right"
    box_scale: float = 1.0
    every: int = 1
    redetect: int = 30
    redetect_below: float = 0.5
    smooth: bool = False
    K: tuple[float, float, float, float] | None = None
    root_depth_mm: float | None = None
    bone_mm: float | None = None
    batch_size: int = 16
    device: str = "auto"
    precision: str = "auto"
    overlay: bool = True
    show_progress: bool = True

    def check(self) -> None:
        """Refuse, in one line, options that contradict each other, are out of range or need the missing detector."""
        if self.detect not in DETECT_CHOICES:
            raise HanddgError(f"unknown --detect {self.detect!r}: use {', '.join(DETECT_CHOICES)}")
        if self.boxes is not None and self.detect == "mediapipe":
            raise HanddgError("give either --boxes FILE or --detect mediapipe, not both")
        if self.redetect < 0 or not 0.0 <= self.redetect_below <= 1.0:
            raise HanddgError("--redetect must be 0 (never on a timer) or more, --redetect-below between 0 and 1")
        check_detect(self.detect)


@dataclass
class Report:
    """What a run did: frames predicted now, frames skipped (done before), files written, notes for the user."""

    predicted: int = 0
    skipped: int = 0
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
