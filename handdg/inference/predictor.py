"""`handdg predict`: a checkpoint on the user's own images, folders and videos -> JSON + overlays.

For each frame: its hands (handdg.inference.boxes), each cut and run through the network in batches
(handdg.inference.forward), written as one JSON (handdg.inference.schema) and one overlay per frame,
resumably (handdg.inference.outputs). `predictions.jsonl` holds every frame's JSON in input order;
a video also gets an overlay video.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from handdg.inference.boxes import BoxTable, Found
from handdg.inference.forward import Cut, Predictor
from handdg.inference.outputs import output_paths, pending_frames, video_overlay, write_frame, write_jsonl
from handdg.inference.schema import frame_json
from handdg.inference.settings import Report, Settings
from handdg.inference.sources import Frame, find_sources

__all__ = ["Report", "Settings", "predict"]

Pending = tuple[Frame, list[Found], list[Cut]]


def predict(model: str | Path, inputs: Sequence[str | Path], out: str | Path, settings: Settings | None = None,
            **options: Any) -> Report:
    """Run `model` on images, folders and videos, writing JSON + overlays into `out` (see the module docstring).

    `options` are Settings fields (boxes=..., side=..., K=(fx, fy, cx, cy), ...), for notebooks.
    """
    settings = settings or Settings(**options)
    out = Path(out)
    sources = find_sources(inputs)
    predictor = Predictor(model, settings)
    boxes = BoxTable(settings.boxes, settings.side)
    out.mkdir(parents=True, exist_ok=True)
    report = Report()
    if predictor.bone_mm is None and settings.root_depth_mm is None:
        report.notes.append("no bone length recorded in this checkpoint: 3D left out (give --bone-mm, or --K and "
                            "--root-depth-mm)")
    pending: list[Pending] = []
    order: list[Path] = []
    with tqdm(desc="predicting", unit="frame", disable=not settings.show_progress) as bar:
        for position, frame, finished in pending_frames(sources, out, settings.every, report):
            order.append(output_paths(out, frame)[0])
            if finished:
                continue
            found = boxes.hands(frame, position)
            pending.append((frame, found, predictor.prepare(frame, [f.box for f in found])))
            if sum(len(p[2]) for p in pending) >= settings.batch_size:
                _flush(predictor, pending, out, report)
                bar.update(len(pending))
                pending = []
        if pending:
            _flush(predictor, pending, out, report)
            bar.update(len(pending))
    write_jsonl(out, order, report)
    for source in sources:
        if source.video and settings.overlay:
            video_overlay(source, out, report)
    return report


def _flush(predictor: Predictor, pending: list[Pending], out: Path, report: Report) -> None:
    """Run the pending frames' hands as one batch and write each frame's JSON and overlay."""
    hands = predictor.run_batch([item for _, _, items in pending for item in items])
    start = 0
    for frame, found, items in pending:
        mine = hands[start:start + len(items)]
        start += len(items)
        payload = frame_json(frame, found, mine, [crop for _, crop in items], predictor.context)
        write_frame(out, frame, payload, predictor.settings.overlay, report)
