"""The input pipeline's costly half done on the training device, one batch at a time.

With `augment_on="device"` a DataLoader worker only decodes the source image and draws the sample's
augmentation from its keyed generator (handdg.inputs.augment, in the same order as the per-sample
path); `finish_batch` then does on the device, for the whole batch, what `HandCrops` otherwise does per
sample on a CPU core: the crop warp (mirror, view rotation and crop folded into one affine map,
`grid_sample`), the ground-truth heatmaps (`HeatmapCodec.encode_batch`) and the
photometric ops. The distributions are the per-sample path's (tested); only the noise field differs
value for value (it comes from a per-sample seed on the device), so runs stay exactly resumable.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from handdg.inputs import augment
from handdg.inputs.styles import StyleSampler
from handdg.model.heatmaps import HeatmapCodec

# The parameter vector of one sample's photometric draw: op -> (offset, length); slot 0 = "fired".
LAYOUT = {"jitter": (0, 6), "cutout": (6, 5), "noise": (11, 3), "sobel": (14, 1), "drop": (15, 1), "blur": (16, 2)}
SIZE = 18
NOISE_SEEDS = 2**24


def draw_photometric(names: tuple[str, ...], gen: torch.Generator) -> torch.Tensor:
    """One sample's photometric draw as a (SIZE,) float64 vector, consuming `gen` as `augment.photometric`
    does (each enabled op's firing draw, then its own values), except that noise draws a seed, not a field."""
    params = torch.zeros(SIZE, dtype=torch.float64)
    u = augment._uniform
    for name in augment.PHOTOMETRIC:
        if name not in names or u(gen) >= augment.PROBABILITY[name]:
            continue
        start, _ = LAYOUT[name]
        params[start] = 1.0
        if name == "jitter":
            params[start + 1:start + 6] = torch.tensor([u(gen, 0.8, 1.2) for _ in range(5)], dtype=torch.float64)
        elif name == "cutout":
            params[start + 1:start + 5] = torch.tensor([u(gen, 0.1, 0.4), u(gen, 0.1, 0.4), u(gen), u(gen)],
                                                       dtype=torch.float64)
        elif name == "noise":
            params[start + 1] = u(gen, 0.01, 0.08)
            params[start + 2] = float(torch.randint(0, NOISE_SEEDS, (), generator=gen))
        elif name == "blur":
            params[start + 1] = u(gen, 0.1, 2.0)
    return params


def warp_batch(sources: torch.Tensor, affine: torch.Tensor, size: int) -> torch.Tensor:
    """(B,H,W,C) uint8 images and (B,3,3) maps source pixels -> crop pixels (pixel centres at integers) ->
    (B,C,size,size) float crops in [0, 1]: bilinear, black outside, rounded to uint8 levels as PIL's crop is."""
    b, h, w, _ = sources.shape
    images = sources.permute(0, 3, 1, 2).float()
    inverse = torch.linalg.inv(affine.double())
    axis = torch.arange(size, device=sources.device, dtype=torch.float64)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, -1, 3)
    src = grid @ inverse.transpose(1, 2)
    gx = (2.0 * src[..., 0] + 1.0) / w - 1.0
    gy = (2.0 * src[..., 1] + 1.0) / h - 1.0
    sample_at = torch.stack([gx, gy], dim=-1).reshape(b, size, size, 2).to(images.dtype)
    crops = F.grid_sample(images, sample_at, mode="bilinear", padding_mode="zeros", align_corners=False)
    return crops.round().clamp_(0, 255) / 255.0


def _grey(images: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def _where(fired: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return torch.where(fired.view(-1, 1, 1, 1), new, old)


def _jitter(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    scale = p[:, 1:4].view(-1, 3, 1, 1)
    out = (images * scale).clamp(0, 1)
    out = (out * p[:, 4].view(-1, 1, 1, 1)).clamp(0, 1)
    mean = _grey(out).mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mean) * p[:, 5].view(-1, 1, 1, 1) + mean).clamp(0, 1)


def _cutout(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    _, _, h, w = images.shape
    side_h, side_w = (h * p[:, 1]).long(), (w * p[:, 2]).long()
    top, left = (p[:, 3] * (h - side_h)).long(), (p[:, 4] * (w - side_w)).long()
    rows = torch.arange(h, device=images.device).view(1, h, 1)
    cols = torch.arange(w, device=images.device).view(1, 1, w)
    hole = ((rows >= top.view(-1, 1, 1)) & (rows < (top + side_h).view(-1, 1, 1))
            & (cols >= left.view(-1, 1, 1)) & (cols < (left + side_w).view(-1, 1, 1)))
    return images.masked_fill(hole[:, None], 0.0)


def _noise(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    fields = []
    for seed in p[:, 2].long().tolist():
        gen = torch.Generator(device=images.device).manual_seed(seed)
        fields.append(torch.randn(images.shape[1:], generator=gen, device=images.device, dtype=images.dtype))
    return (images + p[:, 1].view(-1, 1, 1, 1) * torch.stack(fields)).clamp(0, 1)


def _sobel(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return torch.stack([augment.sobel(image) for image in images])


def _drop(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return _grey(images).expand_as(images).clone()


def _blur(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return torch.stack([augment._blur(image, float(s) * image.shape[-1] / 224.0) for image, s in zip(images, p[:, 1])])


_OPS = {"jitter": _jitter, "cutout": _cutout, "noise": _noise, "sobel": _sobel, "drop": _drop, "blur": _blur}


def photometric_batch(images: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """(B,3,S,S) crops and (B,SIZE) draws -> the crops after each sample's fired ops, in PHOTOMETRIC order."""
    params = params.to(images.device)
    for name in augment.PHOTOMETRIC:
        start, length = LAYOUT[name]
        fired = params[:, start] > 0.5
        if not bool(fired.any()):
            continue
        chosen = fired.nonzero().flatten()
        block = params[chosen, start:start + length].to(images.dtype)
        done = _OPS[name](images[chosen], block)
        images = images.index_copy(0, chosen, done)
    return images


def finish_batch(batch: dict[str, torch.Tensor], crop_size: int, heatmap_size: int, sigma: float,
                 keep_clean: bool = False, styles: StyleSampler | None = None) -> dict[str, torch.Tensor]:
    """A worker batch of sources + draws -> the network-ready batch `HandCrops` would have made (a fourth
    source channel is the hand mask `styles` read)."""
    out = {k: v for k, v in batch.items() if k not in ("source", "affine", "photo")}
    warped = warp_batch(batch["source"], batch["affine"], crop_size)
    images, masks = warped[:, :3], (warped[:, 3:] if warped.shape[1] > 3 else None)
    out["heatmaps"] = HeatmapCodec(crop_size, heatmap_size, sigma).encode_batch(batch["uv"])
    if keep_clean:
        out["clean"] = images
    if styles is not None and "style" in batch:
        images = styles.apply(images, masks, batch["style"])
    out["image"] = photometric_batch(images, batch["photo"])
    return out


def pad_sources(sources: list[torch.Tensor]) -> torch.Tensor:
    """Stack (H,W,C) uint8 images of different sizes into one (B,Hmax,Wmax,C) batch, black beyond each image
    (the warp reads only inside an image, and black outside, so padding changes no crop)."""
    h = max(s.shape[0] for s in sources)
    w = max(s.shape[1] for s in sources)
    out = torch.zeros((len(sources), h, w, sources[0].shape[2]), dtype=torch.uint8)
    for i, s in enumerate(sources):
        out[i, :s.shape[0], :s.shape[1]] = s
    return out


def mirror_matrix(width: int) -> np.ndarray:
    """3x3 map of pixel coordinates under a left-right flip of a `width`-pixel image (u -> W-1-u)."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
