"""The constant-pose reference (the denominator of every "x the constant pose" ratio), checked against
values worked out by hand on toy hands with simple coordinates.

R below is one root-relative right hand (FreiHAND joint order, millimetres) whose rows are whole
multiples of Pythagorean directions, so every joint's distance from the root is a whole number:
|R_j| = 0, 5, 10, 15, 20 | 28, 35, 42, 49 | 39, 52, 65, 78 | 28, 35, 42, 49 | 18, 21, 24, 27 (sum 682),
and its middle-finger MCP->PIP bone R[10] - R[9] = (3, -12, 4) is 13 mm long. The expected values
are arithmetic on R written out in the tests, never a call into handdg.evaluation.reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from handdg.data.base import Sample
from handdg.evaluation.reference import constant_pose_scores, mean_pose

R = np.array([
    [0, 0, 0],
    [-3, -4, 0], [-6, -8, 0], [-9, -12, 0], [-12, -16, 0],  # thumb: k·(-3, -4, 0), k = 1..4
    [-8, -24, 12], [-10, -30, 15], [-12, -36, 18], [-14, -42, 21],  # index: k·(-2, -6, 3), k = 4..7
    [9, -36, 12], [12, -48, 16], [15, -60, 20], [18, -72, 24],  # middle: k·(3, -12, 4), k = 3..6
    [8, -24, -12], [10, -30, -15], [12, -36, -18], [14, -42, -21],  # ring: k·(2, -6, -3), k = 4..7
    [12, -12, -6], [14, -14, -7], [16, -16, -8], [18, -18, -9],  # pinky: k·(2, -2, -1), k = 6..9
], dtype=np.float64)
BONE = 13.0
NORMS = np.array([0, 5, 10, 15, 20, 28, 35, 42, 49, 39, 52, 65, 78, 28, 35, 42, 49, 18, 21, 24, 27], dtype=np.float64)
MIRROR_X = np.array([-1.0, 1.0, 1.0])


def _sample(xyz: np.ndarray, side: str, root: str = "wrist") -> Sample:
    return Sample(id="toy", image=np.zeros((4, 4, 3), np.uint8), xyz_mm=np.asarray(xyz, np.float64),
                  K=np.eye(3), uv=np.zeros((21, 2)), side=side, root=root)


def _training_hands() -> list[Sample]:
    """A: R moved by (100, 0, 500); B: R doubled and moved; C: a LEFT hand, R mirrored (x -> -x) and moved.

    As the network sees them (left hands mirrored to right ones, then made root-relative): R, 2R, R,
    with bones 13, 26, 13 mm. So mean mm pose = 4R/3, mean bone-normalised pose = (R/13 + 2R/26 + R/13)/3
    = R/13, mean bone = 52/3 mm, count 3.
    """
    return [_sample(R + [100.0, 0.0, 500.0], "right"),
            _sample(2.0 * R + [0.0, 50.0, 600.0], "right"),
            _sample(R * MIRROR_X + [-30.0, 0.0, 400.0], "left")]


def test_assumptions_about_the_toy_hand() -> None:
    np.testing.assert_array_equal(np.linalg.norm(R, axis=1), NORMS)
    assert np.linalg.norm(R[10] - R[9]) == BONE and NORMS.sum() == 682 and np.abs(R[:, 2]).sum() == 234


def test_mean_pose_of_translated_scaled_and_mirrored_hands_by_hand() -> None:
    reference = mean_pose(_training_hands(), "wrist")
    assert reference["count"] == 3
    np.testing.assert_allclose(reference["mm"], 4.0 * R / 3.0, atol=1e-12)
    np.testing.assert_allclose(reference["normed"], R / 13.0, atol=1e-12)
    assert reference["bone_mm"] == pytest.approx(52.0 / 3.0, rel=1e-12)
    # the root row is exactly the origin: the pose is root-relative, not camera-space
    np.testing.assert_array_equal(np.asarray(reference["mm"])[0], [0.0, 0.0, 0.0])


def test_mean_pose_with_the_palm_as_root_by_hand() -> None:
    # hand3d's RHD palm = (wrist + middle MCP) / 2 = R[9] / 2 = (4.5, -18, 6) for R; joint 0 becomes the
    # palm, so every other joint is measured from it: A, C give R - R[9]/2, B gives 2(R - R[9]/2)
    palm_relative = R - [4.5, -18.0, 6.0]
    palm_relative[0] = 0.0
    reference = mean_pose(_training_hands(), "palm")
    np.testing.assert_allclose(reference["mm"], 4.0 * palm_relative / 3.0, atol=1e-12)
    np.testing.assert_allclose(reference["normed"], palm_relative / 13.0, atol=1e-12)  # bones unchanged
    assert reference["bone_mm"] == pytest.approx(52.0 / 3.0, rel=1e-12)


def test_mean_pose_takes_evenly_spaced_samples_up_to_the_limit() -> None:
    reference = mean_pose(_training_hands(), "wrist", limit=2)  # samples 0 and 2: A and C, both R
    assert reference["count"] == 2
    np.testing.assert_allclose(reference["mm"], R, atol=1e-12)
    np.testing.assert_allclose(reference["normed"], R / 13.0, atol=1e-12)
    assert reference["bone_mm"] == pytest.approx(13.0, rel=1e-12)


def test_mean_pose_skips_unannotated_hands() -> None:
    hands = _training_hands() + [_sample(np.full((21, 3), np.nan), "right")]
    reference = mean_pose(hands, "wrist")
    assert reference["count"] == 3
    np.testing.assert_allclose(reference["mm"], 4.0 * R / 3.0, atol=1e-12)
    assert mean_pose([_sample(np.full((21, 3), np.nan), "right")], "wrist")["count"] == 0


# Test hands (crop frame, right hands): G1 = R + t1 (bone 13), G2 = 3R + t2 (bone 39),
# G3 = R with z negated + t3 (bone |(3, -12, -4)| = 13). The reference is the training set above:
# normed R/13, mm 4R/3.
T1, T2, T3 = np.array([5.0, 5.0, 450.0]), np.array([0.0, 0.0, 700.0]), np.array([-20.0, 10.0, 520.0])
FLIP_Z = np.array([1.0, 1.0, -1.0])


def _test_hands() -> np.ndarray:
    return np.stack([R + T1, 3.0 * R + T2, R * FLIP_Z + T3])


def test_constant_pose_scores_under_both_protocols_by_hand() -> None:
    reference = {"normed": (R / 13.0).tolist(), "mm": (4.0 * R / 3.0).tolist()}
    scores = constant_pose_scores(reference, _test_hands(), None, stb_subset=False)

    # hand3d: prediction = R/13 x each GT bone = R, 3R, R against GT root-relative R, 3R, R·(1,1,-1):
    # errors 0, 0 and 2|z_j| -> per-joint mean 2|z_j|/3 -> mean over joints 2·234/(3·21) = 52/7 mm
    hand3d = scores["hand3d"]
    assert hand3d["epe_mean_mm"] == pytest.approx(52.0 / 7.0, rel=1e-12)
    np.testing.assert_allclose(hand3d["per_joint_mm"], 2.0 * np.abs(R[:, 2]) / 3.0, atol=1e-12)
    # per-joint medians of {0, 0, 2|z_j|} are 0
    assert hand3d["epe_median_mm"] == pytest.approx(0.0, abs=1e-12)

    # official: prediction = 4R/3 + GT root. G1: |R_j|/3 per joint -> 682/63; G2: |4/3 - 3|·|R_j| -> 5·682/63;
    # G3: |(x/3, y/3, 4z/3 + z)| = sqrt(x² + y² + 49 z²)/3 per joint
    g1, g2 = 682.0 / 63.0, 5.0 * 682.0 / 63.0
    g3 = float(np.sqrt(R[:, 0] ** 2 + R[:, 1] ** 2 + 49.0 * R[:, 2] ** 2).sum() / 63.0)
    official = scores["official"]
    assert official["epe_mean_mm"] == pytest.approx((g1 + g2 + g3) / 3.0, rel=1e-12)
    assert official["epe_median_mm"] == pytest.approx(sorted([g1, g2, g3])[1], rel=1e-12)


def test_constant_pose_scores_on_same_shaped_hands_are_exact_by_hand() -> None:
    reference = {"normed": (R / 13.0).tolist(), "mm": (4.0 * R / 3.0).tolist()}
    scores = constant_pose_scores(reference, _test_hands()[:2], None, stb_subset=True)
    # hand3d is scale-free through the GT bone: R and 3R are predicted exactly -> EPE 0, every joint within
    # 2.6 mm (the 0-mm threshold sees floating-point rounding, so it is left out)
    assert scores["hand3d"]["epe_mean_mm"] == pytest.approx(0.0, abs=1e-12)
    assert scores["hand3d"]["pck"]["values"][1:] == [1.0] * 19
    # official: (682/63 + 5·682/63) / 2 = 682/21 mm, the median of two samples is their mean
    assert scores["official"]["epe_mean_mm"] == pytest.approx(682.0 / 21.0, rel=1e-12)
    assert scores["official"]["epe_median_mm"] == pytest.approx(682.0 / 21.0, rel=1e-12)
    np.testing.assert_allclose(scores["official"]["per_joint_mm"], (1.0 + 5.0) / 2.0 * NORMS / 3.0, atol=1e-12)


def test_constant_pose_hand3d_score_counts_only_visible_joints_by_hand() -> None:
    reference = {"normed": (R / 13.0).tolist(), "mm": (4.0 * R / 3.0).tolist()}
    visible = np.ones((3, 21), bool)
    visible[2, 5:9] = False  # G3's index finger hidden: only G1, G2 (errors 0) score joints 5..8
    scores = constant_pose_scores(reference, _test_hands(), visible, stb_subset=False)
    # Σ|z_j| without the index finger: 234 - 66 = 168 -> 2·168/(3·21) = 16/3 mm
    assert scores["hand3d"]["epe_mean_mm"] == pytest.approx(16.0 / 3.0, rel=1e-12)
    # the official protocol ignores visibility
    full = constant_pose_scores(reference, _test_hands(), None, stb_subset=False)
    assert scores["official"]["epe_mean_mm"] == full["official"]["epe_mean_mm"]


def test_the_reference_a_training_run_records_is_its_training_sets_mean_pose(tmp_path) -> None:
    """tiny_freihand's hands are one shape (tiny_datasets.hand_mm) moved by translations only, so the run's
    reference is exactly that shape, root-relative, and its bone."""
    import torch

    from handdg.run import runs
    from handdg.train import loop
    from tiny_datasets import hand_mm
    from train_helpers import tiny_config, tiny_freihand

    torch.set_num_threads(1)
    data = tiny_freihand(tmp_path / "fh")
    out = loop.train(tiny_config(data, tmp_path / "run", steps=1, checkpoint_every=1, workers=0))
    shape = hand_mm((0.0, 0.0, 0.0))  # joint 0 at the origin
    bone = float(np.linalg.norm(shape[10] - shape[9]))  # (0, -22, -3): sqrt(493) mm
    assert bone == pytest.approx(np.sqrt(493.0))
    for reference in (runs.read_run(out)[1]["reference"], runs.load_weights(out / "last.safetensors").reference):
        assert reference["count"] == 12
        # the training JSON holds metres as float64 and the reader scales back to mm: rounding only
        np.testing.assert_allclose(reference["mm"], shape, atol=1e-9)
        np.testing.assert_allclose(reference["normed"], shape / bone, atol=1e-9)
        assert reference["bone_mm"] == pytest.approx(bone, rel=1e-9)
