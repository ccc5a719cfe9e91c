"""Caption-training images: render a broad-look synthetic set and load it at the model's input size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import functional as TF

from handdg.data.images import read_rgb
from handdg.synth import make_dataset
from handdg.synth.attributes import read_sidecar


def render_caption_set(out: Path, poses: int, seed: int, workers: int = 1) -> Path:
    """A FreiHAND-layout set of `poses` hands in broad looks (4 images each), training split only."""
    return make_dataset(out, "freihand", poses, seed, overwrite=True, workers=workers, splits=("train",), look="broad")


def load_images(root: Path, size: int) -> tuple[torch.Tensor, list[dict]]:
    """(N, 3, size, size) uint8 images of a synthetic set (resized and centre-cropped as CLIP does) and their records."""
    records = read_sidecar(root)
    images = torch.empty((len(records), 3, size, size), dtype=torch.uint8)
    for i, record in enumerate(records):
        rgb = Image.fromarray(read_rgb(Path(root) / record["image"]))
        small = TF.center_crop(TF.resize(rgb, size, TF.InterpolationMode.BICUBIC), size)
        images[i] = torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1)
    return images, records


def normalize(images: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """uint8 images -> CLIP's normalised float input (exactly ToTensor + Normalize)."""
    x = images.float() / 255.0
    return (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
