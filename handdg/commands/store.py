"""`handdg store info|verify` and `handdg index build`: inspect, check and index a feature store."""

from __future__ import annotations

import json
from pathlib import Path

import click

from handdg.commands.types import COUNT
from handdg.errors import HanddgError
from handdg.stores.schema import INDEX_KINDS as KINDS

STORE = click.argument("store", type=click.Path(path_type=Path))


@click.group("store")
def store() -> None:
    """Inspect and check feature stores made by `handdg featurize`."""


@store.command("info")
@STORE
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(store: Path, as_json: bool) -> None:
    """What STORE holds: CLIP and dataset provenance, completeness, skipped images, index."""
    from handdg.stores.info import format_info, store_info

    summary = store_info(store)
    click.echo(json.dumps(summary, indent=2) if as_json else format_info(summary))
    if summary["damage"]:
        raise HanddgError(summary["damage"])


@store.command("verify")
@STORE
@click.option("--quiet", is_flag=True, help="No progress bars.")
def verify(store: Path, quiet: bool) -> None:
    """Read every chunk, the attributes and the index of STORE; exit 2 if anything is wrong."""
    from handdg.stores.verify import verify_store

    problems = verify_store(store, progress=not quiet)
    for problem in problems:
        click.echo(f"problem: {problem}")
    if problems:
        raise HanddgError(f"{store} failed verification with {len(problems)} problem(s), listed above")
    click.echo(f"{store}: ok")


@click.group("index")
def index() -> None:
    """The FAISS index inside a feature store."""


@index.command("build")
@STORE
@click.option("--kind", default="flat", show_default=True, type=click.Choice(KINDS),
              help="flat = exact inner product; ivf / hnsw = approximate (recall@10 is measured and saved).")
@click.option("--nlist", default=None, type=COUNT, help="IVF lists (default 4*sqrt(N), at most N/39).")
@click.option("--nprobe", default=16, show_default=True, type=COUNT, help="IVF lists visited per query.")
@click.option("--hnsw-m", default=32, show_default=True, type=click.IntRange(min=2), help="HNSW neighbours per node.")
@click.option("--force", is_flag=True, help="Rebuild even when the saved index is current.")
def build(store: Path, kind: str, nlist: int | None, nprobe: int, hnsw_m: int, force: bool) -> None:
    """Build the index over STORE's L2-normalised image features (after all shards are done)."""
    from handdg.stores.index_build import build_store_index

    attrs = build_store_index(store, kind=kind, nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m, force=force)
    recall = "" if attrs["recall_at_10"] is None else f", recall@10 {attrs['recall_at_10']:.3f}"
    click.echo(f"{store}: {attrs['kind']} index over {attrs['count']} rows{recall}")
