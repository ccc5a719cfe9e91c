"""What `handdg predict` reads: image files, folders of images and video files, as a stream of frames.

Videos are decoded with PyAV (FFmpeg's libraries); `every` keeps one frame in N. Frames are named
so that each gets its own output files: `photo.jpg` for an image, `clip.mp4#000120` for a video frame.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handdg.data.boxes import read_boxes
from handdg.data.images import read_rgb
from handdg.errors import HanddgError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


@dataclass(frozen=True)
class Source:
    """One input: an image file, or a video file (frames `every` apart)."""

    path: Path
    video: bool

    @property
    def stem(self) -> str:
        """The output name of this input: its file name without the suffix."""
        return self.path.stem


@dataclass
class Frame:
    """One image to run on: its output name, where it came from, its pixels (H, W, 3) uint8 RGB."""

    name: str
    source: Source
    index: int | None
    image: np.ndarray


def find_sources(inputs: Sequence[str | Path]) -> list[Source]:
    """Expand files and folders (their images and videos, sorted by name, not recursive) into sources."""
    found: list[Source] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
            if not inside:
                raise HanddgError(f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}) or videos "
                                  f"({', '.join(VIDEO_SUFFIXES)})")
            found += [Source(p, p.suffix.lower() in VIDEO_SUFFIXES) for p in inside]
        elif path.is_file():
            suffix = path.suffix.lower()
            if suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
                raise HanddgError(f"input {path}: unknown file type {suffix or '(none)'}; give images "
                                  f"({', '.join(IMAGE_SUFFIXES)}), videos ({', '.join(VIDEO_SUFFIXES)}) or folders")
            found.append(Source(path, suffix in VIDEO_SUFFIXES))
        else:
            raise HanddgError(f"input not found: {path}")
    stems = [s.stem for s in found]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise HanddgError(f"two inputs are both named {twice[0]!r} (their outputs would overwrite each other): "
                          "rename one or predict them into separate --out folders")
    return found


def checked_sources(inputs: Sequence[str | Path], boxes: str | Path | None = None) -> list[Source]:
    """The sources of `inputs` after every check that needs no model (so the CLI makes them before torch loads):
    inputs exist and are images, videos or folders of them; the boxes file reads; an official .npy has one row
    per image (a video's frames are counted as they are decoded)."""
    sources = find_sources(inputs)
    table = read_boxes(boxes) if boxes is not None else None
    if isinstance(table, list) and not any(source.video for source in sources) and len(table) != len(sources):
        raise HanddgError(f"boxes file {boxes} has {len(table)} rows but {len(sources)} images were given: "
                          "one row per image, in input order")
    return sources


def frame_name(source: Source, index: int | None) -> str:
    """The name that keys a frame's outputs and its entry in a boxes file: `photo.jpg`, `clip.mp4#000120`."""
    return source.path.name if index is None else f"{source.path.name}#{index:06d}"


def frames(source: Source, every: int = 1, skip: set[str] | None = None) -> Iterator[Frame]:
    """The frames of a source; frames named in `skip` are not decoded into pixels (resume)."""
    skip = skip or set()
    if not source.video:
        name = frame_name(source, None)
        pixels = np.zeros((0, 0, 3), np.uint8) if name in skip else read_rgb(source.path, upright=True)
        yield Frame(name, source, None, pixels)
        return
    import av

    try:
        with av.open(str(source.path)) as container:
            for index, decoded in enumerate(container.decode(video=0)):
                if index % every:
                    continue
                name = frame_name(source, index)
                pixels = np.zeros((0, 0, 3), np.uint8) if name in skip else decoded.to_ndarray(format="rgb24")
                yield Frame(name, source, index, pixels)
    except av.error.FFmpegError as exc:
        raise HanddgError(f"cannot decode video {source.path}: {exc} (re-encode it, e.g. to H.264 .mp4)") from None


def video_rate(path: Path) -> float:
    """Frames per second of a video's first stream (25 when the file does not say)."""
    import av

    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
    return float(rate) if rate else 25.0


def write_video(path: Path, images: Sequence[Path], fps: float) -> bool:
    """Encode overlay images into a video at `path`; False when this FFmpeg build can encode no usable codec."""
    import av
    from PIL import Image

    first = Image.open(images[0])
    width, height = first.size[0] // 2 * 2, first.size[1] // 2 * 2
    for codec in ("libx264", "mpeg4"):
        try:
            with av.open(str(path), "w") as container:
                stream = container.add_stream(codec, rate=max(1, round(fps)))
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                for image in images:
                    rgb = np.asarray(Image.open(image).convert("RGB"))[:height, :width]
                    for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
            return True
        except (av.error.FFmpegError, ValueError):
            path.unlink(missing_ok=True)
    return False
