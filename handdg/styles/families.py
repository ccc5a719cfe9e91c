"""The transform families a style bank is made of: cheap, differentiable, and blind to geometry, so a styled
crop keeps its joints and its mask where they were.

Each family re-sets per-channel colour statistics (mean, standard deviation) of an image, as AdaIN does
for features (Huang & Belongie 2017) and PØDA's statistics search does in a segmenter's features (Fahes et al.,
ICCV 2023), but in pixel space:
- `regions`: the hand (its mask) and the background separately, 12 numbers: what Table 2's words name;
- `global`: the whole image, 6 numbers, no mask: PØDA's search moved to pixels.
A style is a parameter vector and a strength s: out = x + s·(T(x) − x), clipped to [0, 1]. Text styles have
s = 1; the matched random control scales its random T by s so its change is as large as the text style's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

EPS = 1e-6


@dataclass(frozen=True)
class Family:
    """A transform family: its name, parameters per style and whether it needs a hand mask."""

    name: str
    regions: int  # 1: the whole image; 2: hand, then background
    help: str

    @property
    def size(self) -> int:
        """Parameters per style: a mean logit and a log standard deviation per channel and region."""
        return 6 * self.regions

    @property
    def needs_mask(self) -> bool:
        """Whether the family restyles the hand and the background apart (it reads the hand mask)."""
        return self.regions == 2


FAMILIES = {
    "regions": Family("regions", 2, "hand and background colour statistics set apart (needs hand masks)"),
    "global": Family("global", 1, "whole-image colour statistics (PØDA's statistics in pixel space; no mask)"),
}


def family(name: str) -> Family:
    """The family called `name` (ValueError naming the choices otherwise)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown style family {name!r}: choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def _weights(fam: Family, masks: torch.Tensor | None, like: torch.Tensor) -> list[torch.Tensor]:
    """Each region's pixel weights, (B,1,H,W): the hand mask and its complement, or all ones."""
    if fam.regions == 1:
        return [torch.ones_like(like[:, :1])]
    if masks is None:
        raise ValueError(f"style family {fam.name} needs hand masks")
    hand = masks.to(like.dtype).clamp(0, 1)
    return [hand, 1.0 - hand]


def statistics(images: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted per-channel mean and standard deviation, (B,3) each, of (B,3,H,W) images (one pass: E[x²] − E[x]²)."""
    total = weights.sum(dim=(2, 3)).clamp_min(EPS)
    weighted = images * weights
    mean = weighted.sum(dim=(2, 3)) / total
    var = (weighted * images).sum(dim=(2, 3)) / total - mean * mean
    return mean, torch.sqrt(var.clamp_min(0) + EPS)


def to_params(means: list[torch.Tensor], stds: list[torch.Tensor]) -> torch.Tensor:
    """Per-region target means (in (0,1)) and standard deviations -> the (N, size) parameter vectors."""
    parts = []
    for mean, std in zip(means, stds):
        parts += [torch.logit(mean.clamp(0.01, 0.99)), torch.log(std.clamp_min(EPS))]
    return torch.cat(parts, dim=-1)


def targets(fam: Family, params: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(N, size) parameters -> per-region target means and standard deviations, (N,3) each."""
    means, stds = [], []
    for r in range(fam.regions):
        block = params[:, 6 * r:6 * r + 6]
        means.append(torch.sigmoid(block[:, :3]))
        stds.append(torch.exp(block[:, 3:]))
    return means, stds


def apply(fam: Family, images: torch.Tensor, masks: torch.Tensor | None, params: torch.Tensor,
          strength: torch.Tensor | None = None) -> torch.Tensor:
    """(B,3,H,W) images in [0,1], their (B,1,H,W) hand masks, (B,size) styles and (B,) strengths -> styled images.

    Each region's change is per-channel affine, x·a + b with a = std_target / std and b = mean_target − mean·a,
    so the whole style is two affine maps blended by the mask (few full-size ops: it runs once per crop)."""
    params = params.to(images.dtype)
    means, stds = targets(fam, params)
    weights = _weights(fam, masks, images)
    scale, shift = [], []
    for region, mean_t, std_t in zip(weights, means, stds):
        mean, std = statistics(images, region)
        a = std_t / std
        scale.append(a[..., None, None])
        shift.append((mean_t - mean * a)[..., None, None])
    out = images * scale[-1] + shift[-1]
    if len(weights) == 2:
        out = out + weights[0] * (images * (scale[0] - scale[1]) + (shift[0] - shift[1]))
    if strength is not None:
        out = images + strength.to(images.dtype).view(-1, 1, 1, 1) * (out - images)
    return out.clamp(0, 1)


def source_params(fam: Family, images: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """The (size,) style whose targets are the images' average statistics: where an optimisation starts."""
    means, stds = [], []
    for weights in _weights(fam, masks, images):
        mean, std = statistics(images, weights)
        means.append(mean.mean(0, keepdim=True))
        stds.append(std.mean(0, keepdim=True))
    return to_params(means, stds)[0]


def random_params(fam: Family, count: int, gen: torch.Generator, around: torch.Tensor) -> torch.Tensor:
    """`count` random styles: each region's mean uniform over the colour cube, its standard deviation the source's
    (`around`, a source_params vector) times a factor log-uniform in [1/2, 2]."""
    means, stds = [], []
    _, source_stds = targets(fam, around[None])
    for r in range(fam.regions):
        means.append(0.02 + 0.96 * torch.rand((count, 3), generator=gen))
        stds.append(source_stds[r] * torch.exp((torch.rand((count, 3), generator=gen) * 2 - 1) * 0.6931))
    return to_params(means, stds)


def pixel_change(fam: Family, images: torch.Tensor, masks: torch.Tensor | None, params: torch.Tensor,
                 strength: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute pixel change (in [0,1] units) each of (N,size) styles makes over the K images: (N,)."""
    n, k = len(params), len(images)
    styled = apply(fam, images.repeat(n, 1, 1, 1), None if masks is None else masks.repeat(n, 1, 1, 1),
                   params.repeat_interleave(k, 0), None if strength is None else strength.repeat_interleave(k, 0))
    return (styled - images.repeat(n, 1, 1, 1)).abs().mean(dim=(1, 2, 3)).view(n, k).mean(1)
