"""`open_dataset`: one entry point from (root, layout, split, camera) to a reader."""

from __future__ import annotations

from pathlib import Path

from handdg.data.base import HandDataset
from handdg.data.folder import ImageFolder
from handdg.data.freihand import FreiHAND
from handdg.data.rhd import RHD
from handdg.data.stb import CAMERAS, STB
from handdg.errors import HanddgError

LAYOUTS = ("freihand", "rhd", "stb", "folder")
SPLITS = {"train": "train", "training": "train", "test": "test", "evaluation": "test", "eval": "test"}


def normalise_split(split: str) -> str:
    """Map a split name or alias ("training", "evaluation", "eval") to "train" or "test"."""
    try:
        return SPLITS[split.lower()]
    except KeyError:
        raise HanddgError(f"unknown split '{split}': use train or test (aliases: training, evaluation)") from None


def open_dataset(root: Path | str, layout: str, split: str = "train", camera: str = "sk") -> HandDataset:
    """Open one split of a dataset stored in its own on-disk layout.

    `camera` chooses STB's camera ("sk" RealSense colour, "bb" Bumblebee left, "bb_right"
    Bumblebee right); the other layouts have one camera and accept only the default.
    """
    root = Path(root)
    if not root.is_dir():
        raise HanddgError(f"dataset root not found: {root} (pass the folder that holds the dataset)")
    layout = layout.lower()
    if layout not in LAYOUTS:
        raise HanddgError(f"unknown layout '{layout}': use one of {', '.join(LAYOUTS)}")
    if camera not in CAMERAS:
        raise HanddgError(f"unknown camera '{camera}': use one of {', '.join(CAMERAS)} (STB only)")
    if layout != "stb" and camera != "sk":
        raise HanddgError(f"--camera {camera} applies to STB only; {layout} has a single camera")
    split = normalise_split(split)
    if layout == "freihand":
        return FreiHAND(root, split)
    if layout == "rhd":
        return RHD(root, split)
    if layout == "stb":
        return STB(root, split, camera)
    return ImageFolder(root, split)
