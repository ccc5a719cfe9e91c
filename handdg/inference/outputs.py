"""Where `handdg predict` writes, resumably: one JSON and one overlay per frame, each written atomically, so
a frame whose JSON exists is done and skipped by the next run; `predictions.jsonl` (every frame's JSON in
input order) and a video's overlay video are rebuilt from those files at the end of every run."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from handdg.errors import HanddgError
from handdg.files import write_atomic, write_json_atomic
from handdg.inference.drawing import draw_overlay
from handdg.inference.settings import Report
from handdg.inference.sources import Frame, Source, frames, video_rate, write_video

JSONL = "predictions.jsonl"


def output_paths(out: Path, frame: Frame) -> tuple[Path, Path]:
    """(JSON, overlay) of a frame: `<stem>.json` for an image, `<video stem>/<frame>.json` for a video frame."""
    if frame.index is None:
        return out / f"{frame.source.stem}.json", out / f"{frame.source.stem}.overlay.jpg"
    folder = out / frame.source.stem
    return folder / f"{frame.index:06d}.json", folder / f"{frame.index:06d}.overlay.jpg"


def pending_frames(sources: Sequence[Source], out: Path, every: int, report: Report) -> Iterator[tuple[int, Frame, bool]]:
    """(position, frame, done) of every frame in input order; done frames are not decoded."""
    position = 0
    for source in sources:
        done: set[str] = set()
        if source.video and (out / source.stem).is_dir():
            done = {f"{source.path.name}#{p.stem}" for p in frame_files(out / source.stem, ".json")}
        for frame in frames(source, every, done):
            finished = output_paths(out, frame)[0].exists()
            if finished:
                report.skipped += 1
            yield position, frame, finished
            position += 1


def write_frame(out: Path, frame: Frame, payload: dict[str, Any], overlay: bool, report: Report) -> None:
    """A frame's overlay (when asked) then its JSON, each atomically: the JSON last, as it marks the frame done."""
    json_path, overlay_path = output_paths(out, frame)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    if overlay:
        picture = draw_overlay(frame.image, payload["hands"])
        report.written.append(write_atomic(overlay_path, lambda tmp: picture.save(tmp, format="JPEG", quality=95,
                                                                                   subsampling=0)))
    report.written.append(write_json_atomic(json_path, payload))
    report.predicted += 1


def write_jsonl(out: Path, order: list[Path], report: Report) -> None:
    """`predictions.jsonl`: the JSON of every frame in `order`, one per line."""
    def write(tmp: Path) -> None:
        with tmp.open("w") as handle:
            for path in order:
                handle.write(json.dumps(json.loads(path.read_text())) + "\n")

    report.written.append(write_atomic(out / JSONL, write))


def video_overlay(source: Source, out: Path, report: Report) -> None:
    """The overlay frames of a video as a video beside them (a note instead when FFmpeg cannot encode one)."""
    images = frame_files(out / source.stem, ".overlay.jpg")
    if not images:
        return
    indices = sorted(int(p.stem) for p in frame_files(out / source.stem, ".json"))
    step = indices[1] - indices[0] if len(indices) > 1 else 1
    target = out / f"{source.stem}.overlay.mp4"
    try:
        report.written.append(write_atomic(target, lambda tmp: _encode(tmp, images, video_rate(source.path) / step)))
    except HanddgError as exc:
        report.notes.append(str(exc))


def frame_files(folder: Path, suffix: str) -> list[Path]:
    """A video's finished frame files (`000120.json`), sorted; temp files of a killed write are not among them."""
    return sorted(p for p in folder.glob(f"*{suffix}") if p.name[:-len(suffix)].isdigit())


def _encode(tmp: Path, images: list[Path], rate: float) -> None:
    if not write_video(tmp, images, rate):
        raise HanddgError(f"this FFmpeg build cannot encode a video: the overlay frames are in {images[0].parent}")
