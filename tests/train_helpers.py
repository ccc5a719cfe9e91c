"""Tiny on-disk datasets and run configs shared by the trainer's tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handdg.run.config import TrainConfig
from tiny_datasets import hand_mm, write_freihand

K_FH = np.array([[300.0, 0.0, 16.0], [0.0, 300.0, 16.0], [0.0, 0.0, 1.0]])


def tiny_freihand(root: Path, unique: int = 3) -> Path:
    """FreiHAND layout with `unique` annotated hands (x4 image versions) and a 2-image evaluation split."""
    xyz_m = np.stack([hand_mm((3.0 * i, -2.0 * i, 480.0 + 15 * i)) for i in range(unique)]) / 1000.0
    return write_freihand(root, xyz_m, np.repeat(K_FH[None], unique, 0), np.repeat(K_FH[None], 2, 0), xyz_m[:2])


def tiny_config(data: Path, out: Path, **overrides) -> TrainConfig:
    """A baseline run of the tiny preset that takes well under a second per step."""
    values = dict(data=str(data), out=str(out), preset="tiny", branch2="none", batch_size=4, steps=6,
                  checkpoint_every=3, log_every=1, heatmap_size=16, device="cpu")
    values.update(overrides)
    return TrainConfig(**values)


def tiny_stb(root: Path, frames: int = 3) -> Path:
    """STB layout (SK camera) whose B1 sequences hold `frames` plausible left hands each, palm-rooted."""
    from handdg.data.joints import FH_TO_STB, wrist_to_palm
    from tiny_datasets import write_stb

    hands = np.stack([wrist_to_palm(hand_mm((-4.0 * i, 3.0 * i, 450.0 + 10 * i))) for i in range(frames)])
    para = hands[:, FH_TO_STB].transpose(2, 1, 0)  # (3, 21, N) in STB's joint order
    return write_stb(root, {"B1Counting": para, "B1Random": para})


def tiny_rhd(root: Path, count: int = 4) -> Path:
    """RHD evaluation split of `count` samples: the left hand holds a plausible pose, the right is hidden."""
    from handdg.data.camera import intrinsics, project
    from handdg.data.joints import FH_TO_RHD
    from tiny_datasets import write_rhd

    K = intrinsics(280.0, 280.0, 20.0, 20.0)
    annotations = {}
    for i in range(count):
        left = hand_mm((2.0 * i, -3.0 * i, 500.0))[FH_TO_RHD] / 1000.0
        xyz = np.concatenate([left, left + [0.0, 0.0, 5.0]])
        uv_vis = np.concatenate([project(xyz, K), np.r_[np.ones(21), np.zeros(21)][:, None]], axis=1)
        annotations[i] = {"xyz": xyz.astype(np.float32), "uv_vis": uv_vis.astype(np.float32), "K": K}
    return write_rhd(root, "evaluation", annotations)


def tiny_store(root: Path, store: Path) -> Path:
    """The feature store of the FreiHAND training split at `root`, made with the tiny random CLIP (32-d)."""
    import torch

    from handdg.data import open_dataset
    from handdg.featurize.clip import load_clip
    from handdg.featurize.run import featurize_dataset

    torch.set_num_threads(1)
    featurize_dataset(open_dataset(root, "freihand"), store, load_clip("handdg-tiny", "random", "cpu"),
                      batch_size=16, workers=0, progress=False)
    return store
