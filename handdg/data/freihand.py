"""FreiHAND (FreiHAND_pub_v2 and its evaluation release) in its own on-disk layout.

    <root>/training/rgb/%08d.jpg     4 versions x N unique samples (130,240 = 4 x 32,560)
    <root>/training_xyz.json         N x 21 x 3 joints, metres, camera frame
    <root>/training_K.json           N x 3 x 3 intrinsics
    <root>/evaluation/rgb/%08d.jpg   one version
    <root>/evaluation_K.json         (and evaluation_xyz.json once the ground truth is there)

Image id i shows annotation i % N (version i // N: green screen, hom, sample, auto). All hands
are right hands, joint 0 is the wrist; joints are converted from metres to millimetres.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handdg.data.annotations import as_array, read_json
from handdg.data.base import HandDataset, Sample
from handdg.data.camera import project
from handdg.errors import HanddgError

VERSIONS = ("gs", "hom", "sample", "auto")


class FreiHAND(HandDataset):
    """One FreiHAND split: "train" (all four image versions) or "test" (the evaluation set)."""

    name = "freihand"

    def __init__(self, root: Path, split: str) -> None:
        self.root = Path(root)
        self.split = split
        folder = "training" if split == "train" else "evaluation"
        self._image_dir = self.root / folder / "rgb"
        if not self._image_dir.is_dir():
            raise HanddgError(
                f"missing {self._image_dir}: not a FreiHAND root (expected {folder}/rgb/%08d.jpg); check ROOT and --layout"
            )
        k_path = self.root / f"{folder}_K.json"
        xyz_path = self.root / f"{folder}_xyz.json"
        self._K = as_array(read_json(k_path, "a list of 3x3 intrinsics"), (None, 3, 3), k_path, "K")
        count = len(self._K)
        self.annotation_files = (k_path,)
        if split == "train" or xyz_path.is_file():
            self._xyz_m = as_array(read_json(xyz_path, "a list of 21x3 joints in metres"), (count, 21, 3), xyz_path, "xyz")
            self.annotation_files += (xyz_path,)
        else:
            self._xyz_m = np.full((count, 21, 3), np.nan)
        self.unique = count
        self.versions = len(VERSIONS) if split == "train" else 1
        self.ids = [f"{i:08d}" for i in range(self.versions * count)]

    def image_path(self, index: int) -> Path:
        return self._image_dir / f"{self.ids[self.position(index)]}.jpg"

    def load_mask(self, index: int) -> np.ndarray | None:
        """The hand mask of image `index` (training/mask/%08d.jpg of its annotation; all four versions share it)."""
        from handdg.data.images import read_labels

        if self.split != "train":
            return None
        return read_labels(self.root / "training" / "mask" / f"{self.position(index) % self.unique:08d}.jpg") > 127

    def mask_id(self, index: int) -> int:
        """The annotation index: FreiHAND's four image versions of a pose share its mask."""
        return self.position(index) % self.unique

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        index = self.position(index)
        ann = index % self.unique
        xyz_mm = self._xyz_m[ann] * 1000.0
        return Sample(
            id=self.ids[index],
            image=self.load_image(index),
            xyz_mm=xyz_mm,
            K=self._K[ann].copy(),
            uv=project(xyz_mm, self._K[ann]),
            side="right",
            root="wrist",
            extra={"annotation_index": ann, "version": VERSIONS[index // self.unique]},
        )
