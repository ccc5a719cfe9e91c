"""`HeatmapCodec`: the one place heatmaps are made from joints, resampled, and read back as joints.

* `encode` (`encode_batch` for a batch on the device): a crop's 2D joints -> (21, h, h) GT maps, exp(-d² / 2σ²) with peak 1 at each joint
  (σ in heatmap pixels), zero for a joint outside the crop, not visible, or not finite.
* `resize`: bilinear resampling (align_corners=False) of (B,21,·,·) maps to another size: predictions
  to the GT size for L_heat and negative mining, GT maps to the net's map size for the lifting nets.
* `decode`: (B,21,h,w) maps of any size -> each map's maximum, in crop pixels after bilinear
  upsampling to the crop (as the official STB evaluation reads x, y: docs/official-code.md#evaluation), and its value.

Pixel convention (handdg.data.transforms): integer coordinates are pixel centres, so a crop of S
pixels spans [-0.5, S - 0.5] and crop pixel u sits at (u + 0.5)·h/S - 0.5 in an h-pixel map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class HeatmapCodec:
    """Heatmaps of an `input_size`-pixel crop: `heatmap_size`-pixel GT maps with std `sigma` (heatmap
    pixels). Only `encode` needs `heatmap_size` and `sigma`; decoding reads maps of any size."""

    input_size: int
    heatmap_size: int | None = None
    sigma: float | None = None

    def encode(self, uv_crop: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
        """(21,2) crop pixels -> (21, heatmap_size, heatmap_size) float32 Gaussian maps; a joint outside
        the crop, not visible or with non-finite uv gets an all-zero map."""
        if self.heatmap_size is None or self.sigma is None:
            raise ValueError("encoding heatmaps needs the codec's heatmap_size and sigma")
        uv = np.asarray(uv_crop, dtype=np.float64)
        size, sigma = self.heatmap_size, self.sigma
        centres = (uv + 0.5) * (size / float(self.input_size)) - 0.5
        grid = np.arange(size, dtype=np.float64)
        dx = grid[None, :] - centres[:, 0:1]
        dy = grid[None, :] - centres[:, 1:2]
        with np.errstate(invalid="ignore"):
            gx = np.exp(-(dx**2) / (2.0 * sigma**2))
            gy = np.exp(-(dy**2) / (2.0 * sigma**2))
        maps = np.nan_to_num(gy[:, :, None] * gx[:, None, :], nan=0.0).astype(np.float32)
        keep = np.all((uv >= -0.5) & (uv <= self.input_size - 0.5), axis=1)
        if visible is not None:
            keep &= np.asarray(visible, dtype=bool)
        maps[~keep] = 0.0
        return maps

    def encode_batch(self, uv_crop: torch.Tensor) -> torch.Tensor:
        """`encode` for a (B,21,2) batch on its own device (the on-device input pipeline): (B,21,h,h) float32,
        zero for joints outside the crop or not finite (visibility is not used in training targets)."""
        if self.heatmap_size is None or self.sigma is None:
            raise ValueError("encoding heatmaps needs the codec's heatmap_size and sigma")
        uv = uv_crop.double()
        size, sigma = self.heatmap_size, self.sigma
        centres = (uv + 0.5) * (size / float(self.input_size)) - 0.5
        grid = torch.arange(size, device=uv.device, dtype=torch.float64)
        gx = torch.exp(-((grid - centres[..., :1]) ** 2) / (2.0 * sigma**2))
        gy = torch.exp(-((grid - centres[..., 1:]) ** 2) / (2.0 * sigma**2))
        maps = torch.nan_to_num(gy[..., :, None] * gx[..., None, :], nan=0.0)
        keep = (torch.isfinite(uv) & (uv >= -0.5) & (uv <= self.input_size - 0.5)).all(dim=-1)
        return torch.where(keep[..., None, None], maps, torch.zeros_like(maps)).float()

    @staticmethod
    def resize(maps: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
        """(B,21,h,w) maps bilinearly resampled (align_corners=False) to `size`; `maps` itself when already that size."""
        size = (size, size) if isinstance(size, int) else tuple(size)
        if tuple(maps.shape[-2:]) == size:
            return maps
        return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)

    def decode(self, maps: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,21,h,w) maps -> (B,21,2) float64 crop pixels (u, v) of each map's maximum after bilinear
        upsampling to the crop, and (B,21) that maximum. Computed in the maps' own floating dtype (others
        in float64); the first maximum wins a tie."""
        maps = torch.as_tensor(maps)
        if not maps.is_floating_point():
            maps = maps.to(torch.float64)
        up = self.resize(maps, self.input_size).flatten(2)
        value, flat = up.max(dim=2)
        uv = torch.stack([flat % self.input_size, flat // self.input_size], dim=-1).to(torch.float64)
        return uv, value
