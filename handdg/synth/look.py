"""How a camera and a studio make a render look real: sensor noise, blur and tone, skin texture, shadows."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from handdg.synth import backgrounds
from handdg.synth.render import Layers


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] image to uint8."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def sensor(rng: np.random.Generator, image: np.ndarray, blur: float, noise: float, gain: np.ndarray,
           gamma: float = 1.0) -> np.ndarray:
    """A real camera's look: colour cast `gain`, per-pixel noise, tone curve, optical blur; uint8 out."""
    img = image * np.asarray(gain, np.float32)
    if noise > 0:
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(noise)
    out = to_uint8(img)
    if gamma != 1.0:
        out = (255.0 * (np.arange(256) / 255.0) ** gamma + 0.5).astype(np.uint8)[out]
    if blur > 0:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.BoxBlur(blur)))
    return out


def skin_texture(rng: np.random.Generator, layers: Layers) -> Layers:
    """Blotchy low-contrast albedo variation over the foreground, so skin does not look like plastic."""
    h, w = layers.alpha.shape
    texture = 0.93 + 0.14 * backgrounds.smooth_noise(rng, h, w, max(4, max(h, w) // 30))
    layers.rgb *= texture
    return layers


def drop_shadow(alpha: np.ndarray, offset: np.ndarray, blur: float) -> np.ndarray:
    """A soft shadow of the foreground: its coverage shifted by `offset` (u, v) pixels and blurred, in [0, 1]."""
    shifted = np.roll(alpha, (int(offset[1]), int(offset[0])), axis=(0, 1))
    img = Image.fromarray(to_uint8(shifted)).filter(ImageFilter.BoxBlur(blur))
    return np.asarray(img, np.float32) / 255.0


# ---------------------------------------------------------------- FreiHAND
