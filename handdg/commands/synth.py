"""`handdg synth` and `handdg synth-sheet`: synthetic datasets in real layouts, and a look at them."""

from __future__ import annotations

from pathlib import Path

import click

from handdg.synth.attributes import LOOKS
from handdg.synth.sampling import LAYOUTS


@click.command("synth")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--layout", type=click.Choice(LAYOUTS), required=True,
              help="Which dataset's on-disk layout (and look) to write: freihand (source domain), rhd or stb (targets).")
@click.option("--count", type=click.IntRange(min=1), default=64, show_default=True,
              help="freihand: unique training samples (x4 image versions); rhd: training frames; stb: frames per sequence.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Same seed, same dataset (images byte for byte).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it is not empty (otherwise that is an error).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes rendering in parallel; the output does not depend on it.")
@click.option("--split", "splits", type=click.Choice(["train", "test"]), multiple=True,
              help="Splits to write (repeatable). Default: train and test; stb: test only (B1), "
                   "--split train adds B2..B6.")
@click.option("--look", type=click.Choice(LOOKS), default="default", show_default=True,
              help="default: the domain's own look; broad: hand colour, background word, room/background and side "
                   "drawn from the paper's Table 2 words for every sample (a caption-training set); restricted: "
                   "right hands in peach or light beige over a plain green background only (a closed-world source); "
                   "unseen: only the other hand colours and background words (closed-world targets); restricted-hands: right "
                   "hands in peach, light beige or dark brown over every background (the closed-world source); "
                   "unseen-hands: white, brown, pale yellow or black hands over the same backgrounds (its targets); "
                   "extreme-hands: white or black hands only; restricted-scenes: the restricted-hands colours over six background "
                   "words (the closed-world source); unseen-scenes: the other four hand colours over the other 13 (its targets).")
def synth(out: Path, layout: str, count: int, seed: int, overwrite: bool, workers: int, splits: tuple[str, ...],
          look: str) -> None:
    """Write a synthetic hand dataset into OUT in LAYOUT's real on-disk layout.

    \b
      handdg synth data/fh --layout freihand --count 1000 --workers 2
      handdg synth data/stb --layout stb --count 100    # B1Counting + B1Random, 100 frames each

    freihand and rhd also get an evaluation split of ceil(count / 8) samples. OUT is built in
    OUT.tmp-<pid> and renamed when complete; a non-empty OUT needs --overwrite. Every image's
    attributes (hand colour, background word, room or background, hands shown) are written to
    OUT/handdg_attributes.jsonl, which the dataset readers ignore.
    """
    from handdg.synth import make_dataset

    path = make_dataset(out, layout, count, seed, overwrite=overwrite, workers=workers, splits=splits or None, look=look)
    click.echo(f"wrote a synthetic {layout} dataset to {path}")


@click.command("synth-sheet")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--per-domain", type=click.IntRange(min=1), default=4, show_default=True,
              help="Samples shown per domain (one row each: freihand, rhd, stb).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Which samples to show.")
@click.option("--skeleton", is_flag=True, help="Draw each hand's ground-truth skeleton on the images.")
def synth_sheet(out: Path, per_domain: int, seed: int, skeleton: bool) -> None:
    """Write a contact sheet PNG (OUT) of synthetic samples from every domain."""
    from handdg.synth import contact_sheet

    click.echo(f"wrote {contact_sheet(out, per_domain, seed, skeleton)}")
