"""Both evaluation protocols against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from handdg.evaluation import metrics

STEP = 50.0 / 19.0  # spacing of hand3d's 20 thresholds over 0..50 mm


def _hand(offset_from: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A GT hand and a prediction moved by (3, 4, 0) mm (a 3-4-5 triangle) from joint `offset_from` on."""
    gt = np.arange(2 * 21 * 3, dtype=np.float64).reshape(2, 21, 3)
    pred = gt.copy()
    pred[:, offset_from:] += [3.0, 4.0, 0.0]
    return pred, gt


def test_official_errors_are_camera_space_345() -> None:
    pred, gt = _hand()
    result = metrics.official(pred, gt)
    assert result["epe_mean_mm"] == pytest.approx(5.0)
    assert result["epe_median_mm"] == pytest.approx(5.0)
    assert result["per_joint_mm"] == pytest.approx([5.0] * 21)


def test_hand3d_makes_the_gt_root_relative_and_scores_the_prediction_as_it_is() -> None:
    pred, gt = _hand()
    relative = gt - gt[:, :1]
    # the GT's own position never matters: the GT is made relative to its root
    assert metrics.hand3d(relative, gt)["epe_mean_mm"] == pytest.approx(0.0)
    assert metrics.hand3d(relative, gt + 100.0)["epe_mean_mm"] == pytest.approx(0.0)
    # the prediction is not re-centred on its own root (hand3d's eval3d.py): a 3-4-5 shift of every
    # joint, root included, costs 5 mm on every joint
    result = metrics.hand3d(relative + [3.0, 4.0, 0.0], gt)
    assert result["per_joint_mm"] == pytest.approx([5.0] * 21)
    shifted = relative.copy()
    shifted[:, 1:] += [3.0, 4.0, 0.0]
    result = metrics.hand3d(shifted, gt)
    assert result["per_joint_mm"] == pytest.approx([0.0] + [5.0] * 20)
    assert result["epe_mean_mm"] == pytest.approx(100.0 / 21.0)


def test_pck_is_a_step_at_the_error_and_its_auc_by_hand() -> None:
    pred, gt = _hand()
    result = metrics.official(pred, gt, stb_subset=True)
    # every error is 5 mm: thresholds 0 and 2.63 fail, 5.26 onward pass
    assert result["pck"]["values"] == [0.0, 0.0] + [1.0] * 18
    assert result["pck"]["thresholds_mm"] == pytest.approx(np.arange(20) * STEP)
    # trapezoids: half a step between 2.63 and 5.26, then 17 full steps, over a 50 mm range
    assert result["auc_0_50"] == pytest.approx(17.5 * STEP / 50.0)
    assert result["auc_20_50"] == pytest.approx(1.0)
    assert "auc_20_50" not in metrics.official(pred, gt)


def test_hand3d_median_averages_keypoint_medians_official_takes_sample_median() -> None:
    errors = np.zeros((3, 21))
    errors[1] = 10.0
    errors[2, :10] = 30.0
    # hand3d: keypoints 0..9 see {0, 10, 30} -> median 10; keypoints 10..20 see {0, 10, 0} -> 0
    assert metrics.summarise(errors, "hand3d")["epe_median_mm"] == pytest.approx(100.0 / 21.0)
    # official: per-sample means 0, 10, 300/21 -> median 10
    assert metrics.summarise(errors, "official")["epe_median_mm"] == pytest.approx(10.0)
    # both means are the mean of all 63 errors when nothing is masked
    assert metrics.summarise(errors, "hand3d")["epe_mean_mm"] == pytest.approx(errors.mean())
    assert metrics.summarise(errors, "official")["epe_mean_mm"] == pytest.approx(errors.mean())


def test_hand3d_ignores_invisible_joints_and_unmeasured_keypoints() -> None:
    errors = np.full((2, 21), 4.0)
    errors[0, 3] = 1000.0
    visible = np.ones((2, 21), dtype=bool)
    visible[0, 3] = False
    visible[:, 20] = False
    result = metrics.summarise(errors, "hand3d", visible)
    assert result["epe_mean_mm"] == pytest.approx(4.0)
    assert result["per_joint_mm"][20] is None
    assert result["per_joint_mm"][3] == pytest.approx(4.0)
    # the official protocol has no mask: the 1000 mm error counts
    assert metrics.summarise(errors, "official", visible)["epe_mean_mm"] == pytest.approx((41 * 4 + 1000) / 42)


def test_auc_of_a_linear_pck_is_one_half() -> None:
    thresholds = np.linspace(0.0, 50.0, 20)
    assert metrics.auc(thresholds, thresholds / 50.0) == pytest.approx(0.5)


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        metrics.joint_errors(np.zeros((2, 21, 3)), np.zeros((3, 21, 3)))


def test_procrustes_alignment_undoes_rotation_scale_and_translation() -> None:
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(3, 21, 3)) * 30.0
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    pred = 1.8 * gt @ rotation.T + [10.0, -5.0, 400.0]
    assert np.abs(metrics.align_w_scale(gt, pred) - gt).max() < 1e-6
    result = metrics.freihand(pred, gt)
    assert result["aligned"]["epe_mean_mm"] == pytest.approx(0.0, abs=1e-6)
    assert result["unaligned"]["epe_mean_mm"] > 100.0
    assert len(result["aligned"]["pck"]["thresholds_mm"]) == 100
    assert result["aligned"]["auc_0_50"] == pytest.approx(1.0 - 0.5 / 99)  # the 0 mm threshold counts half a step


def test_keypoint_2d_errors_by_hand() -> None:
    gt = np.zeros((2, 21, 2))
    pred = gt.copy()
    pred[0] += [3.0, 4.0]  # 5 px on every joint of sample 0
    pred[1] += [6.0, 8.0]  # 10 px on every joint of sample 1
    result = metrics.keypoints_2d(pred, gt)
    assert result["mean_px"] == pytest.approx(7.5)
    assert result["median_px"] == pytest.approx(7.5)
    assert result["pck"]["values"] == [0.0, 0.5, 1.0, 1.0]
