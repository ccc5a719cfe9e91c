"""`handdg featurize`: encode a dataset's images and the 3,920 prompts with frozen CLIP into a store."""

from __future__ import annotations

from pathlib import Path

import click

from handdg.stores import schema
from handdg.commands.types import COUNT, WORKERS, Shard
from handdg.stores.schema import INDEX_KINDS as KINDS


@click.command("featurize")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--layout", required=True, type=click.Choice(["freihand", "rhd", "stb", "folder"]),
              help="On-disk layout of ROOT; `folder` is any folder of images (ids = relative paths).")
@click.option("--split", default="train", show_default=True, help="train or test (aliases training/evaluation).")
@click.option("--camera", default="sk", show_default=True, type=click.Choice(["sk", "bb"]),
              help="STB only: RealSense colour (sk) or Bumblebee left (bb).")
@click.option("--store", "store", required=True, type=click.Path(path_type=Path),
              help="Feature store to create or resume (a .zarr directory).")
@click.option("--clip-model", default="ViT-B-32", show_default=True,
              help="open_clip architecture name (handdg-synth: the built-in synthetic CLIP), or a model config .json (handdg-tiny for quick tests).")
@click.option("--clip-weights", default="openai", show_default=True,
              help="Pretrained tag, a local .pt/.safetensors file (works offline), builtin (handdg-synth), or random / random:SEED.")
@click.option("--batch-size", default=64, show_default=True, type=COUNT, help="Images per CLIP forward pass.")
@click.option("--workers", default=None, type=WORKERS,
              help="Image decoding processes (default: usable CPU cores - 1, at most 32; 0 decodes in this process).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--shard", default=None, type=Shard(), metavar="I/N",
              help="Write only chunks i, i+n, ... (one process per GPU); default: torchrun's RANK/WORLD_SIZE or all.")
@click.option("--skip-bad", is_flag=True,
              help="Record unreadable images in the store and carry on, instead of stopping at the first one.")
@click.option("--chunk-rows", default=schema.DEFAULT_IMAGE_CHUNK_ROWS, show_default=True, type=COUNT,
              help="Images per store chunk (the unit of resume and sharding); fixed when the store is created.")
@click.option("--index-kind", default="flat", show_default=True, type=click.Choice(KINDS),
              help="FAISS index built when the store is complete: exact flat, or approximate ivf/hnsw.")
@click.option("--prompts-from", default=None, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Copy the prompt features from this complete store made with the same CLIP instead of encoding them.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def featurize(root: Path, layout: str, split: str, camera: str, store: Path, clip_model: str, clip_weights: str,
              batch_size: int, workers: int | None, device: str, shard: str | None, skip_bad: bool,
              chunk_rows: int, index_kind: str, prompts_from: Path | None, quiet: bool) -> None:
    """Encode every image under ROOT and the paper's 3,920 prompts with frozen CLIP into --store.

    Re-running the same command resumes: finished chunks are skipped. Several processes may
    write one store at once (--shard, or torchrun); the last to finish builds the index.
    """
    from handdg.featurize.run import featurize as run_featurize

    report = run_featurize(root, layout, split, store, model=clip_model, weights=clip_weights, device=device,
                           camera=camera, batch_size=batch_size, workers=workers, shard=shard, skip_bad=skip_bad,
                           image_chunk_rows=chunk_rows, index_kind=index_kind, progress=not quiet,
                           prompts_from=prompts_from)
    if report.chunks_repaired:
        click.echo(f"{report.chunks_repaired} damaged chunks found and rewritten")
    click.echo(f"{report.store}: wrote {report.images_written} images ({report.images_per_second:.1f} img/s) "
               f"and {report.prompts_written} prompts")
    if report.chunks_held_elsewhere:
        click.echo(f"{report.chunks_held_elsewhere} chunks were being written by another process")
    if report.skipped_ids:
        shown = ", ".join(report.skipped_ids[:10]) + (" ..." if len(report.skipped_ids) > 10 else "")
        click.echo(f"skipped {len(report.skipped_ids)} unreadable images: {shown}")
    if report.complete:
        click.echo(f"complete; index: {report.index['kind']} over {report.index['count']} rows")
    else:
        click.echo("not complete yet: other shards still to run, or re-run this command to resume")
