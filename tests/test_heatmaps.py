"""`HeatmapCodec` against values worked out by hand: Gaussian GT maps, bilinear resizing, maxima in crop pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handdg.model.heatmaps import HeatmapCodec


def _one_joint(u: float, v: float) -> np.ndarray:
    """(21,2) crop pixels: joint 0 at (u, v), the rest not finite."""
    uv = np.full((21, 2), np.nan)
    uv[0] = [u, v]
    return uv


def test_encode_a_joint_on_a_map_pixel_peaks_there_with_gaussian_falloff() -> None:
    # crop pixel 13.5 of 32 -> (13.5 + 0.5)·8/32 - 0.5 = 3 in an 8-pixel map; 5.5 -> 1
    maps = HeatmapCodec(32, 8, 1.0).encode(_one_joint(13.5, 5.5))
    assert maps.shape == (21, 8, 8) and maps.dtype == np.float32
    assert np.unravel_index(maps[0].argmax(), (8, 8)) == (1, 3)
    assert maps[0, 1, 3] == 1.0
    assert maps[0, 1, 4] == pytest.approx(math.exp(-0.5), rel=1e-6)
    assert maps[0, 3, 5] == pytest.approx(math.exp(-4.0), rel=1e-6)  # d² = 2² + 2², σ = 1
    assert not maps[1:].any()


def test_encode_a_joint_between_map_pixels_splits_the_peak() -> None:
    maps = HeatmapCodec(32, 8, 1.0).encode(_one_joint(11.5, 5.5))  # map (2.5, 1)
    assert maps[0, 1, 2] == maps[0, 1, 3] == pytest.approx(math.exp(-0.125), rel=1e-6)
    assert maps[0].max() == maps[0, 1, 2]


def test_encode_zeroes_joints_outside_the_crop_or_not_visible() -> None:
    uv = np.full((21, 2), [43.5, 19.5])  # map cell (row 2, col 5) of an 8x8 map over a 64 px crop
    uv[1] = [70.0, 10.0]
    uv[3] = [-0.5, 63.5]  # the crop's edges still count
    uv[4] = [-0.51, 10.0]
    visible = np.ones(21, dtype=bool)
    visible[2] = False
    maps = HeatmapCodec(64, 8, 1.0).encode(uv, visible)
    assert maps.shape == (21, 8, 8)
    assert maps[0, 2, 5] == 1.0 and maps[0].argmax() == 2 * 8 + 5
    assert not maps[1].any() and not maps[2].any() and not maps[4].any()
    assert maps[3].any()


def test_encode_needs_the_map_size_and_sigma() -> None:
    with pytest.raises(ValueError, match="heatmap_size and sigma"):
        HeatmapCodec(64).encode(_one_joint(3.0, 3.0))


def test_resize_is_bilinear_without_aligned_corners() -> None:
    maps = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).expand(1, 21, 2, 2)
    # output pixel i samples source (i + 0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]
    weights = torch.tensor([0.0, 0.25, 0.75, 1.0])
    expected = 2.0 * weights[:, None] + weights[None, :]
    assert torch.equal(HeatmapCodec.resize(maps, 4)[0, 7], expected)
    assert HeatmapCodec.resize(maps, (4, 2)).shape == (1, 21, 4, 2)
    assert HeatmapCodec.resize(maps, (2, 2)) is maps


def test_decode_reads_each_maximum_in_crop_pixels_with_its_value() -> None:
    maps = torch.zeros(1, 21, 64, 64)
    maps[0, :, 10, 20] = 0.75
    uv, confidence = HeatmapCodec(64).decode(maps)
    assert uv.dtype == torch.float64 and uv[0, 0].tolist() == [20.0, 10.0]
    assert confidence.dtype == torch.float32 and confidence[0, 0].item() == 0.75

    tiny = torch.tensor([[0.0, 3.0], [1.0, 2.0]]).expand(1, 21, 2, 2).double()
    uv, confidence = HeatmapCodec(4).decode(tiny)  # upsampled as in the resize test: 3 stays at (row 0, col 3)
    assert uv[0, 0].tolist() == [3.0, 0.0] and confidence[0, 0].item() == 3.0 and confidence.dtype == torch.float64

    uv, confidence = HeatmapCodec(8).decode(np.zeros((2, 21, 4, 4)))  # a tie: the first maximum
    assert uv.abs().sum() == 0 and confidence.abs().sum() == 0


def test_a_joint_on_a_crop_pixel_decodes_back_to_it() -> None:
    codec = HeatmapCodec(64, 8, 1.0)
    maps = torch.from_numpy(codec.encode(_one_joint(44.0, 20.0)))[None]  # map (5.0625, 2.0625)
    uv, confidence = codec.decode(maps)
    assert uv[0, 0].tolist() == [44.0, 20.0]
    # crop pixel 44 samples map 5.0625: 15/16 of the pixel-5 value exp(-1/16² / 2), 1/16 of pixel 6's exp(-(15/16)² / 2)
    along = 15 / 16 * math.exp(-(1 / 16) ** 2 / 2) + 1 / 16 * math.exp(-(15 / 16) ** 2 / 2)
    assert confidence[0, 0].item() == pytest.approx(along**2, rel=1e-6)
