"""RHD (RHD_published_v2) in its own on-disk layout.

    <root>/training/color/%05d.png         (evaluation/ likewise, 320x320 RGB)
    <root>/training/mask/%05d.png          0 background, 1 person, 2-17 left hand, >=18 right hand
    <root>/training/anno_training.pickle   {sample_id: {"xyz": 42x3 m, "uv_vis": 42x3, "K": 3x3}}

Joints 0-20 are the left hand, 21-41 the right, each wrist then fingers tip->MCP. A sample is
the image's dominant hand, as hand3d picks it: the side with more mask pixels; when the mask
is missing or shows no hand, the side with more visible joints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handdg.data.annotations import as_array, read_pickle
from handdg.data.base import HandDataset, Sample
from handdg.data.images import read_labels
from handdg.data.joints import RHD_TO_FH
from handdg.errors import HanddgError

LEFT_MASK_IDS = (2, 17)
RIGHT_MASK_FIRST = 18


class RHD(HandDataset):
    """One RHD split: "train" (training/) or "test" (evaluation/)."""

    name = "rhd"

    def __init__(self, root: Path, split: str) -> None:
        self.root = Path(root)
        self.split = split
        folder = "training" if split == "train" else "evaluation"
        self._dir = self.root / folder
        if not (self._dir / "color").is_dir():
            raise HanddgError(
                f"missing {self._dir / 'color'}: not an RHD root (expected {folder}/color/%05d.png); check ROOT and --layout"
            )
        path = self._dir / f"anno_{folder}.pickle"
        self.annotation_files = (path,)
        anno = read_pickle(path, "a dict {sample_id: {'xyz', 'uv_vis', 'K'}}")
        if not isinstance(anno, dict) or not anno:
            raise HanddgError(f"{path}: expected a non-empty dict {{sample_id: annotation}}, got {type(anno).__name__}")
        keys = sorted(anno)
        if not all(isinstance(k, (int, np.integer)) for k in keys):
            raise HanddgError(f"{path}: sample ids must be integers (e.g. 0, 1, ...)")
        self.ids = [f"{int(k):05d}" for k in keys]
        self._xyz_m = np.stack([_field(anno[k], "xyz", (42, 3), path, k) for k in keys])
        self._uv_vis = np.stack([_field(anno[k], "uv_vis", (42, 3), path, k) for k in keys])
        self._K = np.stack([_field(anno[k], "K", (3, 3), path, k) for k in keys])

    def image_path(self, index: int) -> Path:
        return self._dir / "color" / f"{self.ids[self.position(index)]}.png"

    def mask_path(self, index: int) -> Path:
        """The hand-part segmentation of sample `index`."""
        return self._dir / "mask" / f"{self.ids[self.position(index)]}.png"

    def load_mask(self, index: int) -> np.ndarray | None:
        """Pixels of either hand in the frame's segmentation (labels 2 and above)."""
        return read_labels(self.mask_path(index)) >= LEFT_MASK_IDS[0]

    def files(self, index: int) -> list[Path]:
        return [self.image_path(index), self.mask_path(index)]

    def dominant_side(self, index: int) -> tuple[str, str]:
        """(side, reason) of the hand a sample shows most: by mask pixels, else by visible joints."""
        index = self.position(index)
        mask_path = self.mask_path(index)
        if mask_path.is_file():
            left, right = _mask_pixel_counts(mask_path)
            if left + right > 0:
                return ("left" if left > right else "right"), f"mask pixels left={left} right={right}"
        vis = self._uv_vis[index, :, 2] == 1
        left, right = int(vis[:21].sum()), int(vis[21:].sum())
        return ("left" if left > right else "right"), f"visible joints left={left} right={right}"

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        index = self.position(index)
        side, reason = self.dominant_side(index)
        block = slice(0, 21) if side == "left" else slice(21, 42)
        xyz = self._xyz_m[index, block][RHD_TO_FH] * 1000.0
        uv_vis = self._uv_vis[index, block][RHD_TO_FH]
        return Sample(
            id=self.ids[index],
            image=self.load_image(index),
            xyz_mm=xyz,
            K=self._K[index].copy(),
            uv=uv_vis[:, :2].copy(),
            side=side,
            root="wrist",
            visible=uv_vis[:, 2] == 1,
            extra={"side_from": reason},
        )


def _field(entry: object, key: str, shape: tuple[int, ...], path: Path, sample_id: object) -> np.ndarray:
    """One annotation field of one sample, shape-checked."""
    if not isinstance(entry, dict) or key not in entry:
        raise HanddgError(f"{path}: sample {sample_id} has no '{key}' (expected keys xyz, uv_vis, K)")
    return as_array(entry[key], shape, path, f"sample {sample_id} '{key}'")


def _mask_pixel_counts(path: Path) -> tuple[int, int]:
    """Pixels labelled left hand (ids 2..17) and right hand (ids >= 18) in an RHD mask."""
    mask = read_labels(path)
    left = int(np.count_nonzero((mask >= LEFT_MASK_IDS[0]) & (mask <= LEFT_MASK_IDS[1])))
    right = int(np.count_nonzero(mask >= RIGHT_MASK_FIRST))
    return left, right
