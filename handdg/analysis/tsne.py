"""Paper Fig. 3: t-SNE of CLIP-augmented source features ('aug') against image features of each dataset.

'aug' = 0.5·(n(f_CI(x)) + n(f_CT(t))) over source (FreiHAND) samples x, each with a prompt t
drawn uniformly from the 3,920; 'frei', 'stb', 'rhd' (any names) = n(f_CI(x)) of each store.
Each set is capped by a seeded random sample. The embedding uses cosine distance, so the
shorter norm of the 'aug' averages does not separate them by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from handdg.analysis.figure import FigureContext, body_top, merged_context, new_figure, save_figure
from handdg.analysis.retrieval import mix_features
from handdg.analysis.store_view import StoreView, open_store, same_clip, unit_image_features, usable_rows
from handdg.errors import HanddgError
from handdg.options import check_float, check_int

AUG = "aug"
COLOURS = {"aug": "tab:red", "frei": "tab:blue", "stb": "tab:green", "rhd": "tab:orange"}


@dataclass
class TsneResult:
    """The embedded points of each set (name -> (n, 2)) and which rows/prompts they came from."""

    points: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]
    prompt_ids: np.ndarray  # the prompt drawn for each 'aug' point
    seed: int


def tsne_inputs(source: StoreView, datasets: Mapping[str, StoreView], cap: int, seed: int
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """The feature sets to embed: 'aug' from `source`, plus n(f_CI) of each named store (source included).

    Returns (features per set, store rows per set, prompt id per 'aug' row).
    """
    if cap < 2:
        raise HanddgError(f"--cap {cap}: t-SNE needs at least 2 samples per set")
    if AUG in datasets:
        raise HanddgError(f"'{AUG}' names the augmented source set; call the datasets something else")
    same_clip([source, *datasets.values()])
    rng = np.random.default_rng(seed)
    features, rows = {}, {}
    for name, store in datasets.items():
        rows[name] = _sample_rows(usable_rows(store), cap, rng)
        features[name] = unit_image_features(store, rows[name])
    aug_rows = _sample_rows(usable_rows(source), cap, rng)
    prompts = source.prompt_features()
    prompt_ids = rng.integers(0, len(prompts), size=len(aug_rows))
    rows[AUG] = aug_rows
    features[AUG] = mix_features(source.image_features(aug_rows), prompts[prompt_ids], 0.5)
    return features, rows, prompt_ids


def _sample_rows(rows: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Up to `cap` distinct rows out of `rows`, sorted (so store reads go in order)."""
    if len(rows) <= cap:
        return rows
    return np.sort(rng.choice(rows, size=cap, replace=False))


def run_tsne(source: StoreView, datasets: Mapping[str, StoreView], cap: int = 1000, seed: int = 0,
             perplexity: float = 30.0, iterations: int = 1000) -> TsneResult:
    """Embed all sets together in 2-D with scikit-learn t-SNE (cosine metric, PCA init, fixed seed)."""
    from sklearn.manifold import TSNE

    features, rows, prompt_ids = tsne_inputs(source, datasets, cap, seed)
    names = list(features)
    stacked = np.concatenate([features[n] for n in names]).astype(np.float32)
    usable = min(perplexity, (len(stacked) - 1) / 3)
    embedding = TSNE(n_components=2, metric="cosine", init="pca", perplexity=usable,
                     max_iter=max(iterations, 250), random_state=seed).fit_transform(stacked)
    bounds = np.cumsum([0] + [len(features[n]) for n in names])
    points = {n: embedding[bounds[i]:bounds[i + 1]] for i, n in enumerate(names)}
    return TsneResult(points, rows, prompt_ids, seed)


def tsne_figure(result: TsneResult, context: FigureContext, out: Path) -> list[Path]:
    """Scatter of every set, 'aug' drawn first so the datasets stay visible on top; PNG + PDF."""
    width, height = 8.0, 8.6
    fig = new_figure("t-SNE of CLIP features (paper Fig. 3)", context, (width, height))
    ax = fig.add_axes((0.08, 0.07, 0.88, body_top(fig) - 0.11))
    order = [AUG] + [n for n in result.points if n != AUG]
    for name in order:
        pts = result.points[name]
        ax.scatter(pts[:, 0], pts[:, 1], s=6, alpha=0.6, color=COLOURS.get(name), label=f"{name} ({len(pts)})")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="best", markerscale=3)
    ax.set_xlabel(f"aug = 0.5·(n(f_CI) + n(f_CT)), random prompts; others n(f_CI); seed {result.seed}")
    return save_figure(fig, out)


def tsne_report(source: Path | str, targets: Mapping[str, Path | str], out: Path, source_name: str = "frei",
                cap: int = 1000, seed: int = 0, perplexity: float = 30.0,
                iterations: int = 1000) -> tuple[list[Path], dict[str, int]]:
    """`handdg figures tsne`: embed the source store ('aug' and `source_name`) with the target stores.

    Returns the written files and the number of points per set.
    """
    if source_name in targets:
        raise HanddgError(f"'{source_name}' names the source store; give the targets other names")
    check_float("perplexity", perplexity, 0.0, low_open=True)
    check_int("iterations", iterations, 250)
    src = open_store(source)
    stores = {source_name: src, **{name: open_store(path) for name, path in targets.items()}}
    result = run_tsne(src, stores, cap=cap, seed=seed, perplexity=perplexity, iterations=iterations)
    paths = tsne_figure(result, merged_context(stores.values()), out)
    return paths, {name: len(points) for name, points in result.points.items()}
