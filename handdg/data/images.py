"""Image decoding with user-facing errors: a missing or corrupt file names itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from handdg.errors import HanddgError


def read_rgb(path: Path | str) -> np.ndarray:
    """Decode an image file to an (H, W, 3) uint8 RGB array."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise HanddgError(f"image not found: {path} (check the dataset root and layout)") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise HanddgError(f"cannot decode image {path}: {exc} (re-download or remove the file)") from None
