"""Hand boxes: where the hand is in an image, read from the official .npy files or a JSON file.

A box is `[x, y, w, h]` in COCO's pixel-corner convention (the whole W x H image is `[0, 0, W, H]`).
The JSON form holds boxes in the pixels of the image as stored:

    {"image.jpg": [{"bbox": [x, y, w, h], "side": "left", "K": [fx, fy, cx, cy]}, ...], ...}

("side" and "K" optional; several hands per image). The official `Rhp_bbox.npy` / `STB_bbox.npy` hold one
row per test sample in dataset order, in the pixels of the image after left hands are mirrored
(docs/official-code.md#test-sets-and-boxes). A box is cut as the square of side max(w, h) around its centre; the
official code's own cut (`convention="official"`: coordinates truncated to integers, centre sent to
pixel S/2) is kept for its boxes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from handdg.data.images import image_size
from handdg.data.transforms import crop_affine
from handdg.errors import HanddgError

Frame = Literal["stored", "mirrored"]
Convention = Literal["handdg", "official"]
SIDES = ("left", "right")


@dataclass(frozen=True)
class HandBox:
    """One hand: its box, in the `frame` of the image as stored or after mirroring left hands; its side
    when known; per-image intrinsics (fx, fy, cx, cy) when given."""

    xywh: tuple[float, float, float, float]
    frame: Frame = "stored"
    side: str | None = None
    K: tuple[float, float, float, float] | None = None

    def in_frame(self, frame: Frame, width: int, side: str) -> "HandBox":
        """This box in `frame` of a `width`-pixel-wide image of a hand of `side` (a right hand is never mirrored)."""
        if self.frame == frame or side != "left":
            return replace(self, frame=frame)
        x, y, w, h = self.xywh
        return replace(self, xywh=(width - x - w, y, w, h), frame=frame)


def overlaps(xywh: tuple[float, float, float, float], width: int, height: int) -> bool:
    """Whether a box overlaps a width x height image (a hand that left the frame does not)."""
    x, y, w, h = xywh
    return x < width and y < height and x + w > 0 and y + h > 0


def check_box(box: HandBox, width: int, height: int, image: str) -> None:
    """Refuse, in one line naming `image` and the box, a box with a non-positive or non-finite side or one that
    misses its `width` x `height` image (in either frame: mirroring keeps a box on or off its image)."""
    x, y, w, h = box.xywh
    shown = f"box [{x:g}, {y:g}, {w:g}, {h:g}] of {image}"
    if not all(math.isfinite(v) for v in box.xywh) or w <= 0 or h <= 0:
        raise HanddgError(f"{shown} needs finite numbers and a positive width and height "
                          "(boxes are [x_min, y_min, width, height] in the image's pixels)")
    if not overlaps(box.xywh, width, height):
        raise HanddgError(f"{shown} lies outside its {width}x{height} pixels "
                          "(boxes are [x_min, y_min, width, height] in the image's pixels)")


def box_affine(box: HandBox, size: int, convention: Convention = "handdg") -> np.ndarray:
    """3x3 map from image pixels (centre convention, as handdg.data.transforms) to the size x size crop.

    handdg: the square around the box centre maps exactly onto the crop. official: the official
    `generate_patch_image` at scale 1, rotation 0: integer box, centre x + w/2 sent to pixel size/2.
    """
    x, y, w, h = box.xywh
    if convention == "official":
        x, y, w, h = (float(math.trunc(v)) for v in (x, y, w, h))
        sx, sy = size / w, size / h
        return np.array([[sx, 0.0, size / 2 - sx * (x + w / 2)], [0.0, sy, size / 2 - sy * (y + h / 2)],
                         [0.0, 0.0, 1.0]])
    return crop_affine(np.array([x + w / 2 - 0.5, y + h / 2 - 0.5]), max(w, h), size)


def _number_list(value: Any, count: int, where: str, field: str, hint: str) -> tuple[float, ...]:
    ok = isinstance(value, list) and len(value) == count and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not ok:
        raise HanddgError(f"boxes file {where}: {field} is {json.dumps(value)[:60]}, expected {hint}")
    return tuple(float(v) for v in value)


def _parse_hand(item: Any, where: str, field: str) -> HandBox:
    if not isinstance(item, dict) or "bbox" not in item:
        raise HanddgError(f"boxes file {where}: {field} is not an object with a \"bbox\": "
                          "write {\"bbox\": [x, y, w, h], \"side\": \"left|right\"}")
    xywh = _number_list(item["bbox"], 4, where, f"{field}.bbox", "[x, y, w, h] (4 finite numbers)")
    if xywh[2] <= 0 or xywh[3] <= 0:
        raise HanddgError(f"boxes file {where}: {field}.bbox has width {xywh[2]:g} and height {xywh[3]:g}; both must be positive")
    side = item.get("side")
    if side is not None and side not in SIDES:
        raise HanddgError(f"boxes file {where}: {field}.side is {json.dumps(side)[:40]}, expected \"left\" or \"right\"")
    K = None
    if item.get("K") is not None:
        K = _number_list(item["K"], 4, where, f"{field}.K", "[fx, fy, cx, cy] (4 finite numbers)")
        if K[0] <= 0 or K[1] <= 0:
            raise HanddgError(f"boxes file {where}: {field}.K has focal lengths {K[0]:g}, {K[1]:g}; both must be positive")
    return HandBox(xywh, "stored", side, K)


def read_box_json(path: str | Path) -> dict[str, list[HandBox]]:
    """{image name: its hands} from the JSON form; one line naming the file and field on any mistake."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        raise HanddgError(f"boxes file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HanddgError(f"boxes file {path} is not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise HanddgError(f"boxes file {path}: expected an object {{\"image.jpg\": [{{\"bbox\": [x, y, w, h]}}, ...]}}, "
                          f"got a {type(payload).__name__}")
    boxes: dict[str, list[HandBox]] = {}
    for name, hands in payload.items():
        if isinstance(hands, dict):
            hands = [hands]
        if not isinstance(hands, list) or not hands:
            raise HanddgError(f"boxes file {path}: \"{name}\" must hold a list of hands, got {json.dumps(hands)[:40]}")
        boxes[name] = [_parse_hand(item, str(path), f"\"{name}\"[{i}]") for i, item in enumerate(hands)]
    return boxes


def read_box_npy(path: str | Path) -> list[HandBox]:
    """The official (N, 4) box array: one box per sample, in the mirrored frame."""
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise HanddgError(f"boxes file not found: {path}") from None
    except ValueError as exc:
        raise HanddgError(f"boxes file {path} is not a plain numeric .npy ({str(exc).splitlines()[0]})") from None
    if array.ndim != 2 or array.shape[1] != 4 or not np.issubdtype(array.dtype, np.number):
        raise HanddgError(f"boxes file {path} holds a {array.dtype} array of shape {array.shape}, "
                          "expected (N, 4) numbers [x_min, y_min, w, h] as the official Rhp_bbox.npy / STB_bbox.npy")
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1) | (array[:, 2] <= 0) | (array[:, 3] <= 0))
    if len(bad):
        raise HanddgError(f"boxes file {path}: row {bad[0]} is {array[bad[0]].tolist()}; every box needs finite numbers "
                          "and a positive width and height")
    return [HandBox(tuple(float(v) for v in row), "mirrored") for row in array]


def read_boxes(path: str | Path) -> dict[str, list[HandBox]] | list[HandBox]:
    """A boxes file by its suffix: .npy (official, one box per sample in order) or .json (by image name)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return read_box_npy(path)
    if suffix == ".json":
        return read_box_json(path)
    raise HanddgError(f"boxes file {path}: unknown format {suffix or '(no suffix)'}; give a .json "
                      "({\"image.jpg\": [{\"bbox\": [x, y, w, h]}]}) or the official .npy")


OFFICIAL_RHD_SKIPPED = ("00162", "00359", "01488")
"""The RHD evaluation images the official loader skips (three of its 53 hard-coded names lie in that split,
docs/official-code.md#test-sets-and-boxes): with them left out the split has the 2,725 samples of Rhp_bbox.npy."""


def sample_boxes(path: str | Path, dataset) -> list[HandBox]:
    """One box per sample of `dataset`, in its order: the .npy rows, or the JSON entry named by each
    sample's id or image file name (exactly one hand each), each checked against its image (check_box)."""
    boxes = read_boxes(path)
    if isinstance(boxes, list):
        if len(boxes) != len(dataset):
            raise HanddgError(f"boxes file {path} has {len(boxes)} rows but {dataset.name} {dataset.split} has "
                              f"{len(dataset)} samples: give the boxes of this test set, one row per sample in order")
        chosen = boxes
    else:
        chosen = [_sample_entry(boxes, path, dataset, index) for index in range(len(dataset))]
    for index, box in enumerate(chosen):
        image = dataset.image_path(index)
        check_box(box, *image_size(image), f"{image.name} (sample {index} in {path})")
    return chosen


def _sample_entry(boxes: dict[str, list[HandBox]], path: str | Path, dataset, index: int) -> HandBox:
    """The one box the JSON form holds for sample `index`, keyed by its id or image file name."""
    sample_id, name = dataset.ids[index], dataset.image_path(index).name
    hands = boxes.get(sample_id, boxes.get(name))
    if hands is None:
        raise HanddgError(f"boxes file {path} has no box for {dataset.name} sample {sample_id} ({name}): "
                          "give one entry per test sample, keyed by its id or image file name")
    if len(hands) != 1:
        raise HanddgError(f"boxes file {path}: \"{name}\" holds {len(hands)} hands; evaluation scores one hand "
                          "per sample: keep the box of the annotated hand")
    return hands[0]

