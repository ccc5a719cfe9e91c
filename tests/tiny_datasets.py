"""Write tiny datasets in FreiHAND's, RHD's and STB's real on-disk layouts for reader tests."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image


def hand_mm(offset: tuple[float, float, float] = (10.0, 20.0, 500.0)) -> np.ndarray:
    """A plausible right hand in handdg (FreiHAND) order, millimetres, camera frame."""
    joints = [np.zeros(3)]
    for f in range(5):
        base = np.array([-30.0 + 15.0 * f, -60.0 + 4.0 * abs(f - 2), 5.0 * f])
        joints += [base + k * np.array([2.0 * (f - 2), -22.0, -3.0]) for k in range(4)]
    return np.stack(joints) + np.asarray(offset)


def write_image(path: Path, size: tuple[int, int] = (48, 40), value: int = 90) -> None:
    """A small solid RGB image (width, height) with a gradient so crops differ from each other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = value
    img[..., 1] = (np.arange(w) * 255 // max(w - 1, 1))[None, :]
    img[..., 2] = (np.arange(h) * 255 // max(h - 1, 1))[:, None]
    Image.fromarray(img).save(path)


def write_freihand(root: Path, xyz_m: np.ndarray, K: np.ndarray, eval_K: np.ndarray, eval_xyz_m=None) -> Path:
    """FreiHAND: training/rgb/%08d.jpg x 4 versions, training_{xyz,K}.json, evaluation/ likewise."""
    n = len(xyz_m)
    for i in range(4 * n):
        write_image(root / "training" / "rgb" / f"{i:08d}.jpg", (32, 32), 40 * (i // n))
    (root / "training_xyz.json").write_text(json.dumps(np.asarray(xyz_m).tolist()))
    (root / "training_K.json").write_text(json.dumps(np.asarray(K).tolist()))
    for i in range(len(eval_K)):
        write_image(root / "evaluation" / "rgb" / f"{i:08d}.jpg", (32, 32))
    (root / "evaluation_K.json").write_text(json.dumps(np.asarray(eval_K).tolist()))
    if eval_xyz_m is not None:
        (root / "evaluation_xyz.json").write_text(json.dumps(np.asarray(eval_xyz_m).tolist()))
    return root


def write_rhd(root: Path, folder: str, annotations: dict, masks: dict | None = None, protocol: int = 2) -> Path:
    """RHD: <folder>/color/%05d.png, <folder>/mask/%05d.png, <folder>/anno_<folder>.pickle.

    `annotations` maps int ids to {"xyz": 42x3 m, "uv_vis": 42x3, "K": 3x3}; `masks` maps ids
    to (left_pixels, right_pixels) painted with hand-part ids 5 (left) and 20 (right).
    """
    split = root / folder
    for key in annotations:
        write_image(split / "color" / f"{key:05d}.png", (40, 40))
    for key, (left, right) in (masks or {}).items():
        mask = np.zeros(40 * 40, np.uint8)
        mask[:left] = 5
        mask[left : left + right] = 20
        (split / "mask").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask.reshape(40, 40)).save(split / "mask" / f"{key:05d}.png")
    with open(split / f"anno_{folder}.pickle", "wb") as fh:
        pickle.dump(annotations, fh, protocol=protocol)
    return root


def write_stb(root: Path, hand_para: dict[str, np.ndarray], camera: str = "SK", images_dir: bool = False) -> Path:
    """STB: labels/<seq>_<camera>.mat (handPara 3x21xN mm) and the sequence's colour images."""
    prefix = "SK_color" if camera == "SK" else "BB_left"
    (root / "labels").mkdir(parents=True, exist_ok=True)
    image_root = root / "images" if images_dir else root
    for seq, para in hand_para.items():
        scipy.io.savemat(root / "labels" / f"{seq}_{camera}.mat", {"handPara": para})
        for i in range(para.shape[2]):
            write_image(image_root / seq / f"{prefix}_{i}.png", (64, 48))
    return root
