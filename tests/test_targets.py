"""3D targets and their inverses, with hand-built hands and cameras (heatmaps: test_heatmaps.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handdg.data.transforms import bone_length
from handdg.model.hand_frame import rodrigues
from handdg.model.network import ModelOutput
from handdg.model.targets import (PINKY_MCP, canonical_target, canonical_to_relative, decode, uvd_target,
                                  uvd_to_camera, with_root)

MIDDLE_MCP, MIDDLE_PIP, THUMB_CMC = 9, 10, 1
K = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 50.0], [0.0, 0.0, 1.0]])


def _axis_hand() -> np.ndarray:
    """A (1,21,3) root-relative hand: middle MCP 2 mm along +z, bone 1 mm further, pinky MCP on +x, thumb on +y."""
    xyz = np.zeros((1, 21, 3))
    xyz[0, MIDDLE_MCP] = [0, 0, 2]
    xyz[0, MIDDLE_PIP] = [0, 0, 3]
    xyz[0, PINKY_MCP] = [1, 0, 0]
    xyz[0, THUMB_CMC] = [0, 1, 0]
    return xyz


def _random_hands(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 40, (n, 21, 3)) + [0, 0, 600]


def test_canonical_target_by_hand_for_left_and_right() -> None:
    # canonical frame: middle MCP onto -y, pinky MCP stays on +x, so +z -> -y, +x -> +x, +y -> +z
    left = canonical_target(_axis_hand(), [0])
    assert left.scale.tolist() == [1.0]
    assert left.coords[0, MIDDLE_MCP].tolist() == pytest.approx([0, -2, 0], abs=1e-12)
    assert left.coords[0, MIDDLE_PIP].tolist() == pytest.approx([0, -3, 0], abs=1e-12)
    assert left.coords[0, PINKY_MCP].tolist() == pytest.approx([1, 0, 0], abs=1e-12)
    assert left.coords[0, THUMB_CMC].tolist() == pytest.approx([0, 0, 1], abs=1e-12)
    right = canonical_target(_axis_hand(), [1])
    assert right.coords[0, THUMB_CMC].tolist() == pytest.approx([0, 0, -1], abs=1e-12)
    assert torch.allclose(right.rotation, left.rotation)


def test_canonical_frame_properties_on_random_hands() -> None:
    target = canonical_target(_random_hands(8), torch.zeros(8))
    can = target.coords
    assert can[:, 0].abs().max() < 1e-9
    assert can[:, MIDDLE_MCP, [0, 2]].abs().max() < 1e-9 and (can[:, MIDDLE_MCP, 1] < 0).all()
    assert can[:, PINKY_MCP, 2].abs().max() < 1e-9 and (can[:, PINKY_MCP, 0] > 0).all()
    assert torch.allclose(torch.linalg.det(target.rotation), torch.ones(8, dtype=torch.float64))
    assert torch.allclose(bone_length(can), torch.ones(8, dtype=torch.float64))


@pytest.mark.parametrize("side", [0, 1])
def test_canonical_round_trip_recovers_the_normalised_hand(side: int) -> None:
    xyz = _random_hands(4, seed=side)
    target = canonical_target(xyz, torch.full((4,), side))
    rel = canonical_to_relative(target.coords, target.rotation, torch.full((4,), side))
    expected = (xyz - xyz[:, :1]) / bone_length(xyz)[:, None, None]
    assert np.allclose(rel.numpy(), expected)


def test_rotation_target_is_reachable_by_the_models_rodrigues() -> None:
    rot = canonical_target(_random_hands(1), [1]).rotation
    angle = torch.arccos(((rot.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1))
    # axis of a row-vector rotation R (x @ R): R - R^T = 2 sin(angle) [axis]_x^T
    skew = rot - rot.transpose(1, 2)
    axis = torch.stack([skew[:, 1, 2], skew[:, 2, 0], skew[:, 0, 1]], dim=1) / (2 * torch.sin(angle))[:, None]
    assert torch.allclose(rodrigues(-axis * angle[:, None], eps=0.0), rot, atol=1e-9)


def test_with_root_follows_hand3d() -> None:
    xyz = _random_hands(1)
    palm = with_root(xyz, "wrist", "palm")
    assert np.allclose(palm[0, 0], (xyz[0, 0] + xyz[0, MIDDLE_MCP]) / 2)
    assert np.allclose(palm[0, 1:], xyz[0, 1:])
    wrist = with_root(xyz, "palm", "wrist")
    assert np.allclose(wrist[0, 0], 2 * xyz[0, 0] - xyz[0, 13])  # STB: ring MCP mirrored through the palm
    assert np.array_equal(with_root(xyz, "palm", "palm"), xyz)


def test_uvd_target_by_hand() -> None:
    uv = np.zeros((1, 21, 2))
    uv[0, 1] = [128, 64]
    xyz = np.full((1, 21, 3), 500.0)
    xyz[0, 1, 2] = 575.0
    target = uvd_target(uv, xyz, 256)
    assert target[0, 1].tolist() == [0.5, 0.25, 0.75]  # (75/150 + 1) / 2
    assert target[0, 0, 2].item() == 0.5


def test_uvd_to_camera_by_hand() -> None:
    uvd = torch.full((1, 21, 3), 0.5, dtype=torch.float64)
    uvd[0, 1] = torch.tensor([0.6, 0.5, 0.75])
    cam = uvd_to_camera(uvd, K[None], 100, [1000.0])
    assert cam[0, 0].tolist() == pytest.approx([0, 0, 1000])
    assert cam[0, 1].tolist() == pytest.approx([107.5, 0, 1075])  # u = 60: (60-50) * 1075 / 100


def _camera_hand() -> tuple[np.ndarray, np.ndarray]:
    """(1,21,3) camera mm whose projections through K land on integer crop pixels, and those pixels."""
    rng = np.random.default_rng(3)
    uv = rng.integers(10, 90, (1, 21, 2)).astype(np.float64)
    z = rng.uniform(900, 1100, (1, 21, 1))
    rays = np.concatenate([uv, np.ones((1, 21, 1))], -1) @ np.linalg.inv(K).T
    return rays * z, uv


def test_uvd_round_trip_ignores_a_wrong_predicted_root_depth() -> None:
    xyz, uv = _camera_hand()
    uvd = uvd_target(uv, xyz, 100)
    uvd[..., 2] += 0.1  # every relative depth off by the same 30 mm: the GT root depth removes it
    assert np.allclose(uvd_to_camera(uvd, K[None], 100, xyz[:, 0, 2]).numpy(), xyz)


def _output(coords: torch.Tensor, rotation: torch.Tensor | None, heatmaps: torch.Tensor | None = None) -> ModelOutput:
    return ModelOutput(heatmaps=heatmaps if heatmaps is not None else torch.zeros(1, 21, 8, 8),
                       coords=coords, rotation=rotation)


def test_decode_perfect_canonical_prediction() -> None:
    xyz, _ = _camera_hand()
    target = canonical_target(xyz, [1])
    out = decode(_output(target.coords, target.rotation), [1], xyz, K[None], 100)
    assert np.allclose(out.relative_mm.numpy(), xyz - xyz[:, :1])
    assert np.allclose(out.camera_mm.numpy(), xyz)


def test_decode_perfect_25d_prediction_from_regression_and_from_heatmaps() -> None:
    xyz, uv = _camera_hand()
    uvd = uvd_target(uv, xyz, 100)
    out = decode(_output(uvd, None), [1], xyz, K[None], 100)
    assert np.allclose(out.camera_mm.numpy(), xyz)
    assert np.allclose(out.relative_mm.numpy(), xyz - xyz[:, :1])
    maps = torch.zeros(1, 21, 100, 100)
    maps[0, torch.arange(21), uv[0, :, 1].astype(int), uv[0, :, 0].astype(int)] = 1.0
    wrong_xy = uvd.clone()
    wrong_xy[..., :2] = 0.0
    out = decode(_output(wrong_xy, None, maps), [1], xyz, K[None], 100, xy_from="heatmap")
    assert np.allclose(out.camera_mm.numpy(), xyz)
