import numpy as np
import pytest

from handdg.data.base import Sample
from handdg.data.camera import intrinsics, project
from handdg.data.transforms import (
    bone_length,
    bone_normalise,
    crop_square,
    hand_box,
    mirror,
    root_relative,
)
from tiny_datasets import hand_mm


def _dot_image(u: int, v: int, size=(100, 120)) -> np.ndarray:
    img = np.zeros((*size, 3), np.uint8)
    img[v, u] = 255
    return img


@pytest.mark.parametrize("center, side, out", [((70, 40), 20, 20), ((60, 50), 50, 100), ((65.5, 45.5), 30, 90)])
def test_crop_moves_pixels_where_uv_goes(center, side, out):
    img = _dot_image(70, 40)
    uv = np.array([[70.0, 40.0]])
    crop, uv_crop, _ = crop_square(img, uv, np.eye(3), np.array(center, float), side, out)
    weight = crop[..., 0].astype(float)
    centroid = [(weight * np.arange(out)[None, :]).sum() / weight.sum(), (weight * np.arange(out)[:, None]).sum() / weight.sum()]
    np.testing.assert_allclose(centroid, uv_crop[0], atol=0.05)


def test_crop_hand_computed_mapping_and_k():
    # centre (50, 50), side 100 -> 50 px: scale 0.5, u' = 0.5 u + (50 - 50) 0.5 - 0.5
    uv = np.array([[10.0, 90.0]])
    K = intrinsics(100.0, 100.0, 50.0, 50.0)
    _, uv_crop, K_crop = crop_square(np.zeros((100, 100, 3), np.uint8), uv, K, np.array([50.0, 50.0]), 100, 50)
    np.testing.assert_allclose(uv_crop, [[4.5, 44.5]])
    np.testing.assert_allclose(K_crop, [[50.0, 0.0, 24.5], [0.0, 50.0, 24.5], [0.0, 0.0, 1.0]])


def test_crop_intrinsics_project_joints_onto_crop_keypoints():
    xyz = hand_mm()
    K = intrinsics(600.0, 610.0, 320.0, 240.0)
    uv = project(xyz, K)
    center, side = hand_box(uv)
    _, uv_crop, K_crop = crop_square(np.zeros((480, 640, 3), np.uint8), uv, K, center, side, 128)
    np.testing.assert_allclose(project(xyz, K_crop), uv_crop, atol=1e-9)


def test_integer_crop_at_scale_one_is_a_plain_sub_array():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    # centre (30.5, 20.5), side 16: box covers pixel centres 23..38 x 13..28
    crop, _, _ = crop_square(img, np.zeros((1, 2)), np.eye(3), np.array([30.5, 20.5]), 16, 16)
    np.testing.assert_array_equal(crop, img[13:29, 23:39])


def test_hand_box():
    uv = np.array([[10.0, 20.0], [30.0, 60.0], [np.nan, np.nan]])
    center, side = hand_box(uv, scale=1.5)
    np.testing.assert_allclose(center, [20.0, 40.0])
    assert side == 60.0
    assert hand_box(np.array([[5.0, 5.0]]), min_side=16.0)[1] == 16.0


def _stb_like_sample() -> Sample:
    K = intrinsics(607.92271, 607.88192, 314.78337, 236.42484)
    xyz = hand_mm((-20.0, 10.0, 450.0))
    img = np.zeros((480, 640, 3), np.uint8)
    img[:, :10] = 255
    return Sample(id="x", image=img, xyz_mm=xyz, K=K, uv=project(xyz, K), side="left", root="palm")


def test_mirror_keeps_image_uv_k_and_xyz_consistent():
    s = _stb_like_sample()
    m = mirror(s)
    assert m.side == "right" and m.extra["mirrored"] is True
    np.testing.assert_array_equal(m.image[:, -10:], 255)
    np.testing.assert_allclose(m.uv[:, 0], 639.0 - s.uv[:, 0])
    np.testing.assert_allclose(m.xyz_mm[:, 0], -s.xyz_mm[:, 0])
    np.testing.assert_allclose(project(m.xyz_mm, m.K), m.uv, atol=1e-9)
    assert m.K[0, 2] == pytest.approx(639.0 - 314.78337)
    # the official STB code mirrors the joints about the optical axis (u -> 2 cx - u) while
    # flipping the image about its centre: 639 - 2 cx = 9.43 px apart
    assert (m.uv[0, 0] - (2 * 314.78337 - s.uv[0, 0])) == pytest.approx(9.43326)
    back = mirror(m)
    np.testing.assert_allclose(back.K, s.K)
    np.testing.assert_array_equal(back.image, s.image)
    assert back.side == "left" and back.extra["mirrored"] is False


def test_root_relative_and_bone_normalise():
    xyz = np.zeros((2, 21, 3))
    xyz[:, 0] = [1.0, 2.0, 3.0]
    xyz[:, 9] = [0.0, 0.0, 0.0]
    xyz[:, 10] = [0.0, 3.0, 4.0]  # middle MCP->PIP length 5
    rel = root_relative(xyz)
    np.testing.assert_allclose(rel[:, 0], 0.0)
    np.testing.assert_allclose(rel[0, 10], [-1.0, 1.0, 1.0])
    np.testing.assert_allclose(bone_normalise(xyz)[1, 10], [0.0, 0.6, 0.8])


def test_bone_length_keeps_numpy_numpy_and_torch_torch():
    import torch

    xyz = np.zeros((2, 21, 3))
    xyz[:, 10] = [[0.0, 3.0, 4.0], [1.0, 2.0, 2.0]]  # middle MCP (joint 9) at the origin: bones 5 and 3
    bones = bone_length(xyz)
    assert isinstance(bones, np.ndarray) and bones.dtype == np.float64 and bones.tolist() == [5.0, 3.0]
    assert bone_length(xyz[0]) == 5.0 and bone_length(xyz.tolist()).tolist() == [5.0, 3.0]
    tensor = bone_length(torch.from_numpy(xyz).float())
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float64 and tensor.tolist() == [5.0, 3.0]
