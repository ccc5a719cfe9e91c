"""The JSON `handdg predict` writes per frame: every hand with its box, where the box came from, its camera
and its 21 named joints, in units a user reads without handdg (spelled out in `conventions`)."""

from __future__ import annotations

from typing import Any

from handdg.data.joints import NAMES
from handdg.inference.boxes import Found
from handdg.inference.decode import Crop, Hand
from handdg.inference.sources import Frame

CONVENTIONS = {
    "joints": "21 joints in FreiHAND order: root (wrist or palm), then thumb, index, middle, ring, pinky, each root to tip",
    "uv": "pixels of the original image, x right, y down, pixel centres at integers (boxes: [x_min, y_min, w, h], "
          "pixel corners, the whole image is [0, 0, W, H])",
    "confidence": "the joint's heatmap maximum (about 1 where the network is sure, near 0 where it is not)",
    "xyz_mm": "millimetres relative to the root joint, camera axes (x right, y down, z away from the camera)",
    "camera_mm": "millimetres in the camera frame of K, only when K and the root depth were given",
    "side": "the hand's own side as it appears in the image given (a mirrored selfie shows a right hand as a left)",
    "box_score": "the palm detector's score when box_from is detector (null otherwise); side_score: the detector's "
                 "confidence in the side",
}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def hand_json(found: Found, hand: Hand, crop: Crop, root: str) -> dict[str, Any]:
    """One hand's entry: side, box and its origin, camera, 3D scale and the 21 joints."""
    names = (root,) + NAMES[1:]
    joints = [{"name": name, "uv": hand.uv[j].round(2).tolist(), "confidence": round(float(hand.confidence[j]), 4),
               "xyz_mm": None if hand.relative_mm is None else hand.relative_mm[j].round(2).tolist(),
               "camera_mm": None if hand.camera_mm is None else hand.camera_mm[j].round(2).tolist()}
              for j, name in enumerate(names)]
    K = crop.K
    return {"side": "left" if crop.mirrored else "right", "bbox": [round(v, 2) for v in found.box.xywh],
            "box_from": found.origin, "box_score": _round(found.score), "side_score": _round(found.side_score),
            "bone_mm": crop.bone_mm, "K": [K[0, 0], K[1, 1], K[0, 2], K[1, 2]],
            "K_from": "assumed" if crop.K_assumed else "given",
            "root_depth_mm": None if hand.root_depth_mm is None else round(hand.root_depth_mm, 2),
            "root_depth_from": None if hand.root_depth_mm is None else
            ("given" if crop.root_depth_mm is not None else "bone length"), "joints": joints}


def frame_json(frame: Frame, found: list[Found], hands: list[Hand], crops: list[Crop], context: dict[str, Any],
               note: str | None = None) -> dict[str, Any]:
    """A frame's JSON: the image, its size, the checkpoint's context, its hands (a note when there are none)."""
    height, width = frame.image.shape[:2]
    payload = {"image": str(frame.source.path), "frame": frame.index, "width": width, "height": height, **context,
               "hands": [hand_json(f, hand, crop, context["root"]) for f, hand, crop in zip(found, hands, crops)]}
    if note is not None:
        payload["note"] = note
    return payload
