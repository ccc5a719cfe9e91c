"""FreiHAND layout: training/rgb/%08d.jpg (4 versions), training/mask, *_xyz.json (m), *_K.json, evaluation_scale.json.

Image id `i + N*k` is version k (gs, hom, sample, auto) of unique sample i; the annotation lists
hold N entries. The evaluation split shows one randomly chosen version per sample (the same
distribution as training: it is the in-domain held-out set).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from handdg.synth.attributes import described_for
from handdg.synth.sampling import eval_count, sample_rng, subject_for
from handdg.synth.scenes import freihand_views
from handdg.synth.tasks import run_tasks

_JPEG_QUALITY = 92


def _train_sample(root: Path, index: int, unique: int, seed: int, look: str) -> tuple[list, list, list]:
    """Render unique sample `index`: its four versions and its mask; return (xyz m, K, attribute records)."""
    rng = sample_rng(seed, "freihand", "train", index)
    described = described_for(rng, look)
    images, view, attributes = freihand_views(rng, subject_for(seed, "freihand", "train", index), described)
    records = []
    for k, (image, attrs) in enumerate(zip(images, attributes)):
        name = f"training/rgb/{index + unique * k:08d}.jpg"
        Image.fromarray(image).save(root / name, quality=_JPEG_QUALITY)
        records.append(attrs.record(name))
    mask = np.where(view.part > 0, 255, 0).astype(np.uint8)
    Image.fromarray(mask).convert("RGB").save(root / "training" / "mask" / f"{index:08d}.jpg", quality=_JPEG_QUALITY)
    return view.hands[0].xyz.tolist(), view.K.tolist(), records


def _eval_sample(root: Path, index: int, seed: int, look: str) -> tuple[list, list, list]:
    """Render evaluation sample `index` as one of the four versions; return (xyz m, K, attribute records)."""
    rng = sample_rng(seed, "freihand", "test", index)
    described = described_for(rng, look)
    images, view, attributes = freihand_views(rng, subject_for(seed, "freihand", "test", index), described)
    k = rng.integers(len(images))
    name = f"evaluation/rgb/{index:08d}.jpg"
    Image.fromarray(images[k]).save(root / name, quality=_JPEG_QUALITY)
    return view.hands[0].xyz.tolist(), view.K.tolist(), [attributes[k].record(name)]


def _dump(path: Path, value: object) -> None:
    """Write `value` as JSON (FreiHAND's annotation files are plain JSON lists)."""
    path.write_text(json.dumps(value))


def write_freihand(root: Path, split: str, count: int, seed: int, workers: int = 1, look: str = "default") -> list[dict]:
    """Write one split under `root` (train = `count` unique samples, test = eval_count(count)); return its attribute records."""
    if split == "train":
        for sub in ("training/rgb", "training/mask"):
            (root / sub).mkdir(parents=True)
        train = run_tasks(_train_sample, [(root, i, count, seed, look) for i in range(count)], workers, "freihand train")
        _dump(root / "training_xyz.json", [xyz for xyz, _, _ in train])
        _dump(root / "training_K.json", [K for _, K, _ in train])
        return [r for _, _, records in train for r in records]
    (root / "evaluation" / "rgb").mkdir(parents=True)
    test = run_tasks(_eval_sample, [(root, i, seed, look) for i in range(eval_count(count))], workers, "freihand eval")
    xyz = [x for x, _, _ in test]
    _dump(root / "evaluation_xyz.json", xyz)
    _dump(root / "evaluation_K.json", [K for _, K, _ in test])
    _dump(root / "evaluation_scale.json", [float(np.linalg.norm(np.subtract(x[9], x[10]))) for x in xyz])
    return [r for _, _, records in test for r in records]
