"""Any folder of images (for featurize and retrieval): images only, no annotations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handdg.data.base import HandDataset, Sample
from handdg.errors import HanddgError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class ImageFolder(HandDataset):
    """Every image file below `root` (recursively), ids = relative POSIX paths, sorted."""

    name = "folder"

    def __init__(self, root: Path, split: str) -> None:
        self.root = Path(root)
        self.split = split
        self.ids = sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not self.ids:
            raise HanddgError(f"no images in {self.root} (looked for {', '.join(IMAGE_SUFFIXES)} files, recursively)")

    def image_path(self, index: int) -> Path:
        return self.root / self.ids[self.position(index)]

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        index = self.position(index)
        return Sample(
            id=self.ids[index],
            image=self.load_image(index),
            xyz_mm=np.full((21, 3), np.nan),
            K=np.full((3, 3), np.nan),
            uv=np.full((21, 2), np.nan),
            side="unknown",
            root="unknown",
        )
