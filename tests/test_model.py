"""The network of docs/official-code.md#the-network: shapes, published parameter counts, rotation, padding, Branch2."""

from __future__ import annotations

import math

import pytest
import torch

from handdg.errors import HanddgError
from handdg.model.hand_frame import flip_right_hand, rodrigues, rotation_6d, side_onehot
from handdg.model.network import Branch2, HandPoseNet, ModelConfig, SameConv2d, parameter_counts


@pytest.fixture(scope="module")
def tiny() -> HandPoseNet:
    torch.manual_seed(0)
    return HandPoseNet(ModelConfig.from_preset("tiny", clip_dim=32))


def test_tiny_forward_shapes_with_and_without_clip(tiny: HandPoseNet) -> None:
    images, side = torch.rand(4, 3, 64, 64), torch.tensor([0, 1, 0, 1])
    out = tiny(images, side)
    assert out.heatmaps.shape == (4, 21, 8, 8)
    assert out.coords.shape == (4, 21, 3)
    assert out.rotation.shape == (4, 3, 3)
    assert out.e1p is None and out.e2p is None
    out = tiny(images, side, torch.randn(4, 32))
    assert out.e1p.shape == (4, 16) and out.e2p.shape == (4, 16)


def test_paper_preset_matches_published_widths() -> None:
    counts = parameter_counts(HandPoseNet(ModelConfig.from_preset("paper", norm="none", rotation="axis-angle")))
    # docs/official-code.md, "Sizes": PoseNet ~17.5 M, PosePrior ~1.64 M, ViewPoint ~2.24 M, Branch2 + head ~2.3 M
    assert counts["heatmap_net"] == 17_518_847
    # BatchNorm (the default) adds a scale and a shift per channel of the 23 hidden convs: 11,264
    batch = parameter_counts(HandPoseNet(ModelConfig.from_preset("paper", rotation="axis-angle")))
    assert batch["heatmap_net"] - counts["heatmap_net"] == 2 * (2 * 64 + 2 * 128 + 4 * 256 + 512 + 512 + 4 * 256
                                                                + 128 + 512 + 2 * 6 * 128)
    assert counts["pose_prior"] == 1_637_279
    assert counts["view_point"] == 2_238_403
    assert round((counts["branch2"] + counts["projection"]) / 1e6, 1) == 2.3
    # the 6-D rotation widens ViewPoint's last layer from 128->3 to 128->6
    six = parameter_counts(HandPoseNet(ModelConfig.from_preset("paper", norm="none", rotation="6d")))
    assert six["view_point"] - counts["view_point"] == 3 * (128 + 1)


def test_cpu_presets_narrow_the_heatmap_net_but_keep_the_published_lifting_widths() -> None:
    paper, tiny = (HandPoseNet(ModelConfig.from_preset(name)) for name in ("paper", "tiny"))
    for part in ("pose_prior", "view_point"):
        widths = [[conv.out_channels for conv in getattr(net, part).convs] for net in (paper, tiny)]
        assert widths[0] == widths[1]
    assert [fc.out_features for fc in tiny.view_point.fcs] == [256, 128]
    assert tiny.heatmap_net.conv5_1[0].out_channels == 512 // 8
    # 8² maps end at 1² after three stride-2 convs: 128 channels + the hand side feed PosePrior's first FC
    assert tiny.pose_prior.fcs[0].in_features == 128 + 2


def test_a_checkpoint_config_from_before_the_lifting_width_builds_its_narrow_lifting_nets() -> None:
    old = {k: v for k, v in ModelConfig.from_preset("tiny").to_dict().items() if k != "lifting_divisor"}
    net = HandPoseNet(ModelConfig.from_dict(old))
    assert [conv.out_channels for conv in net.pose_prior.convs] == [4, 4, 8, 8, 16, 16]


def test_ground_truth_maps_are_lifted_beside_the_predicted_ones(tiny: HandPoseNet) -> None:
    images, side = torch.rand(2, 3, 64, 64), torch.tensor([0, 1])
    maps = torch.rand(2, 21, 8, 8)
    out = tiny(images, side, gt_heatmaps=maps)
    coords, rotation = tiny.lift(maps, side)
    assert torch.allclose(out.gt_coords, coords, atol=1e-6) and torch.allclose(out.gt_rotation, rotation, atol=1e-6)
    assert not torch.allclose(out.coords, coords)
    # lifted in one batch with the GT maps, the predicted maps give what lifting them alone gives
    pred_coords, pred_rotation = tiny.lift(out.heatmaps, side)
    assert torch.allclose(out.coords, pred_coords, atol=1e-6) and torch.allclose(out.rotation, pred_rotation, atol=1e-6)
    # GT maps at another size are resampled to the net's 8² first
    assert tiny(images, side, gt_heatmaps=torch.rand(2, 21, 32, 32)).gt_coords.shape == (2, 21, 3)
    assert tiny(images, side).gt_coords is None


def test_branch2_is_skipped_without_clip_feature(tiny: HandPoseNet) -> None:
    tiny.zero_grad(set_to_none=True)
    out = tiny(torch.rand(2, 3, 64, 64), torch.tensor([1, 1]))
    (out.heatmaps.sum() + out.coords.sum() + out.rotation.sum()).backward()
    assert all(p.grad is None for p in tiny.branch2.parameters())
    assert all(p.grad is None for p in tiny.projection.parameters())
    assert tiny.heatmap_net.trunk[0][0].weight.grad is not None


def test_contrastive_gradient_reaches_the_trunk_but_not_the_heatmap_head(tiny: HandPoseNet) -> None:
    tiny.zero_grad(set_to_none=True)
    out = tiny(torch.rand(2, 3, 64, 64), torch.tensor([1, 1]), torch.randn(2, 32))
    (out.e1p - out.e2p).abs().sum().backward()
    assert tiny.heatmap_net.trunk[0][0].weight.grad.abs().sum() > 0
    assert tiny.heatmap_net.conv5_2.weight.grad is None


def test_rodrigues_quarter_turn_about_z_and_zero_vector() -> None:
    rot = rodrigues(torch.tensor([[0.0, 0.0, math.pi / 2]]), eps=0.0)[0]
    expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert torch.allclose(rot, expected, atol=1e-6)
    u = torch.zeros(1, 3, requires_grad=True)
    rot0 = rodrigues(u)
    assert torch.allclose(rot0[0], torch.eye(3), atol=1e-6)
    rot0.sum().backward()
    assert torch.isfinite(u.grad).all()


def test_rodrigues_gives_proper_rotations() -> None:
    rot = rodrigues(torch.randn(16, 3, dtype=torch.float64))
    eye = torch.eye(3, dtype=torch.float64).expand(16, 3, 3)
    assert torch.allclose(rot @ rot.transpose(1, 2), eye, atol=1e-6)  # eps=1e-8 inside the norm
    assert torch.allclose(torch.linalg.det(rot), torch.ones(16, dtype=torch.float64), atol=1e-6)


def test_rotation_6d_is_identity_at_zero_and_recovers_any_rotation() -> None:
    assert torch.allclose(rotation_6d(torch.zeros(1, 6)), torch.eye(3)[None])
    # a 180° turn about z: axis-angle's discontinuity, but just two rows for the 6-D form
    half_turn = torch.tensor([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    six = torch.cat([half_turn[0] - torch.tensor([1.0, 0.0, 0.0]), half_turn[1] - torch.tensor([0.0, 1.0, 0.0])])
    assert torch.allclose(rotation_6d(six[None])[0], half_turn, atol=1e-6)
    rot = rotation_6d(torch.randn(16, 6, dtype=torch.float64))
    eye = torch.eye(3, dtype=torch.float64).expand(16, 3, 3)
    assert torch.allclose(rot @ rot.transpose(1, 2), eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(16, dtype=torch.float64))


def test_a_6d_model_outputs_the_vectors_its_rotation_comes_from() -> None:
    torch.manual_seed(0)
    net = HandPoseNet(ModelConfig.from_preset("tiny", rotation="6d")).eval()
    images, side = torch.rand(2, 3, 64, 64), torch.tensor([0, 1])
    out = net(images, side, gt_heatmaps=torch.rand(2, 21, 32, 32))
    offsets = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    for rows, rotation in ((out.rotation_rows, out.rotation), (out.gt_rotation_rows, out.gt_rotation)):
        assert rows.shape == (2, 6)
        assert torch.allclose(rotation_6d(rows - offsets), rotation, atol=1e-6)
    axis_angle = HandPoseNet(ModelConfig.from_preset("tiny", rotation="axis-angle")).eval()(
        images, side, gt_heatmaps=torch.rand(2, 21, 32, 32))
    assert axis_angle.rotation_rows is None and axis_angle.gt_rotation_rows is None


def test_rotation_output_picks_the_viewpoint_head() -> None:
    assert HandPoseNet(ModelConfig.from_preset("tiny", rotation="6d")).view_point.out.out_features == 6
    assert HandPoseNet(ModelConfig.from_preset("tiny", rotation="axis-angle")).view_point.out.out_features == 3
    assert HandPoseNet(ModelConfig.from_preset("tiny")).view_point.out.out_features == 6  # the default, as `handdg train`'s
    with pytest.raises(HanddgError, match="axis-angle"):
        ModelConfig.from_preset("tiny", rotation="quaternion")


def test_same_conv_stride2_pads_zero_before_one_after() -> None:
    conv = SameConv2d(1, 1, 3, stride=2, bias=False)
    torch.nn.init.ones_(conv.weight)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = conv(x)[0, 0]
    # top-left window rows/cols 0..2; bottom-right window rows/cols 2..3 plus one zero row/col
    assert out[0, 0] == x[0, 0, 0:3, 0:3].sum() == 45
    assert out[1, 1] == x[0, 0, 2:4, 2:4].sum() == 10 + 11 + 14 + 15


def test_hand_side_encoding_and_right_hand_flip() -> None:
    assert side_onehot(torch.tensor([0, 1]), torch.float32).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    coords = torch.ones(2, 21, 3)
    flipped = flip_right_hand(coords, torch.tensor([0, 1]))
    assert flipped[0].eq(1).all()
    assert flipped[1, :, :2].eq(1).all() and flipped[1, :, 2].eq(-1).all()


def test_branch2_convblock_sees_only_every_fourth_pixel() -> None:
    cfg = ModelConfig.from_preset("tiny", clip_dim=4)
    branch = Branch2(cfg, 32)
    pool3, clip = torch.randn(1, 32, 8, 8), torch.randn(1, 4)
    e1, e2 = branch(pool3, clip)
    shifted = pool3.clone()
    shifted[..., 1, 1] += 100.0  # not on the (4i, 4j) grid the two 1x1 stride-2 convs sample
    e1b, _ = branch(shifted, clip)
    assert torch.equal(e1, e1b)
    shifted[..., 4, 4] += 100.0
    assert not torch.equal(e1, branch(shifted, clip)[0])


def test_sum_fusion_projects_clip_and_adds() -> None:
    net = HandPoseNet(ModelConfig.from_preset("tiny", clip_dim=32, fusion="sum"))
    assert net.branch2.fc2.in_features == net.branch2.fc1.in_features
    out = net(torch.rand(2, 3, 64, 64), torch.tensor([0, 1]), torch.randn(2, 32))
    assert out.e2p.shape == (2, 16)


def test_25d_target_returns_rotated_coords_and_no_rotation() -> None:
    torch.manual_seed(1)
    can = HandPoseNet(ModelConfig.from_preset("tiny"))
    flat = HandPoseNet(ModelConfig.from_preset("tiny", target="2.5d"))
    flat.load_state_dict(can.state_dict())
    images, side = torch.rand(2, 3, 64, 64), torch.tensor([0, 1])
    a, b = can(images, side), flat(images, side)
    assert b.rotation is None
    assert torch.allclose(b.coords, flip_right_hand(a.coords, side) @ a.rotation, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"input_size": 60}, {"width_divisor": 3}, {"lifting_divisor": 0}, {"fusion": "add"},
                                    {"target": "xyz"}])
def test_bad_config_is_a_user_error(kwargs: dict) -> None:
    with pytest.raises(HanddgError):
        ModelConfig.from_preset("small", **kwargs)


def test_unknown_preset_is_a_user_error() -> None:
    with pytest.raises(HanddgError, match="paper, small, tiny"):
        ModelConfig.from_preset("huge")


def test_config_round_trips_through_a_dict() -> None:
    cfg = ModelConfig.from_preset("small", clip_dim=64, fusion="sum")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_config_from_another_version_is_a_user_error() -> None:
    with pytest.raises(HanddgError, match="dropout"):
        ModelConfig.from_dict({**ModelConfig().to_dict(), "dropout": 0.2})
