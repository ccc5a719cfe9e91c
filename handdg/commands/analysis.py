"""`handdg retrieve` (paper Fig. 4) and `handdg figures similarity|tsne|pck|tables`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from handdg.commands.types import COUNT, POSITIVE, RATIO
from handdg.errors import HanddgError

RATIO_HELP = "Image weight r of the mixed query r·n(f_CI) + (1−r)·n(f_CT) (0.6 = the paper's STB preset)."
WEIGHTS_HELP = ("The store's CLIP checkpoint file, needed only to encode free text when the store was made "
                "from a local file (prompt ids never need it).")


@click.command("retrieve")
@click.option("--store", "store", required=True, type=click.Path(path_type=Path), help="Feature store to search.")
@click.option("--prompt", default=None, help="Prompt id (0..3919, see `handdg prompts`) or any text.")
@click.option("--image", "image_id", default=None, help="Sample id of the query image (as the store lists it).")
@click.option("--ratio", default=0.6, show_default=True, type=RATIO, help=RATIO_HELP)
@click.option("-k", "k", default=10, show_default=True, type=COUNT, help="How many images to return.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--sheet", default=None, type=click.Path(path_type=Path),
              help="Also draw a contact sheet here (PNG + PDF): the query on the left, the top-k on the right.")
@click.option("--root", default=None, help="Where the store's dataset lives now, if it moved since featurize.")
@click.option("--clip-weights", default=None, help=WEIGHTS_HELP)
def retrieve(store: Path, prompt: str | None, image_id: str | None, ratio: float, k: int, as_json: bool,
             sheet: Path | None, root: str | None, clip_weights: str | None) -> None:
    """Rank a store's images by cosine similarity to a text, image or mixed query (paper Fig. 4).

    With --image and --prompt the query is r·n(f_CI(image)) + (1−r)·n(f_CT(prompt)) and the
    query image is left out of the results; either alone gives an image or a text query.
    """
    from handdg.analysis.retrieval_report import run_retrieval

    report = run_retrieval(store, prompt, image_id, ratio, k, clip_weights, root, sheet)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    click.echo(report.table())
    for path in report.sheet:
        click.echo(f"sheet: {path}")


@click.group("figures")
def figures() -> None:
    """Figures from feature stores and eval results, each as PNG + PDF titled with what made it."""


def _out_option(default: str):
    return click.option("--out", default=Path(default), show_default=True, type=click.Path(path_type=Path),
                        help="Output path without extension; PNG and PDF are written.")


def _echo_written(paths: list[Path]) -> None:
    for path in paths:
        click.echo(f"wrote {path}")


@figures.command("similarity")
@click.option("--store", "store", required=True, type=click.Path(path_type=Path), help="Feature store.")
@click.option("--image", "images", multiple=True, required=True, help="Sample id of a query image (repeatable).")
@click.option("--prompt", "prompts", multiple=True, required=True, help="Prompt id or text (repeatable).")
@click.option("--ratio", default=0.6, show_default=True, type=RATIO, help=RATIO_HELP)
@click.option("--clip-weights", default=None, help=WEIGHTS_HELP)
@_out_option("similarity")
def similarity(store: Path, images: tuple[str, ...], prompts: tuple[str, ...], ratio: float,
               clip_weights: str | None, out: Path) -> None:
    """Cosine similarity of the mixed feature of each image × prompt to all other images, and versus r."""
    from handdg.analysis.similarity import similarity_report

    _echo_written(similarity_report(store, images, prompts, ratio, out, clip_weights))


def _named_store(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise HanddgError(f"--target {value!r}: write it as NAME=STORE, e.g. stb=stb.zarr")
    return name, Path(path)


@figures.command("tsne")
@click.option("--source", required=True, type=click.Path(path_type=Path),
              help="Feature store of the source dataset (FreiHAND): gives 'aug' and its own image features.")
@click.option("--source-name", default="frei", show_default=True, help="Legend name of the source's image features.")
@click.option("--target", "targets", multiple=True, metavar="NAME=STORE",
              help="A target dataset's feature store, e.g. stb=stb.zarr (repeatable).")
@click.option("--cap", default=1000, show_default=True, type=click.IntRange(min=2), help="At most this many samples per set.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sampling, the prompts and t-SNE.")
@click.option("--perplexity", default=30.0, show_default=True, type=POSITIVE,
              help="t-SNE perplexity (lowered automatically for very small sets).")
@click.option("--iterations", default=1000, show_default=True, type=click.IntRange(min=250),
              help="t-SNE optimisation iterations.")
@_out_option("tsne")
def tsne(source: Path, source_name: str, targets: tuple[str, ...], cap: int, seed: int, perplexity: float,
         iterations: int, out: Path) -> None:
    """Paper Fig. 3: t-SNE of 'aug' = 0.5·(n(f_CI) + n(f_CT)) of the source against each store's n(f_CI)."""
    from handdg.analysis.tsne import tsne_report

    named = dict(_named_store(t) for t in targets)
    paths, counts = tsne_report(source, named, out, source_name, cap, seed, perplexity, iterations)
    click.echo("points: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    _echo_written(paths)


@figures.command("pck")
@click.argument("evals", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--label", "labels", multiple=True, help="Legend label per eval file, in order (default: run/file).")
@click.option("--protocol", default="both", show_default=True, type=click.Choice(["both", "hand3d", "official"]),
              help="Which protocol(s) to plot, one panel each.")
@_out_option("pck")
def pck(evals: tuple[Path, ...], labels: tuple[str, ...], protocol: str, out: Path) -> None:
    """PCK curves (0–50 mm) of `handdg eval` JSON files, AUC in the legend (also 20–50 mm for STB)."""
    from handdg.analysis.pck import PROTOCOLS, pck_report

    protocols = PROTOCOLS if protocol == "both" else (protocol,)
    _echo_written(pck_report(list(evals), list(labels), out, protocols))


@figures.command("curves")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--label", "labels", multiple=True, help="Legend label per run, in order (default: the run folder's name).")
@_out_option("curves")
def curves(runs: tuple[Path, ...], labels: tuple[str, ...], out: Path) -> None:
    """Loss curves and validation EPE (beside the constant-pose reference) of training runs."""
    from handdg.analysis.curves import curves_report

    _echo_written(curves_report(list(runs), out, list(labels)))


@figures.command("tables")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", default=Path("tables"), show_default=True, type=click.Path(path_type=Path),
              help="Folder for tables.md and one CSV per table.")
@click.option("--protocol", default="official", show_default=True, type=click.Choice(["official", "hand3d"]),
              help="Which protocol's mean EPE fills the tables (the paper's Table 3 used `official`).")
def tables(paths: tuple[Path, ...], out: Path, protocol: str) -> None:
    """The paper's Tables 3–6 from run folders / eval JSON files, with the paper's numbers alongside."""
    from handdg.analysis.tables import write_tables

    _echo_written(write_tables(list(paths), out, protocol))
