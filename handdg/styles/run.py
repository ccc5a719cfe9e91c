"""The library call behind `handdg styles`: open the source, load the CLIP, build the bank, save its scores."""

from __future__ import annotations

from pathlib import Path

from handdg.files import write_json_atomic
from handdg.styles.build import BankSettings, build_bank, source_images
from handdg.styles.optimise import OptimiseSettings
from handdg.styles.sheet import SHEET, contact_sheet

SUMMARY = "summary.json"


def run_styles(root: Path | str, layout: str, split: str, out: Path | str, family: str = "regions",
               like: Path | str | None = None, model: str = "ViT-B-32", weights: str = "openai", images: int = 8,
               candidates: int = 256, steps: int = 30, lr: float = 0.05, neutral: str | None = None, seed: int = 0,
               device: str = "auto", shard: str | None = None, progress: bool = True,
               texts: list[str] | None = None) -> dict | None:
    """Build (or finish) a style bank of `texts` (default: the paper's 3,920 prompts); returns its summary (also
    OUT/summary.json) once complete, else None."""
    from handdg.data import open_dataset
    from handdg.featurize.clip import load_clip
    from handdg.featurize.sharding import resolve_shard
    from handdg.styles.bank import StyleBank, done_chunks, read_manifest, spec_of

    resolve_shard(shard)
    settings = BankSettings(family=family, images=images, seed=seed, neutral=neutral,
                            optimise=OptimiseSettings(candidates=candidates, steps=steps, lr=lr, seed=seed))
    dataset = open_dataset(root, layout, split)
    encoder = load_clip(model, weights, device)
    path = build_bank(dataset, out, encoder, settings, kind="random" if like else "text", like=like, texts=texts,
                      shard=shard, progress=progress, say=lambda line: None)
    spec = spec_of(read_manifest(path))
    if len(done_chunks(path, spec)) < spec.chunks:
        return None
    loaded = StyleBank.open(path)
    images, masks, _ = source_images(dataset, settings, encoder.image_size)
    contact_sheet(loaded, images[:6], None if masks is None else masks[:6], Path(path) / SHEET)
    summary = {"kind": spec.kind, "family": spec.family, **loaded.summary(), "path": str(Path(path) / SUMMARY)}
    write_json_atomic(Path(path) / SUMMARY, {**summary, "clip": spec.clip, "settings": spec.settings})
    return summary
