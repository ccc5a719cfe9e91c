"""`handdg import-official`: a thin click layer over handdg.model.official.import_official."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("import-official")
@click.argument("snapshot", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The handdg checkpoint to write (.safetensors).")
def import_official(snapshot: Path, out: Path) -> None:
    """Turn the authors' released snapshot_45.pth.tar into a handdg checkpoint.

    The file is read as weights only (a .pth.tar can run code when unpickled: one that needs
    more is refused). Every tensor the official forward uses maps onto the `paper` network,
    strictly; CLIP, HandSegNet and the unused modules are dropped. The result evaluates
    (`handdg eval`, official decoding by default), predicts and fine-tunes (`handdg train --init`).
    """
    from handdg.model.official import describe, import_official as run_import

    written, imported = run_import(snapshot, out)
    for line in describe(imported):
        click.echo(line)
    click.echo(f"written: {written}")
