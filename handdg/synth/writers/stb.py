"""STB layout: <seq>/SK_color_%d.png, BB_left_%d.png, BB_right_%d.png and labels/<seq>_SK.mat, <seq>_BB.mat.

`handPara` is 3 x 21 x N in millimetres, STB's joint order (palm centre, then pinky..thumb, each
MCP->tip). SK labels are stored in the RealSense *depth* camera's frame (readers move them into
the colour camera's frame with STB's extrinsics); BB labels are in the left Bumblebee camera's frame.
Sequence B<k> is filmed in room variant k (STB's six backgrounds); by default only the test
sequences (B1Counting, B1Random) are written: STB is a target domain here.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image
from scipy.spatial.transform import Rotation

from handdg.data.joints import FH_TO_STB, wrist_to_palm
from handdg.data.stb import SK_DEPTH_TO_COLOR_ROTVEC, SK_DEPTH_TO_COLOR_T_MM, TEST_SEQUENCES, TRAIN_SEQUENCES
from handdg.synth.attributes import described_for
from handdg.synth.sampling import sample_rng, subject_for
from handdg.synth.scenes import stb_views
from handdg.synth.tasks import run_tasks

_FILES = {"sk": "SK_color", "bb_left": "BB_left", "bb_right": "BB_right"}
# A MAT-file's first 116 bytes are free text; scipy writes the platform and the creation time there.
_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by handdg synth".ljust(116, b" ")


def sk_color_to_depth(xyz_mm: np.ndarray) -> np.ndarray:
    """Move (..., 3) points from the SK colour camera's frame to its depth camera's: x R^T + t."""
    rotation = Rotation.from_rotvec(SK_DEPTH_TO_COLOR_ROTVEC).as_matrix()
    return np.asarray(xyz_mm, dtype=np.float64) @ rotation.T + SK_DEPTH_TO_COLOR_T_MM


def save_mat(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """scipy.io.savemat with a fixed header text, so the same arrays give the same bytes (no timestamp)."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, arrays)
    path.write_bytes(_MAT_HEADER + buffer.getvalue()[len(_MAT_HEADER):])


def to_hand_para(xyz_fh_mm: np.ndarray) -> np.ndarray:
    """(N, 21, 3) wrist-rooted FreiHAND-order joints (mm) -> STB handPara (3, 21, N): palm root, STB order."""
    return wrist_to_palm(xyz_fh_mm)[:, FH_TO_STB, :].transpose(2, 1, 0)


def _frame(root: Path, split: str, sequence: str, frame: int, seed: int, look: str
           ) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Render and write one frame from all three cameras; return (SK colour xyz, BB-left xyz) in metres and records."""
    names = TRAIN_SEQUENCES if split == "train" else TEST_SEQUENCES
    rng = sample_rng(seed, "stb", split, names.index(sequence) * 1_000_000 + frame)
    style = "count" if sequence.endswith("Counting") else "random"
    described = described_for(rng, look)
    views = stb_views(rng, subject_for(seed, "stb", split, 0), style, background=int(sequence[1]), look=described)
    records = []
    for camera, prefix in _FILES.items():
        name = f"{sequence}/{prefix}_{frame}.png"
        Image.fromarray(views[camera].image).save(root / name, compress_level=1)
        records.append(views[camera].attributes.record(name))
    return views["sk"].hands[0].xyz, views["bb_left"].hands[0].xyz, records


def write_stb(root: Path, split: str, count: int, seed: int, workers: int = 1, look: str = "default") -> list[dict]:
    """Write `count` frames of each of the split's sequences (test: B1*, train: B2..B6); return the attribute records."""
    (root / "labels").mkdir(exist_ok=True)
    records = []
    for name in TRAIN_SEQUENCES if split == "train" else TEST_SEQUENCES:
        (root / name).mkdir()
        frames = run_tasks(_frame, [(root, split, name, i, seed, look) for i in range(count)], workers, f"stb {name}")
        sk_mm = np.stack([sk for sk, _, _ in frames]) * 1000.0
        bb_mm = np.stack([bb for _, bb, _ in frames]) * 1000.0
        records += [r for _, _, rs in frames for r in rs]
        save_mat(root / "labels" / f"{name}_SK.mat", {"handPara": to_hand_para(sk_color_to_depth(sk_mm))})
        save_mat(root / "labels" / f"{name}_BB.mat", {"handPara": to_hand_para(bb_mm)})
    return records
