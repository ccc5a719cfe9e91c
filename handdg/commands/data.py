"""`handdg data check|show`: verify a dataset install and look at one sample as handdg reads it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from handdg.errors import HanddgError

_LAYOUT = click.option(
    "--layout", required=True, type=click.Choice(["freihand", "rhd", "stb"]),
    help="The dataset's on-disk layout (its own release format).",
)
_CAMERA = click.option(
    "--camera", type=click.Choice(["sk", "bb", "bb_right"]), default="sk", show_default=True,
    help="STB only: sk = RealSense colour camera, bb = Bumblebee left, bb_right = Bumblebee right.",
)
_ROOT = click.argument("root", type=click.Path(path_type=Path))


@click.group("data")
def data() -> None:
    """Check a FreiHAND, RHD or STB install and inspect its samples."""


@data.command("check")
@_ROOT
@_LAYOUT
@_CAMERA
@click.option("--deep", is_flag=True, help="Decode every image fully (slow) instead of reading headers only.")
def check(root: Path, layout: str, camera: str, deep: bool) -> None:
    """Verify an install: samples per split, missing or unreadable files, annotation shapes.

    Prints a summary; exits with status 2 if anything is wrong.
    """
    from handdg.data.check import check_install

    report = check_install(root, layout, camera=camera, deep=deep)
    click.echo(report.text())
    if report.problem_count:
        raise HanddgError(f"{report.problem_count} problem(s) in {root} as {layout}; see the list above")


@data.command("show")
@_ROOT
@_LAYOUT
@click.option("--split", default="train", show_default=True,
              help="train or test (aliases training, evaluation). STB test = B1Counting then B1Random.")
@_CAMERA
@click.option("--index", required=True, type=int, help="Sample position in the split (0-based; negative counts from the end).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object instead of a table.")
@click.option("--overlay", type=click.Path(dir_okay=False, path_type=Path), help="Also draw the skeleton on the image and save it here (.png/.jpg).")
def show(root: Path, layout: str, split: str, camera: str, index: int, as_json: bool, overlay: Path | None) -> None:
    """Print one sample as handdg reads it: side, root joint, K, xyz (mm, camera frame,
    FreiHAND joint order) and uv (pixels in the original image)."""
    from handdg.data.show import format_text, show_sample

    info = show_sample(root, layout, index, split=split, camera=camera, overlay=overlay)
    click.echo(json.dumps(info) if as_json else format_text(info))
