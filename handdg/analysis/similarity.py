"""Cosine-similarity figures: how the mixed feature of an image and a prompt relates to all other images.

For a chosen image x and prompt t, q(r) = r·n(f_CI(x)) + (1−r)·n(f_CT(t)). The figure shows, at
the chosen r, the distribution (histogram) and the sorted curve of cos(q, f_CI(y)) over every
other image y, and as a function of r: the best match, the mean of the top 10, the median, and
the similarity of q to the image's own feature and to the prompt's feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from handdg.analysis.figure import FigureContext, body_top, new_figure, save_figure, store_context
from handdg.analysis.retrieval import prompt_feature
from handdg.analysis.store_view import StoreView, l2_normalise, open_store, unit_image_features, usable_rows
from handdg.errors import HanddgError
from handdg.options import check_ratio

TOP = 10
MAX_ROWS = 6
SWEEP_KEYS = ("top-1", f"top-{TOP} mean", "median", "own image", "prompt")


@dataclass
class SimilarityProfile:
    """Similarities of q(r) for one (image, prompt) pair."""

    image_id: str
    prompt: str
    prompt_id: int | None
    ratio: float
    similarities: np.ndarray  # cos(q(ratio), f_CI(y)) over all other images y, sorted descending
    ratios: np.ndarray
    sweep: dict[str, np.ndarray] = field(default_factory=dict)  # SWEEP_KEYS -> value per ratio


def similarity_profile(store: StoreView, image_id: str, prompt: str, ratio: float,
                       ratios: Sequence[float] = tuple(np.linspace(0, 1, 21)),
                       clip_weights: str | None = None, features: np.ndarray | None = None) -> SimilarityProfile:
    """Compute the profile of one pair; `features` (unit image features) may be passed to share a load."""
    unit = unit_image_features(store) if features is None else features
    row = int(store.row_of([image_id])[0])
    text, text_str, pid = prompt_feature(store, prompt, clip_weights)
    own, txt = unit[row], l2_normalise(text)
    others = np.setdiff1d(usable_rows(store), [row])
    if len(others) == 0:
        raise HanddgError("the store holds one image only; similarity to other images needs at least two")
    to_image, to_text = unit[others] @ own, unit[others] @ txt
    grid = np.asarray(sorted(set(float(r) for r in ratios) | {float(ratio)}), dtype=np.float64)
    sims_by_ratio = [_cosines(r, to_image, to_text, own, txt) for r in grid]
    sweep = {key: np.empty(len(grid)) for key in SWEEP_KEYS}
    for i, r in enumerate(grid):
        sims = np.sort(sims_by_ratio[i])[::-1]
        q = l2_normalise(r * own + (1 - r) * txt)
        sweep["top-1"][i] = sims[0]
        sweep[f"top-{TOP} mean"][i] = sims[:TOP].mean()
        sweep["median"][i] = np.median(sims)
        sweep["own image"][i] = float(q @ own)
        sweep["prompt"][i] = float(q @ txt)
    at = int(np.flatnonzero(grid == ratio)[0])
    return SimilarityProfile(image_id, text_str, pid, float(ratio), np.sort(sims_by_ratio[at])[::-1], grid, sweep)


def _cosines(r: float, to_image: np.ndarray, to_text: np.ndarray, own: np.ndarray, txt: np.ndarray) -> np.ndarray:
    """cos(q(r), y) for all y from the precomputed dot products with the two unit parts of q."""
    norm = float(np.linalg.norm(r * own + (1 - r) * txt))
    return (r * to_image + (1 - r) * to_text) / max(norm, 1e-12)


def similarity_figure(profiles: Sequence[SimilarityProfile], context: FigureContext, out: Path) -> list[Path]:
    """One row per (image, prompt): histogram, sorted curve and r-sweep; saved as PNG + PDF."""
    rows = len(profiles)
    width, height = 15.0, 1.3 + 3.4 * rows
    fig = new_figure("Cosine similarity of the mixed CLIP feature to all other images", context, (width, height))
    grid = fig.add_gridspec(rows, 3, left=0.06, right=0.98, bottom=0.8 / height, top=body_top(fig) - 0.35 / height,
                            hspace=0.5, wspace=0.25)
    for i, prof in enumerate(profiles):
        label = f"image {prof.image_id} + prompt {'#' + str(prof.prompt_id) if prof.prompt_id is not None else ''}"
        hist = fig.add_subplot(grid[i, 0])
        hist.hist(prof.similarities, bins=40, color="tab:blue")
        hist.set_xlabel(f"cos(q, f_CI(y)) at r = {prof.ratio:g}")
        hist.set_ylabel("images")
        hist.set_title(label, fontsize=9, loc="left")
        curve = fig.add_subplot(grid[i, 1])
        curve.plot(np.arange(1, len(prof.similarities) + 1), prof.similarities, color="tab:blue")
        curve.set_xscale("log")
        curve.set_xlabel("rank among other images")
        curve.set_ylabel("cosine similarity")
        curve.set_title(f"“{prof.prompt[:60]}”", fontsize=8, loc="left")
        sweep = fig.add_subplot(grid[i, 2])
        for key in SWEEP_KEYS:
            sweep.plot(prof.ratios, prof.sweep[key], label=key, marker=".")
        sweep.axvline(prof.ratio, color="grey", linestyle=":")
        sweep.set_xlabel("ratio r (image weight)")
        sweep.set_ylabel("cosine similarity")
        sweep.legend(fontsize=7, loc="best")
    return save_figure(fig, out)


def similarity_report(store_path: Path | str, image_ids: Sequence[str], prompts: Sequence[str], ratio: float,
                      out: Path, clip_weights: str | None = None) -> list[Path]:
    """`handdg figures similarity`: one row per (image, prompt) pair of the store at `store_path`."""
    check_ratio(ratio)
    pairs = [(i, p) for i in image_ids for p in prompts]
    if not pairs:
        raise HanddgError("give at least one --image and one --prompt")
    if len(pairs) > MAX_ROWS:
        raise HanddgError(f"{len(pairs)} image × prompt pairs; at most {MAX_ROWS} fit one figure")
    store = open_store(store_path)
    unit = unit_image_features(store)
    profiles = [similarity_profile(store, i, p, ratio, clip_weights=clip_weights, features=unit) for i, p in pairs]
    return similarity_figure(profiles, store_context(store, ratio), out)
