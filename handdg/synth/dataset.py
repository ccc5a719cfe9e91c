"""`make_dataset`: write a synthetic dataset in a real dataset's on-disk layout, atomically and deterministically.

Samples are rendered in parallel (tasks.py), each from its own seeded generator (sampling.py),
into a staging folder that becomes OUT only when complete (staging.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from handdg import __version__
from handdg.errors import HanddgError
from handdg.synth.attributes import check_look, write_sidecar
from handdg.synth.sampling import LAYOUTS, check_seed
from handdg.synth.staging import staged_folder
from handdg.synth.writers import WRITERS

MANIFEST = "handdg_synth.json"


DEFAULT_SPLITS = {"freihand": ("train", "test"), "rhd": ("train", "test"), "stb": ("test",)}


def make_dataset(out: Path | str, layout: str, count: int, seed: int, overwrite: bool = False,
                 workers: int = 1, splits: Sequence[str] | None = None, look: str = "default") -> Path:
    """Write `count` synthetic samples in `layout`'s real on-disk layout under `out`; return `out`.

    freihand: `count` unique training samples (4 image versions each) and eval_count(count)
    evaluation samples; rhd: `count` training and eval_count(count) evaluation frames; stb:
    `count` frames per sequence (SK colour and BB stereo images) of the test sequences
    B1Counting/B1Random and, with "train" in `splits`, of the ten B2..B6 training sequences.
    `splits` defaults to DEFAULT_SPLITS[layout] (STB is a target domain: test only). `look`
    "default" keeps the domain's own look, "broad" draws Table 2's attributes for every sample,
    "restricted"/"unseen" and "restricted-hands"/"unseen-hands" draw from the two halves of the
    closed-world experiment's two splits of them; either way each image's attributes go to the SIDECAR file (attributes.py).
    """
    if layout not in LAYOUTS:
        raise HanddgError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if count < 1:
        raise HanddgError(f"count must be at least 1 (got {count})")
    check_seed(seed)
    check_look(look)
    splits = tuple(DEFAULT_SPLITS[layout] if splits is None else splits)
    if not splits or set(splits) - {"train", "test"}:
        raise HanddgError(f"splits must be train and/or test (got {', '.join(splits) or 'none'})")
    out = Path(out)
    with staged_folder(out, overwrite) as tmp:
        records = []
        for split in ("train", "test"):
            if split in splits:
                records += WRITERS[layout](tmp, split, count, seed, workers, look)
        write_sidecar(tmp, records)
        manifest = {"generator": "handdg synth", "handdg_version": __version__, "layout": layout,
                    "count": count, "seed": seed, "splits": list(splits), "look": look}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return out
