"""`handdg predict`: a thin click layer over handdg.inference.predictor.predict."""

from __future__ import annotations

from pathlib import Path

import click

from handdg.commands.types import COUNT, POSITIVE


class _Intrinsics(click.ParamType):
    """fx,fy,cx,cy as four finite numbers, focal lengths positive."""

    name = "fx,fy,cx,cy"

    def convert(self, value, param, ctx):
        """The four numbers, or a click failure naming the option."""
        if isinstance(value, tuple):
            return value
        try:
            numbers = tuple(float(part) for part in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not four numbers fx,fy,cx,cy", param, ctx)
        if len(numbers) != 4 or not all(abs(n) < float("inf") for n in numbers) or min(numbers[:2]) <= 0:
            self.fail(f"{value!r} is not four finite numbers fx,fy,cx,cy with positive focal lengths", param, ctx)
        return numbers


@click.command("predict")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the JSON files and overlays.")
@click.option("--boxes", type=click.Path(path_type=Path), default=None,
              help='Where the hands are: JSON {"IMAGE": [{"bbox": [x, y, w, h], "side": "left|right", '
                   '"K": [fx, fy, cx, cy]}]} keyed by file name (a video frame as NAME.mp4#000120), or the '
                   "official .npy (one row per frame, in the mirrored image). Wins over --detect auto.")
@click.option("--detect", type=click.Choice(["auto", "mediapipe", "none"]), default="auto", show_default=True,
              help="Without --boxes, find the hands and their sides with MediaPipe's palm detector and landmarks "
                   "(pip install 'handdg[detect]'). auto: when installed, else whole images; none: each image is "
                   "already a hand crop.")
@click.option("--whole-image", is_flag=True, help="Each image is already a hand crop, FreiHAND-style (= --detect none).")
@click.option("--side", type=click.Choice(["right", "left"]), default="right", show_default=True,
              help="Side of the hands a box does not name (and of whole images). Left hands are mirrored in and out.")
@click.option("--box-scale", type=POSITIVE, default=1.0, show_default=True,
              help="Enlarge every box about its centre (detected boxes already hold the training crop's margin).")
@click.option("--every", type=COUNT, default=1, show_default=True, help="Videos: predict every N-th frame.")
@click.option("--redetect", type=click.IntRange(min=0), default=30, show_default=True,
              help="Videos: run the detector every N predicted frames (0: only when a hand is lost); in between "
                   "each hand's box comes from its joints in the previous frame.")
@click.option("--redetect-below", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Videos: detect again as soon as a hand's mean joint confidence falls below this fraction of "
                   "what it was in the frame where the hand was detected.")
@click.option("--smooth", is_flag=True,
              help="Videos: smooth the 2D joints over time (One-Euro filter: steady when still, no lag when fast).")
@click.option("--K", "intrinsics", type=_Intrinsics(), default=None,
              help="Camera intrinsics fx,fy,cx,cy of every image (a box's own K wins); default: focal max(W, H) px.")
@click.option("--root-depth-mm", type=POSITIVE, default=None,
              help="Depth of the root joint; with --K (or a box's K) it gives camera-space mm (camera_mm).")
@click.option("--bone-mm", type=POSITIVE, default=None,
              help="Middle-finger MCP->PIP bone length that scales the 3D pose (default: the training set's mean, "
                   "recorded in the checkpoint).")
@click.option("--batch-size", type=COUNT, default=16, show_default=True, help="Hands per forward pass.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True,
              help="fp32, or bf16 / fp16 autocast; auto = bf16 on CUDA GPUs that support it, fp32 otherwise.")
@click.option("--no-overlay", is_flag=True, help="Write JSON only.")
def predict(model: Path, inputs: tuple[Path, ...], out: Path, boxes: Path | None, detect: str, whole_image: bool,
            side: str, box_scale: float, every: int, redetect: int, redetect_below: float, smooth: bool, intrinsics,
            root_depth_mm: float | None, bone_mm: float | None, batch_size: int, device: str, precision: str,
            no_overlay: bool) -> None:
    """Run a checkpoint on your own images, folders or videos: JSON + overlays.

    Finds the hands itself (--detect, with `pip install 'handdg[detect]'`) and follows them through a
    video, or takes them from --boxes. Writes OUT/NAME.json (every hand's side, box and 21 named joints:
    2D pixels with a confidence, root-relative mm, camera mm when --K and --root-depth-mm are given),
    OUT/NAME.overlay.jpg, OUT/predictions.jsonl, and for a video OUT/NAME/FRAME.json and
    OUT/NAME.overlay.mp4. An image with no hand found gets an empty hands list. Re-running skips frames
    already done.
    """
    from handdg.errors import HanddgError
    from handdg.inference.settings import Settings
    from handdg.inference.sources import checked_sources
    from handdg.run.header import checkpoint_header

    if boxes is not None and whole_image:
        raise HanddgError("give either --boxes FILE or --whole-image, not both")
    if whole_image and detect == "mediapipe":
        raise HanddgError("give either --whole-image or --detect mediapipe, not both")
    settings = Settings(boxes=boxes, detect="none" if whole_image else detect, side=side, box_scale=box_scale,
                        every=every, redetect=redetect, redetect_below=redetect_below, smooth=smooth, K=intrinsics,
                        root_depth_mm=root_depth_mm, bone_mm=bone_mm, batch_size=batch_size, device=device,
                        precision=precision, overlay=not no_overlay)
    settings.check()  # before torch loads, as the header, inputs and boxes file: a wrong one costs no model load
    checkpoint_header(model)
    checked_sources(inputs, boxes)
    from handdg.inference.predictor import predict as run_predict

    report = run_predict(model, inputs, out, settings)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"predicted {report.predicted} frames ({report.skipped} already done): {out / 'predictions.jsonl'}")
