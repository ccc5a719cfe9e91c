"""`handdg predict`: a checkpoint on the user's own images, folders and videos -> JSON + overlays.

For each frame: its hands — from a boxes file, from the hand detector (handdg.inference.detection; in a video,
followed from frame to frame by handdg.inference.tracking) or the whole image as one hand crop
(handdg.inference.boxes) — each cut and run through the network in batches (handdg.inference.forward),
written as one JSON (handdg.inference.schema) and one overlay per frame, resumably
(handdg.inference.outputs). `predictions.jsonl` holds every frame's JSON in input order; a video also gets
an overlay video.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from handdg.inference.boxes import BoxTable, Found
from handdg.inference.detection import HandDetector, open_detector
from handdg.inference.forward import Cut, Predictor
from handdg.inference.outputs import output_paths, pending_frames, video_overlay, write_frame, write_jsonl
from handdg.inference.schema import frame_json
from handdg.inference.settings import Report, Settings
from handdg.inference.sources import Frame, Source, checked_sources, video_rate
from handdg.inference.tracking import Tracker

__all__ = ["Report", "Settings", "predict"]

NO_HAND = "the detector found no hand in this image"

Pending = tuple[Frame, list[Found], list[Cut]]


class _Locator:
    """Where each frame's hands are: the boxes file, the detector (followed through videos) or the whole image."""

    def __init__(self, settings: Settings, crop_scale: float, report: Report) -> None:
        self.settings, self.crop_scale = settings, crop_scale
        self.table = BoxTable(settings.boxes, settings.side)
        self.detector: HandDetector | None = None
        if settings.boxes is None:
            self.detector, note = open_detector(settings.detect)
            if note is not None:
                report.notes.append(note)
        self.tracker: Tracker | None = None
        self.source: Source | None = None
        self.empty = 0

    def tracks(self, frame: Frame) -> Tracker | None:
        """The tracker of a detected video frame (a new one for each video), None for anything else."""
        if self.detector is None or frame.index is None:
            return None
        if self.source != frame.source:
            rate = video_rate(frame.source.path) / self.settings.every if self.settings.smooth else None
            self.tracker = Tracker(self.detector, self.crop_scale, self.settings.redetect,
                                   self.settings.redetect_below, rate)
            self.source = frame.source
        return self.tracker

    def skipped(self, frame: Frame) -> None:
        """A frame done before: the next frame of its video is detected afresh."""
        if self.tracks(frame) is not None:
            self.tracker.reset()

    def hands(self, frame: Frame, position: int) -> list[Found]:
        """The frame's hands, each with where its box came from."""
        tracker = self.tracks(frame)
        if tracker is not None:
            found = tracker.hands(frame.image)
        elif self.detector is not None:
            found = [d.found(self.crop_scale) for d in self.detector(frame.image)]
        else:
            return self.table.hands(frame, position)
        self.empty += not found
        return found

    def close(self, report: Report) -> None:
        """Free the detector; say how many frames had no hand."""
        if self.detector is not None:
            self.detector.close()
        if self.empty:
            report.notes.append(f"the detector found no hand in {self.empty} frame(s): their JSON has an empty "
                                "hands list (give --boxes, or --detect none if each image is a hand crop)")


def predict(model: str | Path, inputs: Sequence[str | Path], out: str | Path, settings: Settings | None = None,
            **options: Any) -> Report:
    """Run `model` on images, folders and videos, writing JSON + overlays into `out` (see the module docstring).

    `options` are Settings fields (boxes=..., detect="auto", side=..., K=(fx, fy, cx, cy), ...), for notebooks.
    """
    settings = settings or Settings(**options)
    settings.check()
    out = Path(out)
    sources = checked_sources(inputs, settings.boxes)
    predictor = Predictor(model, settings)
    report = Report()
    locator = _Locator(settings, predictor.crop_scale, report)
    out.mkdir(parents=True, exist_ok=True)
    if predictor.bone_mm is None and settings.root_depth_mm is None:
        report.notes.append("no bone length recorded in this checkpoint: 3D left out (give --bone-mm, or --K and "
                            "--root-depth-mm)")
    if settings.root_depth_mm is not None and settings.K is None:
        report.notes.append("--root-depth-mm without --K: camera_mm is written only for hands whose box gives a K "
                            "(give --K fx,fy,cx,cy for the rest)")
    pending: list[Pending] = []
    order: list[Path] = []
    try:
        with tqdm(desc="predicting", unit="frame", disable=not settings.show_progress) as bar:
            for position, frame, finished in pending_frames(sources, out, settings.every, report):
                order.append(output_paths(out, frame)[0])
                if finished:
                    locator.skipped(frame)
                    continue
                tracker = locator.tracks(frame)
                if tracker is not None and pending:  # a tracked frame needs its predecessor's joints
                    bar.update(_flush(predictor, pending, out, report))
                    pending = []
                found = locator.hands(frame, position)
                pending.append((frame, found, predictor.prepare(frame, [f.box for f in found])))
                if tracker is not None or sum(len(p[2]) for p in pending) >= settings.batch_size:
                    bar.update(_flush(predictor, pending, out, report, tracker))
                    pending = []
            if pending:
                bar.update(_flush(predictor, pending, out, report))
    finally:
        locator.close(report)
    write_jsonl(out, order, report)
    for source in sources:
        if source.video and settings.overlay:
            video_overlay(source, out, report)
    return report


def _flush(predictor: Predictor, pending: list[Pending], out: Path, report: Report,
           tracker: Tracker | None = None) -> int:
    """Run the pending frames' hands as one batch (a tracked frame alone, followed into the next) and write each
    frame's JSON and overlay; the number of frames written."""
    hands = predictor.run_batch([item for _, _, items in pending for item in items])
    start = 0
    for frame, found, items in pending:
        mine = hands[start:start + len(items)]
        start += len(items)
        if tracker is not None:
            tracker.update(found, mine)
        note = None if found else NO_HAND  # only the detector finds no hand: a boxes file lists at least one
        payload = frame_json(frame, found, mine, [crop for _, crop in items], predictor.context, note)
        write_frame(out, frame, payload, predictor.settings.overlay, report)
    return len(pending)
