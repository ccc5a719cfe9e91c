"""`handdg demo`: the README's first command, end to end on built-in synthetic data."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True,
              help="Folder that receives every artefact of the demo.")
def demo(out: Path) -> None:
    """Run synth -> featurize -> train -> eval -> retrieve -> figures on synthetic hands."""
    out.mkdir(parents=True, exist_ok=True)
    for stage in ("synth", "featurize", "train", "eval", "retrieve", "figures"):
        click.echo(f"{stage}: not yet built")
