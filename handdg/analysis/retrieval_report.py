"""The whole `handdg retrieve` job: open a store, build the query, rank, name the files, draw the sheet."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from handdg.analysis.figure import store_context
from handdg.analysis.retrieval import Hit, Query, build_query, retrieve
from handdg.analysis.sheets import contact_sheet
from handdg.analysis.store_view import StoreView, images_by_id, open_store, store_dataset


@dataclass
class RetrievalReport:
    """The query, its ranked hits, the image file of each hit (when the dataset is at hand) and the sheet."""

    store: str
    query: Query
    hits: list[Hit]
    files: list[str | None]
    sheet: list[Path] = field(default_factory=list)

    def to_json(self) -> dict:
        """Everything as plain JSON (for `--json`)."""
        return {
            "store": self.store,
            "query": self.query.describe(),
            "hits": [{"rank": h.rank, "id": h.id, "row": h.row, "file": f, "similarity": h.similarity}
                     for h, f in zip(self.hits, self.files)],
            "sheet": [str(p) for p in self.sheet],
        }

    def table(self) -> str:
        """The ranked hits as an aligned text table: rank, sample id, file, cosine similarity."""
        rows = [("rank", "id", "file", "cosine")]
        rows += [(str(h.rank), h.id, f or "-", f"{h.similarity:.4f}") for h, f in zip(self.hits, self.files)]
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)


def run_retrieval(store_path: Path | str, prompt: str | None = None, image_id: str | None = None,
                  ratio: float = 0.6, k: int = 10, clip_weights: str | None = None, root: str | None = None,
                  sheet: Path | None = None) -> RetrievalReport:
    """Rank the store's images for the query; with `sheet`, also draw the contact sheet (needs the images).

    Without a sheet, a dataset folder that is not at hand only leaves the file column empty.
    """
    store = open_store(store_path)
    query = build_query(store, prompt=prompt, image_id=image_id, ratio=ratio, clip_weights=clip_weights)
    hits = retrieve(store, query, k)
    dataset = store_dataset(store, root) if sheet is not None or _dataset_at_hand(store, root) else None
    files: list[str | None] = [None] * len(hits)
    if dataset is not None:
        index = {sample_id: i for i, sample_id in enumerate(dataset.ids)}
        files = [str(dataset.image_path(index[h.id])) if h.id in index else None for h in hits]
    report = RetrievalReport(str(store_path), query, hits, files)
    if sheet is not None:
        images = images_by_id(dataset, [h.id for h in hits] + ([image_id] if image_id else []))
        query_image = images.pop() if image_id else None
        report.sheet = contact_sheet(query, query_image, hits, images, store_context(store, query.ratio), sheet)
    return report


def _dataset_at_hand(store: StoreView, root: str | None) -> bool:
    """Whether the store's dataset folder (or `root`) exists here."""
    where = root if root is not None else store.attrs.get("dataset", {}).get("root")
    return bool(where) and Path(where).is_dir()
