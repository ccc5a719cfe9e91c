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
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the JSON files and overlays.")
@click.option("--boxes", type=click.Path(path_type=Path), default=None,
              help='Where the hands are: JSON {"IMAGE": [{"bbox": [x, y, w, h], "side": "left|right", '
                   '"K": [fx, fy, cx, cy]}]} keyed by file name (a video frame as NAME.mp4#000120), or the '
                   "official .npy (one row per frame, in the mirrored image).")
@click.option("--whole-image", is_flag=True,
              help="Each image is already a hand crop, FreiHAND-style (the default without --boxes).")
@click.option("--side", type=click.Choice(["right", "left"]), default="right", show_default=True,
              help="Side of the hands a box does not name (and of whole images). Left hands are mirrored in and out.")
@click.option("--box-scale", type=POSITIVE, default=1.0, show_default=True,
              help="Enlarge every box about its centre (detector boxes are tight; the network saw ~2x the hand).")
@click.option("--every", type=COUNT, default=1, show_default=True, help="Videos: predict every N-th frame.")
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
def predict(model: Path, inputs: tuple[Path, ...], out: Path, boxes: Path | None, whole_image: bool, side: str,
            box_scale: float, every: int, intrinsics, root_depth_mm: float | None, bone_mm: float | None,
            batch_size: int, device: str, precision: str, no_overlay: bool) -> None:
    """Run a checkpoint on your own images, folders or videos: JSON + overlays.

    Writes OUT/NAME.json (21 named joints: 2D pixels with a confidence, root-relative mm, camera mm
    when --K and --root-depth-mm are given), OUT/NAME.overlay.jpg, OUT/predictions.jsonl, and for a
    video OUT/NAME/FRAME.json and OUT/NAME.overlay.mp4. Re-running skips frames already done.
    """
    from handdg.errors import HanddgError
    from handdg.inference.sources import checked_sources
    from handdg.run.header import checkpoint_header

    if boxes is not None and whole_image:
        raise HanddgError("give either --boxes FILE or --whole-image, not both")
    checkpoint_header(model)  # before torch loads, as the inputs and boxes file: a wrong one costs no model load
    checked_sources(inputs, boxes)
    from handdg.inference.predictor import Settings, predict as run_predict

    if boxes is None:
        click.echo("no --boxes: each image is taken as one hand crop (--whole-image)", err=True)
    settings = Settings(boxes=boxes, side=side, box_scale=box_scale, every=every, K=intrinsics,
                        root_depth_mm=root_depth_mm, bone_mm=bone_mm, batch_size=batch_size, device=device,
                        precision=precision, overlay=not no_overlay)
    report = run_predict(model, inputs, out, settings)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"predicted {report.predicted} frames ({report.skipped} already done): {out / 'predictions.jsonl'}")
