"""`handdg demo`: the README's first command, end to end on built-in synthetic data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from handdg.commands.types import COUNT
from handdg.demo import TINY, DemoSettings, run_demo


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True,
              help="Folder that receives every artefact of the demo (re-running resumes into it).")
@click.option("--clip-weights", default=None,
              help="CLIP weights: a tag, a local .pt/.safetensors file, builtin or random[:SEED] "
                   "(default: openai when cached locally, else builtin: handdg's synthetic CLIP, handdg-synth).")
@click.option("--steps", type=COUNT, default=None, help=f"Training steps of each of the two runs (default {DemoSettings.steps}).")
@click.option("--tiny", is_flag=True, hidden=True, help="Tiny CLIP and network: seconds, for tests.")
def demo(out: Path, clip_weights: str | None, steps: int | None, tiny: bool) -> None:
    """Run synth -> featurize -> train -> eval -> retrieve -> figures on synthetic hands (~10 min on 2 CPU cores)."""
    settings = TINY if tiny else DemoSettings()
    if clip_weights is not None:
        settings = replace(settings, clip_weights=clip_weights)
    if steps is not None:
        settings = replace(settings, steps=steps)
    click.echo(run_demo(out, settings).summary())
