"""Image decoding with user-facing errors: a missing or corrupt file names itself."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from handdg.errors import HanddgError


def read_rgb(path: Path | str) -> np.ndarray:
    """Decode an image file to an (H, W, 3) uint8 RGB array."""
    with _opened(path, "image") as im:
        return np.asarray(im.convert("RGB"))


def read_labels(path: Path | str) -> np.ndarray:
    """Decode a label image (e.g. a segmentation mask) to an (H, W) array of its stored values."""
    with _opened(path, "mask") as im:
        labels = np.asarray(im)
    return labels[..., 0] if labels.ndim == 3 else labels


def image_size(path: Path | str) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    with _opened(path, "image") as im:
        return im.size


@contextmanager
def _opened(path: Path | str, what: str) -> Iterator[Image.Image]:
    """Open `path` with PIL; a missing or undecodable file becomes a one-line HanddgError."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            yield im
    except FileNotFoundError:
        raise HanddgError(f"{what} not found: {path} (check the dataset root and layout)") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise HanddgError(f"cannot decode {what} {path}: {exc} (re-download or remove the file)") from None
