"""Folders of small random images for featurize and store tests (distinct images give distinct features)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_folder(root: Path, count: int, seed: int = 0, bad: tuple[int, ...] = ()) -> Path:
    """`count` random PNGs img000.png... under `root`; indices in `bad` hold bytes no decoder accepts."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = root / f"img{i:03d}.png"
        if i in bad:
            path.write_bytes(b"not an image")
        else:
            Image.fromarray(rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)).save(path)
    return root
