"""L = λ1·L_heat + λ2·L_pose + λ3·L_con, the negative mining, and Eq. 4 vs the hinge, by hand."""

from __future__ import annotations

import pytest
import torch

from handdg.errors import HanddgError
from handdg.model.losses import (LossConfig, contrastive_loss, heatmap_loss, pose_loss, select_negatives,
                                 supervised_heatmap_loss, total_loss)
from handdg.model.network import ModelOutput

E1 = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
E2 = torch.tensor([[1.0, 0.0], [1.0, 3.0]])
SWAP = torch.tensor([1, 0])
# d_pos = |e1-e2|_1 = [1, 2]; from e2 rows: d_neg = [|0-1|+|0-3|, |1-1|+|1-0|] = [4, 1];
# from e1 rows: d_neg = [2, 2]


def test_heatmap_loss_is_a_squared_norm_per_sample_and_upsamples_predictions() -> None:
    # Eq. 2: 21 maps x 4 pixels, each error 1 -> 84 per sample; the batch mean of 84 and 84 is 84
    assert heatmap_loss(torch.zeros(2, 21, 2, 2), torch.ones(2, 21, 2, 2)).item() == 84.0
    assert heatmap_loss(torch.zeros(2, 21, 2, 2), torch.ones(2, 21, 2, 2), "mean").item() == 1.0
    # a constant 1x1 prediction of 2 upsampled to 4x4 stays 2 everywhere: (2 - 0)^2 = 4, x 21 x 16
    assert heatmap_loss(torch.full((1, 21, 1, 1), 2.0), torch.zeros(1, 21, 4, 4)).item() == 4.0 * 21 * 16


def _upsampled_then_squared(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 2 the straightforward way: upsample, subtract, square, sum per sample, batch mean."""
    up = torch.nn.functional.interpolate(pred.double(), size=target.shape[-2:], mode="bilinear", align_corners=False)
    return ((up - target.double()) ** 2).flatten(1).sum(dim=1).mean()


@pytest.mark.parametrize("size, gt", [(8, 32), (16, 32), (8, 20), (32, 32)])
def test_the_heat_loss_at_the_maps_own_size_equals_upsampling_them(size, gt) -> None:
    torch.manual_seed(size + gt)
    target = torch.rand(3, 21, gt, gt)
    pred = (torch.randn(3, 21, size, size) * 0.5).requires_grad_()
    loss = heatmap_loss(pred, target)
    loss.backward()
    reference_pred = pred.detach().double().requires_grad_()
    reference = _upsampled_then_squared(reference_pred, target)
    reference.backward()
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    assert torch.allclose(pred.grad.double(), reference_pred.grad, rtol=1e-4, atol=1e-4)
    assert heatmap_loss(pred, target, "mean").item() == pytest.approx(reference.item() / (21 * gt * gt), rel=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the loss stays float32 under autocast
        assert heatmap_loss(pred, target).item() == pytest.approx(reference.item(), rel=1e-5)


def test_every_cpm_stage_is_supervised_unless_asked_otherwise() -> None:
    target = torch.zeros(1, 21, 1, 1)
    stages = tuple(torch.full((1, 21, 1, 1), v) for v in (1.0, 2.0, 3.0))
    out = ModelOutput(heatmaps=stages[-1], coords=torch.zeros(1, 21, 3), rotation=None, stages=stages)
    # per stage 21 maps of one pixel: 21·(1 + 4 + 9) with all stages, 21·9 with the last only
    assert supervised_heatmap_loss(out, target, LossConfig()).item() == 21 * 14
    assert supervised_heatmap_loss(out, target, LossConfig(heat_stages="last")).item() == 21 * 9


def test_pose_loss_adds_rotation_mse_for_canonical_models() -> None:
    coords = torch.zeros(1, 21, 3)
    out = ModelOutput(heatmaps=torch.zeros(1, 21, 2, 2), coords=coords + 1, rotation=torch.eye(3)[None])
    # coords: every error is 1 -> 1; rotation: identity vs zeros -> 3 ones in 9 -> 1/3
    assert pose_loss(out, coords, torch.zeros(1, 3, 3)).item() == pytest.approx(1 + 1 / 3)
    flat = ModelOutput(heatmaps=out.heatmaps, coords=coords + 2, rotation=None)
    assert pose_loss(flat, coords).item() == 4.0


def test_pose_loss_adds_the_lifting_of_the_ground_truth_maps_when_present() -> None:
    coords = torch.zeros(1, 21, 3)
    out = ModelOutput(heatmaps=torch.zeros(1, 21, 2, 2), coords=coords + 1, rotation=torch.eye(3)[None],
                      gt_coords=coords + 3, gt_rotation=torch.zeros(1, 3, 3))
    # predicted maps: 1 + 1/3 as above; GT maps: coords error 3 -> 9, rotation exact -> 0
    assert pose_loss(out, coords, torch.zeros(1, 3, 3)).item() == pytest.approx(1 + 1 / 3 + 9)


def test_pose_loss_pins_the_6d_vectors_to_the_first_two_rows_of_r() -> None:
    coords, rotation = torch.zeros(1, 21, 3), torch.eye(3)[None]
    rows = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]])
    exact = ModelOutput(heatmaps=torch.zeros(1, 21, 2, 2), coords=coords, rotation=rotation, rotation_rows=rows)
    assert pose_loss(exact, coords, rotation).item() == 0.0
    # 100x longer vectors give the same R after Gram-Schmidt, so only their own MSE sees them:
    # errors 99 at 2 of 6 entries -> 99² · 2 / 6 = 3267
    long = ModelOutput(heatmaps=exact.heatmaps, coords=coords, rotation=rotation, rotation_rows=100 * rows,
                       gt_coords=coords, gt_rotation=rotation, gt_rotation_rows=rows)
    assert pose_loss(long, coords, rotation).item() == pytest.approx(3267.0)


def test_negative_is_the_farthest_gt_heatmap_from_the_anchor_prediction() -> None:
    # one joint, 1x2 maps; anchor i's prediction against every GT map j
    pred = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]]).view(3, 1, 1, 2).expand(3, 21, 1, 2)
    gt = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]]).view(3, 1, 1, 2).expand(3, 21, 1, 2)
    # anchor 0 (0,0): to gt1 dist 5, to gt2 dist 1 -> 1. anchor 1 (3,4): gt0 5, gt2 sqrt(20) -> 0.
    # anchor 2 (1,0): gt0 1, gt1 sqrt(20) -> 1.
    assert select_negatives(pred, gt).tolist() == [1, 0, 1]


def test_negatives_from_small_maps_are_those_of_the_upsampled_maps() -> None:
    torch.manual_seed(3)
    pred, gt = torch.randn(16, 21, 8, 8), torch.rand(16, 21, 32, 32)
    up = torch.nn.functional.interpolate(pred, size=(32, 32), mode="bilinear", align_corners=False)
    dist = torch.cdist(up.flatten(1).double(), gt.flatten(1).double())
    dist.fill_diagonal_(-1.0)
    assert select_negatives(pred, gt).tolist() == dist.argmax(dim=1).tolist()


def test_a_sample_is_never_its_own_negative() -> None:
    pred = torch.zeros(2, 21, 1, 1)
    gt = torch.tensor([5.0, 1.0]).view(2, 1, 1, 1).expand(2, 21, 1, 1)
    # anchor 0's own GT is the farthest, yet the other sample is chosen
    assert select_negatives(pred, gt).tolist() == [1, 0]


def test_paper_contrastive_is_eq4_as_printed() -> None:
    # e2 rows: [1 - max(.5, 4), 2 - max(.5, 1)] = [-3, 1] -> mean -1
    assert contrastive_loss(E1, E2, SWAP, "paper").item() == -1.0
    # e1 rows: [1 - 2, 2 - 2] -> mean -0.5
    assert contrastive_loss(E1, E2, SWAP, "paper", negative_from="e1").item() == -0.5


def test_paper_contrastive_floors_near_negatives_at_the_margin() -> None:
    e1, e2 = torch.tensor([[0.0], [0.1]]), torch.tensor([[0.0], [0.1]])
    # d_pos = 0, d_neg = 0.1 < 0.5 -> -0.5 each
    assert contrastive_loss(e1, e2, SWAP, "paper").item() == pytest.approx(-0.5)


def test_hinge_contrastive_is_bounded() -> None:
    # margin 0.5: both negatives farther -> only d_pos: (1 + 2) / 2
    assert contrastive_loss(E1, E2, SWAP, "hinge").item() == 1.5
    # margin 5: [1 + (5 - 4), 2 + (5 - 1)] -> mean 4
    assert contrastive_loss(E1, E2, SWAP, "hinge", margin=5.0).item() == 4.0


def test_paper_form_keeps_pushing_far_negatives_while_hinge_stops() -> None:
    e1 = E1.clone().requires_grad_()
    e2 = E2.clone().requires_grad_()
    contrastive_loss(e1, e2, SWAP, "paper").backward()
    assert e2.grad[1].abs().sum() > 0  # e2[1] is anchor 0's negative at distance 4 > 0.5
    e1.grad, e2.grad = None, None
    contrastive_loss(e1, e2, SWAP, "hinge").backward()
    # with every negative beyond the margin only the positive pair pulls: dL/de2 = -sign(e1-e2)/2
    assert e2.grad.tolist() == [[0.5, 0.0], [0.0, 0.5]]


def _output(with_embeddings: bool) -> ModelOutput:
    heat = torch.zeros(2, 21, 1, 2)
    heat[1] = 1.0
    return ModelOutput(heatmaps=heat, coords=torch.ones(2, 21, 3), rotation=None,
                       e1p=E1 if with_embeddings else None, e2p=E2 if with_embeddings else None)


def test_total_loss_weights_the_three_terms() -> None:
    gt_heat = torch.zeros(2, 21, 1, 2)
    gt_heat[0] = 1.0  # heat MSE = 1; each anchor's farthest GT is the other sample -> SWAP
    paper = LossConfig(contrastive="paper", heat_reduction="mean")
    terms = total_loss(_output(True), gt_heat, torch.zeros(2, 21, 3), None, paper)
    assert (terms.heat.item(), terms.pose.item(), terms.con.item()) == (1.0, 1.0, -1.0)
    assert terms.total.item() == pytest.approx(1 + 1 + 0.1 * -1)
    cfg = LossConfig(heat=2.0, pose=0.5, con=1.0, contrastive="hinge", heat_reduction="mean")
    assert total_loss(_output(True), gt_heat, torch.zeros(2, 21, 3), None, cfg).total.item() == 2 + 0.5 + 1.5
    # the default sums each sample's 42 squared errors of 1 (-> 42) and uses the hinge (-> 1.5)
    assert total_loss(_output(True), gt_heat, torch.zeros(2, 21, 3), None).total.item() == pytest.approx(42 + 1 + 0.15)


def test_total_loss_without_embeddings_has_no_contrastive_term() -> None:
    terms = total_loss(_output(False), torch.zeros(2, 21, 1, 2), torch.zeros(2, 21, 3), None,
                       LossConfig(heat_reduction="mean"))
    assert terms.con is None
    assert terms.total.item() == 0.5 + 1.0


@pytest.mark.parametrize("kwargs", [{"contrastive": "triplet"}, {"negative_from": "e3"}, {"con": -0.1},
                                    {"heat_reduction": "max"}, {"heat_stages": "first"}])
def test_bad_loss_options_are_user_errors(kwargs: dict) -> None:
    with pytest.raises(HanddgError):
        LossConfig(**kwargs)


def test_tiny_model_fits_one_batch_with_every_term() -> None:
    from handdg.model.network import HandPoseNet, ModelConfig

    torch.manual_seed(0)
    net = HandPoseNet(ModelConfig.from_preset("tiny", clip_dim=8))
    images, side, clip = torch.rand(4, 3, 64, 64), torch.ones(4), torch.randn(4, 8)
    gt_heat = torch.rand(4, 21, 8, 8)
    gt_coords, gt_rot = torch.randn(4, 21, 3) * 0.5, torch.eye(3).expand(4, 3, 3)
    cfg = LossConfig(contrastive="hinge")
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-4)
    losses = []
    for _ in range(8):
        terms = total_loss(net(images, side, clip), gt_heat, gt_coords, gt_rot, cfg)
        optimiser.zero_grad()
        terms.total.backward()
        optimiser.step()
        losses.append((terms.heat.item(), terms.pose.item(), terms.con.item()))
    first, last = losses[0], losses[-1]
    assert all(b < a for a, b in zip(first, last)), (first, last)
