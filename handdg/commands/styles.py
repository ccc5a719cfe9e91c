"""`handdg styles`: stage one's style bank, one CLIP-fitted image transform per prompt (or its no-text control)."""

from __future__ import annotations

from pathlib import Path

import click

from handdg.commands.types import COUNT, POSITIVE, WORKERS


@click.command("styles")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--layout", required=True, type=click.Choice(["freihand", "rhd"]),
              help="On-disk layout of ROOT, the source dataset (its hand masks feed the regions family).")
@click.option("--split", default="train", show_default=True, help="Split of ROOT whose images the styles are fitted on.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Style bank folder to create or finish.")
@click.option("--family", default="regions", show_default=True, type=click.Choice(["regions", "global"]),
              help="regions: hand and background colour statistics set apart (needs masks); global: the whole "
                   "image's (PØDA's statistics in pixel space).")
@click.option("--like", default=None, type=click.Path(path_type=Path),
              help="Build the matched no-text control of this complete text bank: random styles of its family, "
                   "each as large (mean pixel change) as its row.")
@click.option("--clip-model", default="ViT-B-32", show_default=True,
              help="open_clip architecture (handdg-synth: the built-in synthetic CLIP).")
@click.option("--clip-weights", default="openai", show_default=True,
              help="Pretrained tag, a local .pt/.safetensors file, builtin (handdg-synth), or random[:SEED].")
@click.option("--images", default=8, show_default=True, type=COUNT, help="Source images each style is fitted on.")
@click.option("--candidates", default=256, show_default=True, type=WORKERS,
              help="Random styles scored per prompt before refining the best (0: start from the source's own).")
@click.option("--steps", default=30, show_default=True, type=WORKERS, help="Adam steps refining each style.")
@click.option("--lr", default=0.05, show_default=True, type=POSITIVE, help="Adam learning rate.")
@click.option("--neutral", default=None,
              help="Text describing the source, the start of each prompt's direction (default: the mean of "
                   "every prompt's embedding).")
@click.option("--seed", default=0, show_default=True, type=WORKERS, help="Seed of the source images and random styles.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--shard", default=None, metavar="I/N",
              help="Write only chunks i, i+n, ... (one process per GPU); default: torchrun's RANK/WORLD_SIZE or all.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def styles(root: Path, layout: str, split: str, out: Path, family: str, like: Path | None, clip_model: str,
           clip_weights: str, images: int, candidates: int, steps: int, lr: float, neutral: str | None, seed: int,
           device: str, shard: str | None, quiet: bool) -> None:
    """Fit, with frozen CLIP, one colour style per prompt of the paper's 3,920 and store them in --out.

    \b
      handdg styles /data/FreiHAND --layout freihand --out fh-styles          # ViT-B-32 openai
      handdg styles /data/FreiHAND --layout freihand --out fh-random --like fh-styles
      handdg train ... --styles fh-styles

    Each style restyles the source so that CLIP's embedding moves toward its prompt; the bank records how
    far it moved toward its own prompt and toward a random other one. Re-running resumes; several processes
    share one bank with --shard (or torchrun).
    """
    from handdg.styles.run import run_styles

    summary = run_styles(root, layout, split, out, family=family, like=like, model=clip_model, weights=clip_weights,
                         images=images, candidates=candidates, steps=steps, lr=lr, neutral=neutral, seed=seed,
                         device=device, shard=shard, progress=not quiet)
    if summary is None:
        click.echo(f"{out}: not complete yet (other shards still to run, or re-run this command to resume)")
        return
    click.echo(f"{out}: {summary['styles']} {summary['kind']} styles ({summary['family']}); CLIP gain toward the own "
               f"prompt {summary['gain_own']:+.3f}, toward a random prompt {summary['gain_random']:+.3f} "
               f"(own > random for {summary['own_beats_random']:.0%}); mean pixel change "
               f"{summary['pixel_distance']:.3f}; written {summary['path']}")
