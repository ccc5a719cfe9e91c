"""Every training image decoded once into a uint8 file that workers memory-map instead of decoding JPEGs.

Decoding the JPEG is much of what a data-loading worker spends per sample (docs/performance.md, "Feeding a
GPU"). The cache holds the
decoded pixels unchanged (full resolution), so a run reads exactly the pixels it would have decoded.

A cache folder holds `pixels.u8` (every image's H×W×3 bytes, in dataset order), `index.npy` (offset, height,
width, crc32 per image) and `manifest.json` (the dataset's identity and its image files' sizes and mtimes).
It is built on first use under a lock (so torchrun's processes or two runs on one dataset build it once),
staged beside its place and moved in whole, and verified at every start: a manifest that no longer matches
the dataset, a short file or a checksum that fails is said on stderr and the cache is built again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from handdg.data.base import HandDataset
from handdg.errors import HanddgError
from handdg.files import staged_folder

VERSION = 1
PIXELS, INDEX, MANIFEST = "pixels.u8", "index.npy", "manifest.json"
RESERVE_SHARE, RESERVE_BYTES = 0.10, 5 * 2**30
"""A cache is only built when the disk keeps min(RESERVE_SHARE of its size, RESERVE_BYTES) free afterwards: a
tenth of a small disk, 5 GiB of a large one (a 271 GB disk with 23 GB free still takes a 1 GB cache)."""


def default_root() -> Path:
    """$HANDDG_CACHE/decoded, else $XDG_CACHE_HOME/handdg/decoded, else ~/.cache/handdg/decoded."""
    if os.environ.get("HANDDG_CACHE"):
        return Path(os.environ["HANDDG_CACHE"]) / "decoded"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "handdg" / "decoded"


def cache_folder(dataset: HandDataset, root: Path) -> Path:
    """Where `dataset`'s cache lives under `root`: its layout, split, fingerprint and a digest of its folder."""
    where = hashlib.sha256(str(Path(dataset.root).resolve()).encode()).hexdigest()[:8]
    return root / f"{dataset.name}-{dataset.split}-{dataset.fingerprint()}-{where}"


def _manifest(dataset: HandDataset) -> dict:
    """What the cache was made from: the dataset's identity and each image file's size and mtime."""
    sources = hashlib.sha256()
    for index in range(len(dataset)):
        stat = dataset.image_path(index).stat()
        sources.update(f"{index}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return {"version": VERSION, "name": dataset.name, "split": dataset.split, "root": str(Path(dataset.root).resolve()),
            "count": len(dataset), "fingerprint": dataset.fingerprint(), "sources": sources.hexdigest()}


class DecodedImages:
    """Read-only decoded images of one dataset, opened lazily per process (DataLoader workers map it themselves)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.index = np.load(self.folder / INDEX)
        self._pixels: np.memmap | None = None

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int) -> np.ndarray:
        """Image `index` as (H, W, 3) uint8, a read-only view of the mapped file."""
        if self._pixels is None:
            self._pixels = np.memmap(self.folder / PIXELS, dtype=np.uint8, mode="r")
        offset, height, width, _ = (int(v) for v in self.index[index])
        return self._pixels[offset:offset + height * width * 3].reshape(height, width, 3)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pixels": None}

    def damage(self, dataset: HandDataset) -> str | None:
        """Why this cache cannot stand for `dataset` (stale manifest, wrong size, failed checksum), or None."""
        try:
            saved = json.loads((self.folder / MANIFEST).read_text())
        except (OSError, ValueError):
            return "its manifest is missing or unreadable"
        if saved != _manifest(dataset):
            return "the dataset's images changed since it was built"
        size = (self.folder / PIXELS).stat().st_size
        expected = int((self.index[:, 1] * self.index[:, 2] * 3).sum())
        if size != expected:
            return f"{PIXELS} holds {size} bytes, not {expected}"
        for index in range(len(self)):
            if zlib.crc32(self[index].data) != int(self.index[index, 3]):
                return f"image {index} fails its checksum"
        return None


def build(dataset: HandDataset, folder: Path, show: bool = True) -> DecodedImages:
    """Decode every image of `dataset` into a new cache at `folder` (staged beside it, moved in whole)."""
    with staged_folder(folder) as tmp:
        rows = []
        offset = 0
        with (tmp / PIXELS).open("wb") as out:
            for index in tqdm(range(len(dataset)), desc=f"decoding {dataset.name} {dataset.split} once",
                              unit="image", disable=not show):
                image = np.ascontiguousarray(dataset.load_image(index), dtype=np.uint8)
                if image.ndim != 3 or image.shape[2] != 3:
                    raise HanddgError(f"{dataset.image_path(index)}: decoded to shape {image.shape}, not H×W×3")
                out.write(image.data)
                rows.append((offset, image.shape[0], image.shape[1], zlib.crc32(image.data)))
                offset += image.nbytes
        np.save(tmp / INDEX, np.array(rows, dtype=np.int64).reshape(-1, 4))
        (tmp / MANIFEST).write_text(json.dumps(_manifest(dataset), indent=2) + "\n")
    return DecodedImages(folder)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def room_for(dataset: HandDataset, root: Path) -> str | None:
    """Why a cache of `dataset` should not be built under `root` (it would leave less than the reserve free; its
    size from the first image's), or None."""
    need = np.asarray(dataset.load_image(0)).nbytes * len(dataset)
    usage = shutil.disk_usage(root)
    if usage.free - need >= min(RESERVE_SHARE * usage.total, RESERVE_BYTES):
        return None
    return (f"it needs {need / 1e9:.1f} GB and {root} has {usage.free / 1e9:.1f} GB free of {usage.total / 1e9:.0f}; "
            "decoding every sample instead (--decode-cache DIR puts it elsewhere)")


def open_cache(dataset: HandDataset, root: Path | str, show: bool = True) -> DecodedImages | None:
    """`dataset`'s verified cache under `root`, built (or rebuilt, saying why on stderr) when needed; None (said
    on stderr) when building it would nearly fill the disk."""
    folder = cache_folder(dataset, Path(root))
    with _locked(folder):
        if (folder / INDEX).exists():
            try:
                cache = DecodedImages(folder)
                why = cache.damage(dataset)
            except (OSError, ValueError) as error:
                why = f"it cannot be read ({error})"
            if why is None:
                return cache
            print(f"decoded-image cache {folder}: {why}; building it again", file=sys.stderr)
        full = room_for(dataset, folder.parent)
        if full is not None:
            print(f"decoded-image cache not built: {full}", file=sys.stderr)
            return None
        return build(dataset, folder, show)
