"""Image decoding with user-facing errors: a missing, corrupt or unreadable file names itself, and every
PIL mode becomes the 8-bit RGB the networks and CLIP expect, faithfully or not at all.

16-bit and 32-bit integer images are scaled from 0..65535, float images from 0..1; palettes are expanded;
alpha is composited over black (ALPHA_BACKGROUND). A float or 32-bit image outside those ranges is refused,
as a guess at its scale would silently give the network another picture.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from handdg.errors import HanddgError

ALPHA_BACKGROUND = (0, 0, 0)
"""What shows through transparent pixels: black, as the crops' padding outside the image."""
_WIDE_MODES = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535, "F": 1}
"""Modes with more than 8 bits per value, and the value that is full white."""
_PREMULTIPLIED = {"RGBa": "RGBA", "La": "LA"}


def read_rgb(path: Path | str, upright: bool = False) -> np.ndarray:
    """Decode an image file to an (H, W, 3) uint8 RGB array; `upright` applies its EXIF orientation, as
    viewers do (a user's photo; dataset images are read as stored, as their annotations are)."""
    with _opened(path, "image") as im:
        return rgb8(ImageOps.exif_transpose(im) if upright else im, path)


def rgb8(im: Image.Image, where: Path | str = "image") -> np.ndarray:
    """`im` as (H, W, 3) uint8 RGB, whatever its mode; HanddgError naming `where` when no faithful 8-bit exists."""
    if im.mode in _WIDE_MODES:
        grey = _grey8(np.asarray(im, dtype=np.float64), _WIDE_MODES[im.mode], im.mode, where)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode in _PREMULTIPLIED:
        im = im.convert(_PREMULTIPLIED[im.mode])
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA"):
        return _over_background(np.asarray(im.convert("RGBA"), dtype=np.float64))
    try:
        return np.asarray(im.convert("RGB"))
    except ValueError as exc:
        raise HanddgError(f"cannot read image {where}: its mode {im.mode} has no RGB conversion ({exc}); "
                          "save it as 8-bit RGB") from None


def _grey8(values: np.ndarray, white: float, mode: str, where: Path | str) -> np.ndarray:
    """Grey values whose full white is `white` as 0..255, refused when they lie outside 0..white."""
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if not np.isfinite(values).all() or low < 0 or high > white:
        bits = "float" if mode == "F" else "32-bit integer"
        raise HanddgError(f"image {where} is {bits} ({mode}) with values {low:g}..{high:g}, outside the 0..{white:g} "
                          "handdg reads as black..white: save it as 8- or 16-bit")
    return np.rint(values * (255.0 / white)).astype(np.uint8)


def _over_background(rgba: np.ndarray) -> np.ndarray:
    """RGBA (float 0..255) composited over ALPHA_BACKGROUND, as uint8 RGB."""
    alpha = rgba[..., 3:] / 255.0
    mixed = rgba[..., :3] * alpha + np.asarray(ALPHA_BACKGROUND, dtype=np.float64) * (1.0 - alpha)
    return np.rint(mixed).astype(np.uint8)


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
    """Open `path` with PIL; a missing, undecodable or oversized file becomes a one-line HanddgError.

    PIL's warnings while decoding are not printed (a large image, corrupt EXIF, a palette's transparency): the
    image is read or refused, and the one line says which."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                yield im
    except FileNotFoundError:
        raise HanddgError(f"{what} not found: {path} (check the dataset root and layout)") from None
    except Image.DecompressionBombError:
        raise HanddgError(f"{what} {path} has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels, more than handdg "
                          "decodes: downscale it") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise HanddgError(f"cannot decode {what} {path}: {exc} (re-download or remove the file)") from None
