"""Training augmentations, drawn from a seeded torch.Generator so a step is reproducible.

Geometric (the released code's `get_aug_config`): crop scale 1 + 0.25·clip(N(0,1), −1, 1) and,
with probability 0.6, an in-plane rotation of up to ±90°. handdg makes the rotation exact in 3D:
it rotates the camera about its optical axis, so the image warp, the 2D joints and the 3D joints
(hence the canonical rotation target) stay consistent.

Photometric: `jitter` is the released code's per-channel colour scale, brightness and contrast,
each U(0.8, 1.2). `cutout`, `noise`, `sobel`, `drop` (colour drop) and `blur` complete the
"normal augmentation" set of the paper's Table 6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

PHOTOMETRIC = ("jitter", "cutout", "noise", "sobel", "drop", "blur")
PROBABILITY = {"jitter": 1.0, "cutout": 0.5, "noise": 0.5, "sobel": 0.2, "drop": 0.2, "blur": 0.5}
"""Chance that each photometric op fires on a sample when it is enabled."""
ROTATION_PROBABILITY = 0.6
MAX_ROTATION_DEG = 90.0
SCALE_SPREAD = 0.25


@dataclass(frozen=True)
class Geometry:
    """One geometric draw: multiply the hand box side by `scale`, rotate by `angle` radians."""

    scale: float = 1.0
    angle: float = 0.0


def _uniform(gen: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen))


def draw_geometry(gen: torch.Generator) -> Geometry:
    """Draw the released code's scale and rotation jitter."""
    scale = 1.0 + SCALE_SPREAD * float(torch.randn((), generator=gen).clamp(-1.0, 1.0))
    rotate = _uniform(gen) < ROTATION_PROBABILITY
    angle = math.radians(_uniform(gen, -MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    return Geometry(scale=scale, angle=angle if rotate else 0.0)


def optical_axis_rotation(angle: float) -> np.ndarray:
    """3x3 rotation of camera-frame points about the optical (z) axis by `angle` radians."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _taps(padded: torch.Tensor, weights: list[float], dim: int, size: int) -> torch.Tensor:
    """Σ_i weights[i]·padded shifted by i along `dim`, cut to `size`: a 1-D correlation as shifted
    sums (faster than a grouped conv2d on a CPU for these small kernels, docs/performance.md)."""
    out = weights[0] * padded.narrow(dim, 0, size)
    for i, weight in enumerate(weights[1:], start=1):
        if weight:
            out.add_(padded.narrow(dim, i, size), alpha=weight)
    return out


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(2.5 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    weights = (kernel / kernel.sum()).tolist()
    padded = F.pad(image[None], (radius, radius, radius, radius), mode="replicate")[0]
    rows = _taps(padded, weights, 2, image.shape[2])
    return _taps(rows, weights, 1, image.shape[1])


def sobel(image: torch.Tensor) -> torch.Tensor:
    """Per-channel Sobel gradient magnitude of a (3,H,W) image, rescaled to [0, 1].

    The 3x3 kernels are separable: x = smooth [1, 2, 1] down the rows · difference [-1, 0, 1] across.
    """
    padded = F.pad(image[None], (1, 1, 1, 1), mode="replicate")[0]
    h, w = image.shape[1:]
    gx = _taps(_taps(padded, [-1.0, 0.0, 1.0], 2, w), [1.0, 2.0, 1.0], 1, h)
    gy = _taps(_taps(padded, [1.0, 2.0, 1.0], 2, w), [-1.0, 0.0, 1.0], 1, h)
    magnitude = torch.sqrt(gx**2 + gy**2)
    return magnitude / magnitude.amax().clamp_min(1e-6)


def _grey(image: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=image.dtype).view(3, 1, 1)
    return (image * weights).sum(0, keepdim=True)


def _jitter(image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Colour scale, brightness, contrast; in place on a fresh copy (cheaper than out-of-place ops)."""
    scale = torch.tensor([_uniform(gen, 0.8, 1.2) for _ in range(3)], dtype=image.dtype).view(3, 1, 1)
    image = (image * scale).clamp_(0, 1)
    image.mul_(_uniform(gen, 0.8, 1.2)).clamp_(0, 1)
    mean = _grey(image).mean()
    return image.sub_(mean).mul_(_uniform(gen, 0.8, 1.2)).add_(mean).clamp_(0, 1)


def _cutout(image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    _, h, w = image.shape
    side_h, side_w = int(h * _uniform(gen, 0.1, 0.4)), int(w * _uniform(gen, 0.1, 0.4))
    top, left = int(_uniform(gen) * (h - side_h)), int(_uniform(gen) * (w - side_w))
    image = image.clone()
    image[:, top:top + side_h, left:left + side_w] = 0.0
    return image


def _noise(image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    sigma = _uniform(gen, 0.01, 0.08)
    return (image + sigma * torch.randn(image.shape, generator=gen, dtype=image.dtype)).clamp(0, 1)


def _sobel(image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return sobel(image)


def _drop(image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return _grey(image).expand_as(image).clone()


def _gaussian_blur(image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return _blur(image, _uniform(gen, 0.1, 2.0) * image.shape[-1] / 224.0)


_OPS = {"jitter": _jitter, "cutout": _cutout, "noise": _noise, "sobel": _sobel, "drop": _drop,
        "blur": _gaussian_blur}


def photometric(image: torch.Tensor, names: tuple[str, ...], gen: torch.Generator) -> torch.Tensor:
    """Apply the enabled photometric ops to a (3,H,W) float image in [0, 1], in PHOTOMETRIC order.

    Each enabled op fires with its PROBABILITY.
    """
    for name in PHOTOMETRIC:
        if name in names and _uniform(gen) < PROBABILITY[name]:
            image = _OPS[name](image, gen)
    return image
