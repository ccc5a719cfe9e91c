"""What finding the hands costs `handdg predict`: MediaPipe's recall, the 2D error of detected against true boxes,
frames/s on images and video with the detector's share, and MediaPipe's own landmarks as a peer row.

On whole images whose truth is known: the real RHD and FreiHAND samples (tests/fixtures/mmpose-samples,
COCO-style 2D keypoints, RHD's annotated side; FreiHAND shows right hands only) and synthetic RHD and STB test
frames at full size (320², 640×480; `handdg synth`, or `--data DIR` holding rhd/ and stb/ made by it).

- recall: the share of hands with all their joints inside one detected box (the box handdg cuts: MediaPipe's
  21 landmarks' box × the checkpoint's crop scale); side right: the share of those whose side is right.
- 2D error (px, mean over the 20 finger joints: datasets disagree on the root): handdg with the detected box,
  handdg with the true box (the true joints' box × the same crop scale), and MediaPipe's own landmarks, on the
  hands found. detected / true is what detection costs.
- frames/s of `handdg.predict` (model loading excluded: a second call on the finished folder, which skips every
  frame, is subtracted) on the synthetic RHD images and on a video panning across an STB frame: detect every
  frame, track (detect once, then boxes from the previous frame's joints), no detector; after one warm-up call,
  `--repeats` rounds of every run in turn, the median round kept.

The load average is recorded at start, before and after each timed part, and at the end: the cores are shared.

Usage: python benchmarks/bench_predict.py --model RUN/best.safetensors [--quick] [--data DIR] [--count 40]
       [--video-frames 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import REPO, Claim, parse_args, print_table, write_result

FIXTURES = REPO / "tests" / "fixtures" / "mmpose-samples"
FINGERS = slice(1, 21)


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--model", type=Path, default=None,
                    help="checkpoint (a trained one: 2D error needs it); --quick without it uses random weights")
    ap.add_argument("--data", type=Path, default=None, help="folder with synthetic rhd/ and stb/ test sets")
    ap.add_argument("--count", type=int, default=40, help="synthetic frames per dataset when made here")
    ap.add_argument("--video-frames", type=int, default=40, help="frames of the panning video")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds of every run (the median is reported)")


@dataclass
class Case:
    """One hand of known truth in a whole image."""

    dataset: str
    image: np.ndarray
    uv: np.ndarray
    side: str


def _fixture_cases() -> list[Case]:
    from PIL import Image

    cases = []
    for folder, name in (("rhd", "rhd samples (real)"), ("freihand", "freihand samples (real)")):
        notes = json.loads(next((FIXTURES / folder).glob("test_*.json")).read_text())
        for image in notes["images"]:
            entry = next(a for a in notes["annotations"] if a["image_id"] == image["id"])
            pixels = np.asarray(Image.open(FIXTURES / folder / image["file_name"]).convert("RGB"))
            uv = np.array(entry["keypoints"], dtype=float).reshape(21, 3)[:, :2]
            cases.append(Case(name, pixels, uv, entry.get("hand_type", "right")))
    return cases


def _synthetic_cases(data: Path) -> list[Case]:
    from handdg.data.layouts import open_dataset

    cases = []
    for layout, name in (("rhd", "synthetic rhd test (320²)"), ("stb", "synthetic stb test (640×480)")):
        for sample in open_dataset(data / layout, layout, "test"):
            cases.append(Case(name, sample.image, sample.uv, sample.side))
    return cases


def _make_data(folder: Path, count: int) -> Path:
    for layout, seed in (("rhd", 2), ("stb", 1)):
        # RHD's test split gets an eighth of `--count`; STB writes `--count` frames in each of its two sequences
        per = count * 8 if layout == "rhd" else max(1, count // 2)
        subprocess.run([sys.executable, "-m", "handdg", "synth", str(folder / layout), "--layout", layout,
                        "--count", str(per), "--seed", str(seed), "--split", "test"], check=True, cwd=REPO)
    return folder


def _inside(uv: np.ndarray, xywh: tuple[float, ...]) -> bool:
    x, y, w, h = xywh
    return bool(((uv[:, 0] >= x) & (uv[:, 0] <= x + w) & (uv[:, 1] >= y) & (uv[:, 1] <= y + h)).all())


def _error(uv: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(uv[FINGERS] - truth[FINGERS], axis=1).mean())


def accuracy(cases: list[Case], predictor, detector) -> dict[str, dict]:
    """Per dataset: recall, side, 2D errors (detected box, true box, MediaPipe) and detector seconds per image."""
    from handdg.inference.boxes import joint_box
    from handdg.inference.sources import Frame, Source

    source = Source(Path("bench.png"), False)
    rows: dict[str, dict] = {}
    for case in cases:
        row = rows.setdefault(case.dataset, {"hands": 0, "found": 0, "side_right": 0, "detected_px": [],
                                             "true_box_px": [], "mediapipe_px": [], "detector_s": []})
        frame = Frame("bench.png", source, None, case.image)
        start = time.perf_counter()
        detections = detector(case.image)
        row["detector_s"].append(time.perf_counter() - start)
        row["hands"] += 1
        boxes = [(d, d.found(predictor.crop_scale)) for d in detections]
        hits = [(d, f) for d, f in boxes if _inside(case.uv, f.box.xywh)]
        if not hits:
            continue
        detection, found = min(hits, key=lambda hit: _error(hit[0].landmarks, case.uv))
        row["found"] += 1
        row["side_right"] += detection.side == case.side
        true_box = joint_box(case.uv, predictor.crop_scale, case.side)
        detected, true = predictor.run_batch(predictor.prepare(frame, [found.box, true_box]))
        row["detected_px"].append(_error(detected.uv, case.uv))
        row["true_box_px"].append(_error(true.uv, case.uv))
        row["mediapipe_px"].append(_error(detection.landmarks, case.uv))
    return rows


def _pan_video(folder: Path, case: Case, frames: int) -> tuple[Path, np.ndarray]:
    """A video of a window panning across a whole image (the hand moves smoothly) and the true joints per frame."""
    from handdg.inference.sources import write_video
    from PIL import Image

    height, width = case.image.shape[:2]
    size = (width * 3 // 4 // 2 * 2, height * 3 // 4 // 2 * 2)
    offsets = [(round((width - size[0]) * t), round((height - size[1]) * t)) for t in np.linspace(0, 1, frames)]
    paths, truth = [], []
    for i, (x, y) in enumerate(offsets):
        path = folder / f"{i:04d}.png"
        Image.fromarray(case.image[y:y + size[1], x:x + size[0]]).save(path)
        paths.append(path)
        truth.append(case.uv - [x, y])
    video = folder / "pan.mp4"
    if not write_video(video, paths, 25.0):
        raise SystemExit("this FFmpeg build cannot encode a video")
    return video, np.array(truth)


def _timed_predict(model: Path, inputs: list[Path], out: Path, counter: dict, **options) -> float:
    """Seconds per frame of handdg.predict over `inputs` into a fresh `out`, model loading excluded."""
    from handdg import predict

    start = time.perf_counter()
    report = predict(model, inputs, out, show_progress=False, overlay=False, **options)
    whole = time.perf_counter() - start
    start = time.perf_counter()
    predict(model, inputs, out, show_progress=False, overlay=False, **options)  # every frame skipped: the start-up
    counter["frames"] = report.predicted
    return (whole - (time.perf_counter() - start)) / max(report.predicted, 1)


def speed(model: Path, images: list[Path], video: Path, truth: np.ndarray, work: Path, repeats: int) -> dict[str, dict]:
    """frames/s and the detector's share for images (detected) and video (every frame, tracked, none): after one
    warm-up call (imports, first model load), `repeats` rounds of every run in turn, the median round kept."""
    from handdg.inference import detection

    seconds = {"detector": 0.0}
    call = detection.HandDetector.__call__

    def timed(self, image):
        start = time.perf_counter()
        try:
            return call(self, image)
        finally:
            seconds["detector"] += time.perf_counter() - start

    detection.HandDetector.__call__ = timed
    runs = {"images, detected": ([*images], {"detect": "mediapipe"}),
            "images, whole image (no detector)": ([*images], {"detect": "none"}),
            "video, detect every frame": ([video], {"detect": "mediapipe", "redetect": 1}),
            "video, tracked (detect once)": ([video], {"detect": "mediapipe", "redetect": 0, "redetect_below": 0.0}),
            "video, tracked (defaults: --redetect 30, below 0.5)": ([video], {"detect": "mediapipe"}),
            "video, whole frame (no detector)": ([video], {"detect": "none"})}
    rounds: dict[str, list[dict]] = {name: [] for name in runs}
    try:
        _timed_predict(model, images[:1], work / "warm-up", {}, detect="mediapipe")
        for repeat in range(repeats):
            for n, (name, (inputs, options)) in enumerate(runs.items()):
                seconds["detector"], counter = 0.0, {}
                load = os.getloadavg()[0]
                out = work / f"run{n}-{repeat}"
                per_frame = _timed_predict(model, inputs, out, counter, **options)
                rounds[name].append({"frames_per_s": 1.0 / per_frame, "frames": counter["frames"],
                                     "detector_share": seconds["detector"] / (per_frame * counter["frames"]),
                                     "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)})
                if inputs == [video]:
                    rounds[name][-1].update(_video_error(out / video.stem, truth))
    finally:
        detection.HandDetector.__call__ = call
    found = {}
    for name, tries in rounds.items():
        median = sorted(tries, key=lambda r: r["frames_per_s"])[(len(tries) - 1) // 2]
        found[name] = {**median, "frames_per_s_each": [round(r["frames_per_s"], 3) for r in tries]}
    return found


def _video_error(folder: Path, truth: np.ndarray) -> dict:
    """Per video frame: the 2D error of its hand nearest the truth (frames with none counted as missed)."""
    errors, detected = [], 0
    for i, uv in enumerate(truth):
        hands = json.loads((folder / f"{i:06d}.json").read_text())["hands"]
        detected += any(h["box_from"] == "detector" for h in hands)
        if hands:
            errors.append(min(_error(np.array([j["uv"] for j in h["joints"]]), uv) for h in hands))
    return {"frames_with_a_hand": len(errors), "median_2d_px": float(np.median(errors)) if errors else None,
            "frames_detected": detected}


def main() -> None:
    """Measure, print, write results/predict.json."""
    args = parse_args(__doc__.splitlines()[0], _options)
    load_start = os.getloadavg()
    from handdg.inference.detection import HandDetector
    from handdg.inference.forward import Predictor
    from handdg.inference.settings import Settings

    count = 4 if args.quick else args.count
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = args.model
        if model is None:
            if not args.quick:
                raise SystemExit("give --model: the 2D errors need a trained checkpoint (--quick runs random weights)")
            sys.path.insert(0, str(REPO / "tests"))
            from test_predict import _model

            model = _model(work / "random.safetensors", "canonical")
        data = args.data or _make_data(work / "synthetic", count)
        cases = _fixture_cases() + _synthetic_cases(data)
        predictor, detector = Predictor(model, Settings(device="cpu")), HandDetector()
        load_accuracy = os.getloadavg()[0]
        rows = accuracy(cases, predictor, detector)
        detector.close()
        rhd_images = sorted((data / "rhd").rglob("*.png"))
        rhd_images = [p for p in rhd_images if "color" in p.parts][:count]
        stb = next(c for c in cases if c.dataset.startswith("synthetic stb"))
        (work / "pan").mkdir()
        video, truth = _pan_video(work / "pan", stb, 8 if args.quick else args.video_frames)
        speeds = speed(model, rhd_images, video, truth, work, 1 if args.quick else args.repeats)

    table = []
    for name, row in rows.items():
        found = row["found"]
        mean = {k: float(np.mean(row[k])) if row[k] else float("nan") for k in ("detected_px", "true_box_px", "mediapipe_px")}
        row.update({f"mean_{k}": v for k, v in mean.items()}, recall=found / row["hands"],
                   detector_ms=1000 * float(np.median(row["detector_s"])))
        table.append([name, row["hands"], f"{found / row['hands']:.2f}", f"{row['side_right'] / max(found, 1):.2f}",
                      mean["detected_px"], mean["true_box_px"], mean["mediapipe_px"], row["detector_ms"]])
    print_table("detection on whole images (2D error: px, 20 finger joints, hands found)",
                ["images", "hands", "recall", "side right", "handdg detected box", "handdg true box",
                 "MediaPipe landmarks", "detector ms"], table)
    print_table("handdg.predict frames/s (model loading excluded)",
                ["run", "frames", "frames/s", "detector share", "video median 2D px", "frames detected", "load"],
                [[name, s["frames"], s["frames_per_s"], f"{s['detector_share']:.2f}", s.get("median_2d_px", "-"),
                  s.get("frames_detected", "-"), f"{s['load_before']}-{s['load_after']}"] for name, s in speeds.items()])

    hands = sum(r["hands"] for r in rows.values())
    found = sum(r["found"] for r in rows.values())
    paired = {k: np.concatenate([r[k] for r in rows.values() if r[k]]) for k in ("detected_px", "true_box_px", "mediapipe_px")}
    images, tracked, every = (speeds["images, detected"], speeds["video, tracked (defaults: --redetect 30, below 0.5)"],
                              speeds["video, detect every frame"])
    claims = [
        Claim("P1", "predict: detector recall, hands with every joint inside a detected box (all images)", found / hands,
              f"{found}/{hands}; " + ", ".join(f"{n}: {r['found']}/{r['hands']}" for n, r in rows.items())),
        Claim("P2", "predict: 2D error with detected boxes / with true boxes (hands found)",
              float(paired["detected_px"].mean() / paired["true_box_px"].mean()),
              f"{paired['detected_px'].mean():.1f} vs {paired['true_box_px'].mean():.1f} px over {found} hands", unit="×",
              limit="MediaPipe's landmark box differs from the true joints' box; the error is the trained model's"),
        Claim("P3", "predict: MediaPipe's own 2D landmarks / handdg's with the same boxes (2D error)",
              float(paired["mediapipe_px"].mean() / paired["detected_px"].mean()),
              f"{paired['mediapipe_px'].mean():.1f} vs {paired['detected_px'].mean():.1f} px over {found} hands", unit="×"),
        Claim("P4", "predict: images/s with the detector", images["frames_per_s"],
              f"{images['frames_per_s']:.1f} img/s, detector {images['detector_share']:.0%} of the time; "
              f"{speeds['images, whole image (no detector)']['frames_per_s']:.1f} img/s without", unit=" img/s"),
        Claim("P5", "predict: video frames/s, tracked vs detect every frame (speed-up)",
              tracked["frames_per_s"] / every["frames_per_s"],
              f"{tracked['frames_per_s']:.1f} vs {every['frames_per_s']:.1f} frames/s; detector "
              f"{tracked['detector_share']:.0%} vs {every['detector_share']:.0%} of the time", unit="×"),
    ]
    details = {"datasets": {n: {k: v for k, v in r.items() if not isinstance(v, list)} for n, r in rows.items()},
               "speed": speeds, "model": str(model if args.model else "random weights (--quick)"),
               "load_average": {"start": [round(v, 2) for v in load_start], "accuracy": round(load_accuracy, 2),
                                "end": [round(v, 2) for v in os.getloadavg()]},
               "command": " ".join(["python", "benchmarks/bench_predict.py", *sys.argv[1:]])}
    write_result("predict", args, claims, details)


if __name__ == "__main__":
    main()
