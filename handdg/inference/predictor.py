"""`handdg predict`: a checkpoint on the user's own images, folders and videos -> JSON + overlays.

For each frame: its hands (from a boxes file, or the whole image as one hand crop), each cut as
evaluation cuts it (handdg.data.boxes.box_affine; left hands from the mirrored image, as the network
only saw right hands), batched through the network, decoded back into the image
(handdg.inference.decode). Per frame one JSON (21 named joints: 2D pixels + confidence, root-relative
mm, camera mm when K and the root depth are given) and one overlay; `predictions.jsonl` holds every
frame's JSON in input order; a video also gets an overlay video. Every file is written atomically and
a frame whose JSON exists is skipped, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from handdg.data.boxes import SIDES, HandBox, box_affine, check_box, read_boxes
from handdg.data.joints import NAMES
from handdg.device.distributed import pick_device
from handdg.device.precision import Precision
from handdg.errors import HanddgError
from handdg.evaluation.evaluate import load_model
from handdg.files import sha256, write_atomic, write_json_atomic
from handdg.inference.decode import Crop, Hand, assumed_K, decode_hands
from handdg.inference.drawing import draw_overlay
from handdg.inference.sources import Frame, Source, checked_sources, frames, video_rate, write_video
from handdg.inputs.batches import _warp

JSONL = "predictions.jsonl"


@dataclass
class Settings:
    """How to find and measure the hands: boxes file (or whole images), the side of hands a box does not
    name, box enlargement, video frame step, intrinsics, root depth, bone length, and the compute."""

    boxes: str | Path | None = None
    side: str = "right"
    box_scale: float = 1.0
    every: int = 1
    K: tuple[float, float, float, float] | None = None
    root_depth_mm: float | None = None
    bone_mm: float | None = None
    batch_size: int = 16
    device: str = "auto"
    precision: str = "auto"
    overlay: bool = True
    show_progress: bool = True


@dataclass
class Report:
    """What a run did: frames predicted now, frames skipped (done before), files written."""

    predicted: int = 0
    skipped: int = 0
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _output_paths(out: Path, frame: Frame) -> tuple[Path, Path]:
    """(JSON, overlay) of a frame: `<stem>.json` for an image, `<video stem>/<frame>.json` for a video frame."""
    if frame.index is None:
        return out / f"{frame.source.stem}.json", out / f"{frame.source.stem}.overlay.jpg"
    folder = out / frame.source.stem
    return folder / f"{frame.index:06d}.json", folder / f"{frame.index:06d}.overlay.jpg"


class _Boxes:
    """The hands of each frame: the boxes file's entries (by frame name or path), its rows in frame order
    (official .npy), or the whole image."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.table = read_boxes(settings.boxes) if settings.boxes is not None else None
        self.row = 0

    def hands(self, frame: Frame, position: int) -> tuple[list[HandBox], str]:
        """The frame's boxes (stored frame) and where they came from."""
        height, width = frame.image.shape[:2]
        if self.table is None:
            return [HandBox((0.0, 0.0, float(width), float(height)), side=self.settings.side)], "whole image"
        if isinstance(self.table, list):
            if position >= len(self.table):
                raise HanddgError(f"boxes file {self.settings.boxes} has {len(self.table)} rows, fewer than the frames "
                                  f"given ({frame.name} is frame {position + 1}): one row per frame, in order")
            box = self.table[position]
            stored = HandBox(box.xywh, "mirrored", self.settings.side).in_frame("stored", width, self.settings.side)
            return [stored], "boxes file"
        for key in (frame.name, str(frame.source.path), frame.source.path.as_posix()):
            if key in self.table:
                return self.table[key], "boxes file"
        raise HanddgError(f"boxes file {self.settings.boxes} has no entry for {frame.name}: key each image by its "
                          "file name (a video frame as name.mp4#000120)")


def _scaled(box: HandBox, scale: float) -> HandBox:
    x, y, w, h = box.xywh
    cx, cy = x + w / 2, y + h / 2
    return HandBox((cx - w * scale / 2, cy - h * scale / 2, w * scale, h * scale), box.frame, box.side, box.K)


def _intrinsics(box: HandBox, settings: Settings, frame: Frame) -> tuple[np.ndarray, bool]:
    """The hand's camera: the box's own K, else --K, else assumed (handdg.inference.decode.assumed_K)."""
    given = box.K or settings.K
    if given is None:
        height, width = frame.image.shape[:2]
        return assumed_K(width, height), True
    fx, fy, cx, cy = given
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]), False


def _cut(frame: Frame, box: HandBox, side: str, size: int, convention: str) -> tuple[np.ndarray, np.ndarray]:
    """(crop (S,S,3) uint8, A: original pixels -> crop) with a left hand cut from the mirrored image."""
    width = frame.image.shape[1]
    A = box_affine(box.in_frame("mirrored", width, side), size, convention)
    if side != "left":
        return _warp(frame.image, A, size), A
    flip = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return _warp(np.ascontiguousarray(frame.image[:, ::-1]), A, size), A @ flip


def _frame_json(frame: Frame, boxes: list[HandBox], origin: str, hands: list[Hand], crops: list[Crop],
                context: dict[str, Any]) -> dict[str, Any]:
    """The JSON a user reads without handdg (units and frames in `conventions`)."""
    height, width = frame.image.shape[:2]
    names = (context["root"],) + NAMES[1:]
    entries = []
    for box, hand, crop in zip(boxes, hands, crops):
        joints = [{"name": name, "uv": hand.uv[j].round(2).tolist(), "confidence": round(float(hand.confidence[j]), 4),
                   "xyz_mm": None if hand.relative_mm is None else hand.relative_mm[j].round(2).tolist(),
                   "camera_mm": None if hand.camera_mm is None else hand.camera_mm[j].round(2).tolist()}
                  for j, name in enumerate(names)]
        K = crop.K
        entries.append({"side": "left" if crop.mirrored else "right", "bbox": [round(v, 2) for v in box.xywh], "box_from": origin,
                        "bone_mm": crop.bone_mm, "K": [K[0, 0], K[1, 1], K[0, 2], K[1, 2]],
                        "K_from": "assumed" if crop.K_assumed else "given",
                        "root_depth_mm": None if hand.root_depth_mm is None else round(hand.root_depth_mm, 2),
                        "root_depth_from": None if hand.root_depth_mm is None else
                        ("given" if crop.root_depth_mm is not None else "bone length"), "joints": joints})
    return {"image": str(frame.source.path), "frame": frame.index, "width": width, "height": height, **context,
            "hands": entries}


CONVENTIONS = {
    "joints": "21 joints in FreiHAND order: root (wrist or palm), then thumb, index, middle, ring, pinky, each root to tip",
    "uv": "pixels of the original image, x right, y down, pixel centres at integers (boxes: [x_min, y_min, w, h], "
          "pixel corners, the whole image is [0, 0, W, H])",
    "confidence": "the joint's heatmap maximum (about 1 where the network is sure, near 0 where it is not)",
    "xyz_mm": "millimetres relative to the root joint, camera axes (x right, y down, z away from the camera)",
    "camera_mm": "millimetres in the camera frame of K, only when K and the root depth were given",
}


class Predictor:
    """A checkpoint ready to run on frames: the network on its device and what every output records."""

    def __init__(self, model: str | Path, settings: Settings) -> None:
        if settings.side not in SIDES:
            raise HanddgError(f"unknown hand side {settings.side!r}: use left or right")
        if settings.every < 1 or settings.batch_size < 1 or not settings.box_scale > 0:
            raise HanddgError("--every and --batch-size must be at least 1 and --box-scale positive")
        self.settings = settings
        self.device = pick_device(settings.device)
        self.net, ckpt = load_model(model, self.device)
        self.amp = Precision.for_device(settings.precision, self.device)
        self.amp.prepare(self.net)
        self.convention = "official" if ckpt.source and ckpt.source.get("kind") == "official" else "handdg"
        reference = ckpt.reference or {}
        bone = reference.get("bone_mm")
        if bone is None and reference.get("mm") is not None:
            from handdg.data.transforms import bone_length

            bone = float(bone_length(np.asarray(reference["mm"])))
        self.bone_mm = settings.bone_mm if settings.bone_mm is not None else bone
        self.context = {"checkpoint": str(model), "checkpoint_sha256": sha256(model), "root": ckpt.config.root,
                        "conventions": CONVENTIONS}

    def run_batch(self, cut: list[tuple[np.ndarray, Crop]]) -> list[Hand]:
        """Hands of a list of (crop pixels, Crop) through the network, decoded into their images."""
        images = torch.from_numpy(np.stack([c for c, _ in cut])).permute(0, 3, 1, 2).float() / 255.0
        sides = torch.ones(len(cut))
        with torch.inference_mode():
            inputs = self.amp.batch_to_device({"image": images, "hand_side": sides})
            with self.amp.autocast():
                output = self.net(inputs["image"], inputs["hand_side"])
        output.heatmaps, output.coords = output.heatmaps.float().cpu(), output.coords.float().cpu()
        if output.rotation is not None:
            output.rotation = output.rotation.float().cpu()
        return decode_hands(output, [crop for _, crop in cut], self.net.config.input_size)

    def prepare(self, frame: Frame, boxes: list[HandBox]) -> list[tuple[np.ndarray, Crop]]:
        """Each hand of a frame cut for the network."""
        size = self.net.config.input_size
        cut = []
        for box in boxes:
            check_box(box, frame.image.shape[1], frame.image.shape[0], frame.name)
            side = box.side or self.settings.side
            pixels, A = _cut(frame, _scaled(box, self.settings.box_scale), side, size, self.convention)
            K, assumed = _intrinsics(box, self.settings, frame)
            cut.append((pixels, Crop(A, side == "left", K, assumed, self.settings.root_depth_mm, self.bone_mm)))
        return cut


def _pending_frames(sources: Sequence[Source], out: Path, every: int, report: Report) -> Iterator[tuple[int, Frame, bool]]:
    """(position, frame, done) of every frame in input order; done frames are not decoded."""
    position = 0
    for source in sources:
        done: set[str] = set()
        if source.video and (out / source.stem).is_dir():
            done = {f"{source.path.name}#{p.stem}" for p in _frame_files(out / source.stem, ".json")}
        for frame in frames(source, every, done):
            finished = _output_paths(out, frame)[0].exists()
            if finished:
                report.skipped += 1
            yield position, frame, finished
            position += 1


def predict(model: str | Path, inputs: Sequence[str | Path], out: str | Path, settings: Settings | None = None,
            **options: Any) -> Report:
    """Run `model` on images, folders and videos, writing JSON + overlays into `out` (see the module docstring).

    `options` are Settings fields (boxes=..., side=..., K=(fx, fy, cx, cy), ...), for notebooks.
    """
    settings = settings or Settings(**options)
    out = Path(out)
    sources = checked_sources(inputs, settings.boxes)
    predictor = Predictor(model, settings)
    boxes = _Boxes(settings)
    out.mkdir(parents=True, exist_ok=True)
    report = Report()
    if predictor.bone_mm is None and settings.root_depth_mm is None:
        report.notes.append("no bone length recorded in this checkpoint: 3D left out (give --bone-mm, or --K and "
                            "--root-depth-mm)")
    if settings.root_depth_mm is not None and settings.K is None:
        report.notes.append("--root-depth-mm without --K: camera_mm is written only for hands whose box gives a K "
                            "(give --K fx,fy,cx,cy for the rest)")
    pending: list[tuple[Frame, list[HandBox], str, list]] = []
    order: list[Path] = []
    with tqdm(desc="predicting", unit="frame", disable=not settings.show_progress) as bar:
        for position, frame, finished in _pending_frames(sources, out, settings.every, report):
            order.append(_output_paths(out, frame)[0])
            if finished:
                continue
            hands, origin = boxes.hands(frame, position)
            pending.append((frame, hands, origin, predictor.prepare(frame, hands)))
            if sum(len(p[3]) for p in pending) >= settings.batch_size:
                _flush(predictor, pending, out, report)
                bar.update(len(pending))
                pending = []
        if pending:
            _flush(predictor, pending, out, report)
            bar.update(len(pending))
    report.written.append(write_atomic(out / JSONL, lambda tmp: _write_jsonl(tmp, order)))
    for source in sources:
        if source.video and settings.overlay:
            _video_overlay(source, out, report)
    return report


def _flush(predictor: Predictor, pending: list, out: Path, report: Report) -> None:
    """Run the pending frames' hands as one batch and write each frame's JSON and overlay."""
    cut = [item for _, _, _, items in pending for item in items]
    hands = predictor.run_batch(cut)
    start = 0
    for frame, boxes, origin, items in pending:
        mine = hands[start:start + len(items)]
        start += len(items)
        payload = _frame_json(frame, boxes, origin, mine, [crop for _, crop in items], predictor.context)
        json_path, overlay_path = _output_paths(out, frame)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        if predictor.settings.overlay:
            picture = draw_overlay(frame.image, payload["hands"])
            report.written.append(write_atomic(overlay_path, lambda tmp: picture.save(tmp, format="JPEG", quality=95, subsampling=0)))
        report.written.append(write_json_atomic(json_path, payload))
        report.predicted += 1


def _write_jsonl(tmp: Path, order: list[Path]) -> None:
    with tmp.open("w") as handle:
        for path in order:
            handle.write(json.dumps(json.loads(path.read_text())) + "\n")


def _video_overlay(source: Source, out: Path, report: Report) -> None:
    """The overlay frames of a video as a video beside them (a note instead when FFmpeg cannot encode one)."""
    images = _frame_files(out / source.stem, ".overlay.jpg")
    if not images:
        return
    indices = sorted(int(p.stem) for p in _frame_files(out / source.stem, ".json"))
    step = indices[1] - indices[0] if len(indices) > 1 else 1
    target = out / f"{source.stem}.overlay.mp4"
    try:
        report.written.append(write_atomic(target, lambda tmp: _encode(tmp, images, video_rate(source.path) / step)))
    except HanddgError as exc:
        report.notes.append(str(exc))


def _frame_files(folder: Path, suffix: str) -> list[Path]:
    """A video's finished frame files (`000120.json`), sorted; temp files of a killed write are not among them."""
    return sorted(p for p in folder.glob(f"*{suffix}") if p.name[:-len(suffix)].isdigit())


def _encode(tmp: Path, images: list[Path], rate: float) -> None:
    if not write_video(tmp, images, rate):
        raise HanddgError(f"this FFmpeg build cannot encode a video: the overlay frames are in {images[0].parent}")
