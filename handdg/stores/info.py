"""`handdg store info`: what a store holds, where it came from, and how complete it is."""

from __future__ import annotations

from pathlib import Path

from handdg.stores.feature_store import FeatureStore
from handdg.stores.integrity import DamagedStore

SHOWN_SKIPPED_IDS = 20


def store_info(path: Path | str) -> dict:
    """A JSON-able summary of the store at `path`: provenance, progress, skipped ids, index, and the
    first damaged chunk (`damage`, None when every array reads whole)."""
    store = FeatureStore.open(path)
    try:
        store.check_readable()
        damage = None
    except DamagedStore as exc:
        damage = str(exc)
    images, prompts = store.done_chunks("images"), store.done_chunks("prompts")
    try:
        skipped, index = store.skipped_ids, store.index_attrs
    except DamagedStore:
        skipped, index = [], None
    return {
        "path": str(Path(path)),
        "schema_version": store.attrs["schema_version"],
        "handdg_version": store.attrs.get("handdg_version"),
        "created": store.attrs.get("created"),
        "clip": store.clip_provenance,
        "dataset": store.attrs["dataset"],
        "prompts": store.attrs["prompts"],
        "rows": {"images": store.image_table.rows, "prompts": store.prompt_table.rows, "dim": store.embed_dim},
        "chunks": {
            "images": {"done": int(images.sum()), "total": int(images.size), "rows": store.image_table.chunk_rows},
            "prompts": {"done": int(prompts.sum()), "total": int(prompts.size), "rows": store.prompt_table.chunk_rows},
        },
        "complete": store.complete,
        "skipped": {"count": len(skipped), "ids": skipped[:SHOWN_SKIPPED_IDS]},
        "index": index,
        "damage": damage,
    }


def format_info(info: dict) -> str:
    """The summary as aligned text lines for a terminal."""
    clip, data, chunks, index = info["clip"], info["dataset"], info["chunks"], info["index"]
    random_note = "  (RANDOM weights: features carry no CLIP knowledge)" if clip.get("weights_kind") == "random" else ""
    lines = [
        f"store      {info['path']}  (schema {info['schema_version']}, handdg {info['handdg_version']}, "
        f"created {info['created']})",
        f"clip       {clip['model']} weights={clip['weights']} dim={clip['embed_dim']} "
        f"image_size={clip.get('image_size')}{random_note}",
        f"dataset    {data['name']}/{data['split']}  {data['count']} images  root={data['root']}  "
        f"fingerprint={data['fingerprint']}",
        f"images     {chunks['images']['done']}/{chunks['images']['total']} chunks of {chunks['images']['rows']} rows",
        f"prompts    {chunks['prompts']['done']}/{chunks['prompts']['total']} chunks, "
        f"{info['rows']['prompts']} prompts",
        f"complete   {'yes' if info['complete'] else 'no (re-run the same featurize command to resume)'}",
        f"skipped    {info['skipped']['count']}" + (f": {', '.join(info['skipped']['ids'])}"
                                                   if info["skipped"]["count"] else ""),
    ]
    if index is None:
        lines.append("index      none (run `handdg index build`)")
    else:
        recall = "" if index["recall_at_10"] is None else f" recall@10={index['recall_at_10']:.3f}"
        lines.append(f"index      {index['kind']} over {index['count']} normalised rows{recall}, built {index['built']}")
    return "\n".join(lines)
