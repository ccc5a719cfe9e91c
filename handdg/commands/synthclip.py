"""`handdg synthclip train`: train the small CLIP of handdg's synthetic world on captioned synthetic hands."""

from __future__ import annotations

from pathlib import Path

import click

from handdg.synthclip.settings import SynthClipSettings

DEFAULTS = SynthClipSettings()


@click.group("synthclip")
def synthclip() -> None:
    """A small CLIP trained on synthetic hands captioned in the paper's Table 2 words (offline, CPU)."""


@synthclip.command("train")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--poses", type=click.IntRange(min=1), default=DEFAULTS.poses, show_default=True,
              help="Hands rendered for the caption set (4 images each, over different described backdrops).")
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=DEFAULTS.batch_size, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=DEFAULTS.lr, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULTS.seed, show_default=True,
              help="Same seed, same caption set, same checkpoint.")
@click.option("--clip-model", default=DEFAULTS.model, show_default=True,
              help="open_clip architecture to train (a small one: it trains on the CPU).")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Train on this synthetic set (written by `handdg synth ... --look broad`) instead of rendering one.")
@click.option("--packed", type=click.Path(path_type=Path), default=None,
              help="Also write the compact copy that ships as --clip-weights builtin.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes rendering the caption set.")
def train(out: Path, poses: int, epochs: int, batch_size: int, lr: float, seed: int, clip_model: str,
          data: Path | None, packed: Path | None, workers: int) -> None:
    """Train a CLIP contrastively (symmetric InfoNCE) on synthetic hands; write OUT (.safetensors).

    \b
      handdg synthclip train synth.safetensors --seed 0
      handdg featurize data/fh --store fh.zarr --clip-model handdg-synth --clip-weights synth.safetensors

    OUT loads wherever --clip-model handdg-synth --clip-weights OUT is accepted. A killed run
    resumes from OUT.resume.pt (written after every epoch).
    """
    from handdg.synthclip import train_synthclip

    settings = SynthClipSettings(model=clip_model, poses=poses, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    summary = train_synthclip(out, settings, data=data, packed_out=packed, workers=workers,
                              log=lambda line: click.echo(line, err=True))
    click.echo(f"wrote {out} ({summary['images']} images, {summary['steps']} steps, "
               f"final loss {summary['loss_history'][-1]:.4f})")
