"""Feature-statistics augmentation, the no-text domain-generalisation controls: MixStyle (Zhou et al., ICLR 2021,
github.com/KaiyangZhou/mixstyle-release) and DSU (Li et al., ICLR 2022, github.com/lixiaotong97/DSU).

Both re-normalise a feature map's per-sample, per-channel mean and standard deviation to new ones during
training only: MixStyle to a convex mix with another sample's (λ ~ Beta(0.1, 0.1)), DSU to a draw around its
own with the batch's spread as the scale. Each fires on a batch with probability 0.5, as in both papers;
in eval mode they are the identity. Randomness comes from torch's generator, which checkpoints save.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-6


def _moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = (x.var(dim=(2, 3), keepdim=True) + EPS).sqrt()
    return mean.detach(), std.detach()


class MixStyle(nn.Module):
    """Mix each sample's feature statistics with those of another sample of the batch."""

    def __init__(self, p: float = 0.5, alpha: float = 0.1) -> None:
        super().__init__()
        self.p = p
        self.beta = torch.distributions.Beta(alpha, alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if not self.training or len(x) < 2 or torch.rand(()) > self.p:
            return x
        mean, std = _moments(x)
        lam = self.beta.sample((len(x), 1, 1, 1)).to(x.device, x.dtype)
        perm = torch.randperm(len(x)).to(x.device)
        mixed_mean = lam * mean + (1 - lam) * mean[perm]
        mixed_std = lam * std + (1 - lam) * std[perm]
        return (x - mean) / std * mixed_std + mixed_mean


class DSU(nn.Module):
    """Draw each sample's feature statistics around its own, scaled by how they vary over the batch."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if not self.training or len(x) < 2 or torch.rand(()) > self.p:
            return x
        mean, std = _moments(x)
        spread_mean = (mean.var(dim=0, keepdim=True) + EPS).sqrt()
        spread_std = (std.var(dim=0, keepdim=True) + EPS).sqrt()
        new_mean = mean + torch.randn(mean.shape, device=x.device, dtype=x.dtype) * spread_mean
        new_std = std + torch.randn(std.shape, device=x.device, dtype=x.dtype) * spread_std
        return (x - mean) / std * new_std + new_mean


def feature_stats_layer(kind: str) -> nn.Module:
    """The layer of `kind` (none, mixstyle, dsu) placed after the trunk's first two pooling stages."""
    return {"none": nn.Identity, "mixstyle": MixStyle, "dsu": DSU}[kind]()
