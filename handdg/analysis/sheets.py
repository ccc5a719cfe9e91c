"""Contact sheets for retrieval (paper Fig. 4): the query on the left, the top-k images on the right."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np

from handdg.analysis.figure import FigureContext, body_top, new_figure, save_figure
from handdg.analysis.retrieval import Hit, Query

CELL = 2.0  # inches per result tile (image + caption)
QUERY_WIDTH = 3.0  # inches for the query column
MAX_COLUMNS = 5


def sheet_size(k: int) -> tuple[float, float]:
    """Figure size in inches of a sheet with k results (5 per row)."""
    cols = min(MAX_COLUMNS, max(k, 1))
    rows = math.ceil(max(k, 1) / cols)
    return QUERY_WIDTH + cols * CELL + 0.3, 1.2 + max(rows * (CELL + 0.3), QUERY_WIDTH + 1.2)


def contact_sheet(query: Query, query_image: np.ndarray | None, hits: Sequence[Hit],
                  hit_images: Sequence[np.ndarray], context: FigureContext, out: Path) -> list[Path]:
    """Draw and save (PNG + PDF) the sheet; returns the written paths."""
    width, height = sheet_size(len(hits))
    fig = new_figure(f"Retrieval: {query.kind} query, top {len(hits)} by cosine similarity", context,
                     (width, height))
    top = body_top(fig)
    _draw_query(fig, query, query_image, top, width, height)
    cols = min(MAX_COLUMNS, max(len(hits), 1))
    for i, (hit, image) in enumerate(zip(hits, hit_images)):
        r, c = divmod(i, cols)
        left = (QUERY_WIDTH + 0.15 + c * CELL) / width
        bottom = top - ((r + 1) * (CELL + 0.3) - 0.1) / height
        ax = fig.add_axes((left, bottom, (CELL - 0.15) / width, (CELL - 0.15) / height))
        ax.imshow(image)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"#{hit.rank}  cos {hit.similarity:.3f}", fontsize=9)
        ax.set_xlabel(_short(hit.id, 28), fontsize=7)
    return save_figure(fig, out)


def _draw_query(fig, query: Query, image: np.ndarray | None, top: float, width: float, height: float) -> None:
    """The left column: query image (if any) above the wrapped prompt and the ratio."""
    size = QUERY_WIDTH - 0.4
    ax = fig.add_axes((0.2 / width, top - (size + 0.3) / height, size / width, size / height))
    ax.set_xticks([])
    ax.set_yticks([])
    if image is not None:
        ax.imshow(image)
        ax.set_title(f"query image  {_short(query.image_id or '', 24)}", fontsize=9)
    else:
        ax.set_title("text query", fontsize=9)
        ax.set_facecolor("#f2f2f2")
    lines = []
    if query.prompt is not None:
        tag = f"prompt #{query.prompt_id}" if query.prompt_id is not None else "prompt"
        lines.append(f"{tag}:")
        lines.extend(textwrap.wrap(f"“{query.prompt}”", 34))
    if query.ratio is not None:
        lines.append(f"q = {query.ratio:g}·n(f_CI) + {1 - query.ratio:g}·n(f_CT)")
    fig.text(0.2 / width, top - (size + 0.55) / height, "\n".join(lines), ha="left", va="top", fontsize=9)


def _short(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with a leading ellipsis (keeps the distinctive end of paths)."""
    return text if len(text) <= limit else "…" + text[-(limit - 1):]
