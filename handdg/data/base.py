"""The one sample type every dataset reader returns, and the reader interface."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass
class Sample:
    """One hand as handdg reads it, whatever dataset it came from.

    Joints are in FreiHAND order (0 wrist-or-palm root; thumb, index, middle, ring, pinky,
    each root->tip), in millimetres in the camera frame of `image`. `root` says what joint 0
    is as the dataset stores it ("wrist" for FreiHAND/RHD, "palm" for STB). Images without
    annotations (the `folder` layout) have NaN joints, K and uv, and side/root "unknown".
    """

    id: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    xyz_mm: np.ndarray  # (21, 3) float64
    K: np.ndarray  # (3, 3) float64
    uv: np.ndarray  # (21, 2) float64 pixels in `image`
    side: str  # "left" | "right" ("unknown" without annotations)
    root: str = "wrist"  # "wrist" | "palm" ("unknown" without annotations)
    visible: np.ndarray | None = None  # (21,) bool, when the dataset says
    extra: dict = field(default_factory=dict)


class HandDataset(Sequence[Sample]):
    """A dataset split on disk. Subclasses fill `ids` and implement `__getitem__`/`image_path`.

    `load_image` is the cheap path (no annotations) that featurization uses.
    """

    name: str = ""
    root: Path
    split: str
    ids: list[str]
    camera: str | None = None
    annotation_files: tuple[Path, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        """Sample `index` with its image decoded (IndexError past the end, as a Sequence must)."""
        raise NotImplementedError

    def image_path(self, index: int) -> Path:
        """Where sample `index`'s colour image is stored."""
        raise NotImplementedError

    def load_mask(self, index: int) -> np.ndarray | None:
        """Sample `index`'s hand mask as (H, W) bool (hand pixels true), or None where the dataset ships none."""
        return None

    def mask_id(self, index: int) -> int:
        """Which mask sample `index` shows (samples that share one mask share this number)."""
        return self.position(index)

    def files(self, index: int) -> list[Path]:
        """Every file sample `index` is read from (what `handdg data check` looks for)."""
        return [self.image_path(index)]

    def position(self, index: int) -> int:
        """Validate an index (negative counts from the end) and return it as 0..len-1."""
        n = len(self.ids)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.name} {self.split} ({n} samples)")
        return index % n

    def load_image(self, index: int) -> np.ndarray:
        """Sample `index`'s image as (H, W, 3) uint8 RGB, without reading annotations."""
        from handdg.data.images import read_rgb

        if getattr(self, "_annotations_only", False):
            return np.zeros((0, 0, 3), dtype=np.uint8)
        return read_rgb(self.image_path(index))

    def annotation(self, index: int) -> Sample:
        """Sample `index` without decoding its image (`image` is empty): what value checks read."""
        self._annotations_only = True
        try:
            return self[index]
        finally:
            self._annotations_only = False

    def fingerprint(self) -> str:
        """Stable hash of what identifies this split: layout, split and the ordered sample ids."""
        digest = hashlib.sha256(f"{self.name}|{self.split}|".encode())
        digest.update("\n".join(self.ids).encode())
        return digest.hexdigest()[:16]


class Selection(HandDataset):
    """Some samples of a dataset, in the given order (e.g. the official RHD test set, which skips three files)."""

    def __init__(self, dataset: HandDataset, indices: Sequence[int]) -> None:
        self.base = dataset
        self.indices = [dataset.position(i) for i in indices]
        self.name, self.root, self.split, self.camera = dataset.name, dataset.root, dataset.split, dataset.camera
        self.annotation_files = dataset.annotation_files
        self.ids = [dataset.ids[i] for i in self.indices]

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        return self.base[self.indices[self.position(index)]]

    def image_path(self, index: int) -> Path:
        """The base dataset's image of the selected sample."""
        return self.base.image_path(self.indices[self.position(index)])

    def load_mask(self, index: int) -> np.ndarray | None:
        """The base dataset's hand mask of the selected sample."""
        return self.base.load_mask(self.indices[self.position(index)])

    def mask_id(self, index: int) -> int:
        """The base dataset's mask number of the selected sample."""
        return self.base.mask_id(self.indices[self.position(index)])

    def annotation(self, index: int) -> Sample:
        """The base dataset's annotation of the selected sample."""
        return self.base.annotation(self.indices[self.position(index)])
