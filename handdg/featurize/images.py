"""Feeding a dataset's images to CLIP: decode + preprocess in DataLoader workers, batches within chunks.

Batches never straddle a store chunk and always split a chunk the same way, so a chunk's
features do not depend on which process, shard or resumed run computed it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from handdg.data.base import HandDataset
from handdg.errors import HanddgError


class _PreprocessedImages(Dataset):
    """Row i -> (i, preprocessed image, error message or ""): unreadable images become messages."""

    def __init__(self, dataset: HandDataset, transform: Callable[[Image.Image], torch.Tensor], image_size: int):
        self.dataset = dataset
        self.transform = transform
        self.blank = torch.zeros(3, image_size, image_size)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, row: int) -> tuple[int, torch.Tensor, str]:
        try:
            image = self.dataset.load_image(row)
        except (HanddgError, OSError) as exc:
            return row, self.blank, str(exc)
        return row, self.transform(Image.fromarray(image)), ""


@dataclass
class ImageBatch:
    """A batch of preprocessed images with their rows and read errors."""

    rows: np.ndarray
    pixels: torch.Tensor
    errors: list[str]

    def pin_memory(self) -> "ImageBatch":
        """The same batch with pixels in page-locked memory (DataLoader calls this on GPU runs)."""
        return ImageBatch(self.rows, self.pixels.pin_memory(), self.errors)


def _collate(items: list[tuple[int, torch.Tensor, str]]) -> ImageBatch:
    rows, pixels, errors = zip(*items)
    return ImageBatch(np.asarray(rows, dtype=np.int64), torch.stack(pixels), list(errors))


def chunk_batches(chunk_rows: Sequence[slice], batch_size: int) -> list[list[int]]:
    """Row batches of at most `batch_size`, each inside one chunk, chunks in the given order."""
    return [list(range(start, min(rows.stop, start + batch_size)))
            for rows in chunk_rows for start in range(rows.start, rows.stop, batch_size)]


def image_batches(dataset: HandDataset, transform: Callable[[Image.Image], torch.Tensor], image_size: int,
                  batches: list[list[int]], workers: int, pin_memory: bool) -> Iterator[ImageBatch]:
    """Preprocessed batches in order, decoded `workers` processes ahead of the model."""
    loader = DataLoader(
        _PreprocessedImages(dataset, transform, image_size),
        batch_sampler=batches,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers > 0 else None,
    )
    return iter(loader)
