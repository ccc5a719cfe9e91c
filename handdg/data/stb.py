"""STB (Stereo Hand Pose Tracking Benchmark) in its own on-disk layout.

    <root>/<seq>/SK_color_%d.png, BB_left_%d.png, BB_right_%d.png   640x480
                                                    (also accepted: <root>/images/<seq>/)
    <root>/labels/<seq>_SK.mat, <seq>_BB.mat        variable handPara: 3 x 21 x N, millimetres

Sequences B1..B6 x {Counting, Random}; test = B1Counting then B1Random (ids run over both),
train = B2..B6. All hands are left hands; joint 0 is the palm centre; the label order is
pinky-first and is converted to handdg's. SK labels are in the RealSense *depth* camera's frame
and are moved into the colour camera's frame; BB labels are in the left camera's frame (the
right camera sits one baseline, 120.054 mm, along x).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.spatial.transform import Rotation

from handdg.data.annotations import as_array, read_mat_variable
from handdg.data.base import HandDataset, Sample
from handdg.data.camera import intrinsics, project
from handdg.data.joints import stb_to_fh
from handdg.errors import HanddgError

TEST_SEQUENCES = ("B1Counting", "B1Random")
TRAIN_SEQUENCES = tuple(f"B{b}{kind}" for b in range(2, 7) for kind in ("Counting", "Random"))

SK_DEPTH_TO_COLOR_ROTVEC = np.array([0.00531, -0.01196, 0.00301])
SK_DEPTH_TO_COLOR_T_MM = np.array([-24.0381, -0.4563, -1.2326])
BB_BASELINE_MM = 120.054


def sk_depth_to_color(xyz_mm: np.ndarray) -> np.ndarray:
    """Move (..., 3) points from the SK depth camera's frame to its colour camera's: (x - t) R.

    STB gives the colour->depth extrinsics (rotation vector, translation in mm); this applies
    the inverse, as hand3d and bihand do.
    """
    rotation = Rotation.from_rotvec(SK_DEPTH_TO_COLOR_ROTVEC).as_matrix()
    return (np.asarray(xyz_mm, dtype=np.float64) - SK_DEPTH_TO_COLOR_T_MM) @ rotation


def bb_left_to_right(xyz_mm: np.ndarray) -> np.ndarray:
    """Move (..., 3) points from the Bumblebee left camera's frame to the right one's (x - baseline)."""
    return np.asarray(xyz_mm, dtype=np.float64) - [BB_BASELINE_MM, 0.0, 0.0]


def _unchanged(xyz_mm: np.ndarray) -> np.ndarray:
    return np.asarray(xyz_mm, dtype=np.float64)


@dataclass(frozen=True)
class StbCamera:
    """One STB camera: its image prefix, label file, intrinsics and the move from label frame to its own."""

    image_prefix: str
    label_suffix: str
    K: np.ndarray
    from_label_frame: Callable[[np.ndarray], np.ndarray]


_BB_K = intrinsics(822.79041, 822.79041, 318.47345, 250.31296)
CAMERAS = {
    "sk": StbCamera("SK_color", "SK", intrinsics(607.92271, 607.88192, 314.78337, 236.42484), sk_depth_to_color),
    "bb": StbCamera("BB_left", "BB", _BB_K, _unchanged),
    "bb_right": StbCamera("BB_right", "BB", _BB_K, bb_left_to_right),
}
"""sk: RealSense colour (labels in its depth camera's frame); bb / bb_right: the rectified
Bumblebee stereo pair (labels in the left camera's frame; hand3d evaluates on both, 6,000 images)."""


class STB(HandDataset):
    """One STB split for one camera: "test" (B1) or "train" (B2-B6), camera "sk", "bb" or "bb_right"."""

    name = "stb"

    def __init__(self, root: Path, split: str, camera: str = "sk") -> None:
        self.root = Path(root)
        self.split = split
        self.camera = camera
        self._camera = CAMERAS[camera]
        labels = self.root / "labels"
        if not labels.is_dir():
            raise HanddgError(f"missing {labels}: not an STB root (expected labels/<seq>_SK.mat); check ROOT and --layout")
        self._image_root = self.root / "images" if (self.root / "images").is_dir() else self.root
        self.sequences = TEST_SEQUENCES if split == "test" else TRAIN_SEQUENCES
        xyz, ids, files = [], [], []
        for seq in self.sequences:
            path = labels / f"{seq}_{self._camera.label_suffix}.mat"
            joints = _read_hand_para(path)
            xyz.append(self._camera.from_label_frame(joints))
            ids += [f"{seq}/{self._camera.image_prefix}_{i}" for i in range(len(joints))]
            files.append(path)
        self.annotation_files = tuple(files)
        self._xyz_mm = stb_to_fh(np.concatenate(xyz))
        self.ids = ids

    def image_path(self, index: int) -> Path:
        return self._image_root / f"{self.ids[self.position(index)]}.png"

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        index = self.position(index)
        seq, frame = self.ids[index].split("/")
        xyz = self._xyz_mm[index].copy()
        return Sample(
            id=self.ids[index],
            image=self.load_image(index),
            xyz_mm=xyz,
            K=self._camera.K.copy(),
            uv=project(xyz, self._camera.K),
            side="left",
            root="palm",
            extra={"sequence": seq, "frame": int(frame.rsplit("_", 1)[1]), "camera": self.camera},
        )


def _read_hand_para(path: Path) -> np.ndarray:
    """handPara of one label file as (N, 21, 3) millimetres in STB joint order."""
    para = read_mat_variable(path, "handPara", "an STB label file with handPara of shape 3 x 21 x N (mm)")
    return as_array(para, (3, 21, None), path, "handPara").transpose(2, 1, 0)
