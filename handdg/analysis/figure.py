"""One way to make and save every handdg figure: titled with what made it, written as PNG and PDF.

Figures are built on `matplotlib.figure.Figure` directly (no pyplot state, no GUI backend), at
a fixed size and dpi so the PNG's pixel size is known in advance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from matplotlib.figure import Figure

from handdg.files import write_atomic_together

DPI = 100
RANDOM_WARNING = "random weights: CLIP features carry no meaning, for trying the pipeline only"


@dataclass(frozen=True)
class FigureContext:
    """What made a figure: CLIP model and weights, dataset(s) and mixing ratio r."""

    model: str
    weights: str
    dataset: str
    ratio: float | None = None

    @property
    def random_weights(self) -> bool:
        """True when the CLIP weights were random (the figure then says so in red)."""
        return "random" in self.weights

    def describe(self) -> str:
        """The provenance line printed under every figure title."""
        weights = re.sub(r"(sha256:[0-9a-f]{12})[0-9a-f]{52}", r"\1…", self.weights)  # a title-sized fingerprint
        parts = [f"CLIP {self.model}", f"weights {weights}", f"dataset {self.dataset}"]
        if self.ratio is not None:
            parts.append(f"r = {self.ratio:g}")
        return "  ·  ".join(parts)


def store_context(store: Any, ratio: float | None = None) -> FigureContext:
    """The figure context of one feature store (its CLIP provenance and dataset)."""
    return merged_context([store], ratio)


def merged_context(stores: Iterable[Any], ratio: float | None = None) -> FigureContext:
    """The figure context of several stores: one CLIP (checked by the caller), their datasets joined."""
    stores = list(stores)
    clip = stores[0].clip_provenance
    names = [dataset_label(s.attrs.get("dataset", {})) for s in stores]
    return FigureContext(str(clip.get("model", "?")), str(clip.get("weights", "?")), " + ".join(names), ratio)


def dataset_label(dataset: dict) -> str:
    """'name/split' of a store's dataset attributes."""
    name = dataset.get("name", "?")
    split = dataset.get("split")
    return f"{name}/{split}" if split else str(name)


def new_figure(title: str, context: FigureContext, size: tuple[float, float]) -> Figure:
    """A figure of `size` inches with the title, the provenance line and, for random CLIP, a red warning.

    The header takes a fixed band at the top; callers lay out axes with `body_rect(fig)`.
    """
    fig = Figure(figsize=size, dpi=DPI)
    height = size[1]
    fig.text(0.5, 1 - 0.22 / height, title, ha="center", va="top", fontsize=13, weight="bold")
    fig.text(0.5, 1 - 0.50 / height, context.describe(), ha="center", va="top", fontsize=9)
    if context.random_weights:
        fig.text(0.5, 1 - 0.72 / height, RANDOM_WARNING.upper(), ha="center", va="top",
                 fontsize=9, weight="bold", color="red")
    return fig


def body_top(fig: Figure) -> float:
    """Figure-fraction y below which the body (axes) may go, leaving room for the header."""
    return 1 - 1.0 / fig.get_figheight()


def save_figure(fig: Figure, out: Path) -> list[Path]:
    """Write `out`.png and `out`.pdf atomically and return both paths.

    Both go to temp files first and are renamed only once both are whole, so a failure (a full
    disk) leaves neither, never one figure that looks finished.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    targets = [out.with_suffix(suffix) for suffix in (".png", ".pdf")]

    def save(temps: list[Path]) -> None:
        for target, tmp in zip(targets, temps):
            fig.savefig(tmp, format=target.suffix[1:], dpi=DPI)

    return write_atomic_together(targets, save)
