import json

import numpy as np
import pytest
import torch

from handdg.cli import main
from handdg.data import open_dataset
from handdg.data.camera import project
from handdg.data.joints import palm_to_wrist
from torch.utils.data import default_collate

from handdg.evaluation.evaluate import evaluate, format_table
from handdg.inputs.batches import CropSpec, HandCrops, crop_sample
from handdg.model.network import ModelConfig, ModelOutput
from handdg.run import runs
from handdg.train import loop
from train_helpers import tiny_config, tiny_freihand, tiny_rhd, tiny_stb


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.set_num_threads(1)
    data = tiny_freihand(tmp_path_factory.mktemp("fh"))
    out = loop.train(tiny_config(data, tmp_path_factory.mktemp("runs") / "run", steps=2, checkpoint_every=2))
    return out / "last.safetensors"


def test_stb_left_palm_hands_become_right_wrist_hands_in_the_crop_camera(tmp_path):
    sample = open_dataset(tiny_stb(tmp_path), "stb", "test")[1]
    crop = crop_sample(sample, CropSpec(input_size=64, heatmap_size=16, heatmap_sigma=1.0, crop_scale=2.0))
    expected = palm_to_wrist(sample.xyz_mm) * [-1.0, 1.0, 1.0]  # mirrored: x -> -x
    np.testing.assert_allclose(crop["xyz_mm"], expected, atol=1e-9)
    np.testing.assert_allclose(project(crop["xyz_mm"], crop["K"]), crop["uv"], atol=1e-9)
    assert crop["mirrored"] and crop["image"].shape == (64, 64, 3)
    box = crop["uv"].max(0) - crop["uv"].min(0)
    assert box.max() == pytest.approx(32.0)  # crop side = 2 x the joints' longer extent


def _constant_pose_mm(layout: str) -> float:
    """The constant-pose EPE (both protocols) of a tiny_freihand run on tiny_stb / tiny_rhd, by hand.

    tiny_freihand trains on one right-hand shape (hand_mm, translated only), so its mean pose is that shape;
    the test hands are the same shape held as LEFT hands (STB's also turned by its SK depth->colour rotation,
    0.75°), mirrored (x -> -x) to right hands for the model. Same bone and GT root under both protocols, so
    each joint is off by |mirror(shape_j) - shape_j|: 2|x_j| on RHD (x from the root 30,34,38,42 | 15,17,19,21 |
    0,0,0,0 | 15,17,19,21 | 30,34,38,42 mm, Σ 432) -> 2·432/21 = 288/7 mm.
    """
    from scipy.spatial.transform import Rotation

    from handdg.data.stb import SK_DEPTH_TO_COLOR_ROTVEC
    from tiny_datasets import hand_mm

    shape = hand_mm((0.0, 0.0, 0.0))
    held = shape @ Rotation.from_rotvec(SK_DEPTH_TO_COLOR_ROTVEC).as_matrix() if layout == "stb" else shape
    value = float(np.linalg.norm(held * [-1.0, 1.0, 1.0] - shape, axis=1).mean())
    if layout == "rhd":
        assert value == pytest.approx(288.0 / 7.0, rel=1e-12)
    return value


@pytest.mark.parametrize("layout, make, count", [("stb", tiny_stb, 6), ("rhd", tiny_rhd, 4)])
def test_eval_reports_both_protocols(checkpoint, tmp_path, layout, make, count):
    result = evaluate(checkpoint, layout, make(tmp_path), batch_size=3, device="cpu", show_progress=False)
    assert (result["dataset"], result["split"], result["count"], result["root"]) == (layout, "test", count, "wrist")
    assert result["camera"] == ("sk" if layout == "stb" else None)
    for name in ("hand3d", "official"):
        block = result["protocols"][name]
        assert np.isfinite(block["epe_mean_mm"]) and block["epe_mean_mm"] > 0
        assert len(block["per_joint_mm"]) == 21 and len(block["pck"]["values"]) == 20
        assert ("auc_20_50" in block) == (layout == "stb")
    k2 = result["keypoints_2d"]
    assert k2["mean_px"] > 0 and k2["pck"]["thresholds_px"] == [2.0, 5.0, 10.0, 20.0]
    for name in ("hand3d", "official"):  # the training set's mean pose, scored on the same hands
        reference = result["constant_pose"][name]
        assert reference["epe_mean_mm"] == pytest.approx(_constant_pose_mm(layout), rel=1e-5)
        assert reference["skill_ratio"] == pytest.approx(result["protocols"][name]["epe_mean_mm"] / reference["epe_mean_mm"])
    assert "freihand" not in result  # FreiHAND's own figures only on FreiHAND
    assert format_table(result).splitlines()[2].startswith("hand3d")


def test_eval_command_writes_json_and_prints_a_table(checkpoint, tmp_path, runner):
    root = tiny_rhd(tmp_path / "rhd")
    out = tmp_path / "eval" / "rhd.json"
    result = runner.invoke(main, ["eval", str(checkpoint), "--dataset", "rhd", "--root", str(root),
                                  "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "official" in result.output and "hand3d" in result.output
    saved = json.loads(out.read_text())
    assert saved["count"] == 4 and set(saved["protocols"]) == {"hand3d", "official"}
    assert saved["run_config"]["preset"] == "tiny"


def test_eval_errors_are_one_line(checkpoint, tmp_path, runner):
    result = runner.invoke(main, ["eval", str(tmp_path / "none.safetensors"), "--dataset", "rhd",
                                  "--root", str(tmp_path)])
    assert result.exit_code == 2 and "checkpoint not found" in result.output
    result = runner.invoke(main, ["eval", str(checkpoint), "--dataset", "freihand", "--root", str(tmp_path)])
    assert result.exit_code == 2 and "not a FreiHAND root" in result.output


def test_rotated_crops_keep_image_2d_and_3d_joints_together():
    from handdg.data.base import Sample
    from handdg.inputs import augment
    from tiny_datasets import hand_mm

    K = np.array([[400.0, 0.0, 80.0], [0.0, 400.0, 80.0], [0.0, 0.0, 1.0]])
    xyz = hand_mm((0.0, 30.0, 600.0))
    uv = project(xyz, K)
    image = np.zeros((160, 160, 3), np.uint8)
    u, v = np.round(uv[12]).astype(int)  # middle fingertip
    image[v - 1:v + 2, u - 1:u + 2] = 255
    sample = Sample(id="0", image=image, xyz_mm=xyz, K=K, uv=uv, side="right", root="wrist")
    spec = CropSpec(input_size=64, heatmap_size=16, heatmap_sigma=1.0, crop_scale=1.5)
    crop = crop_sample(sample, spec, augment.Geometry(scale=1.0, angle=np.pi / 2))
    # a quarter turn about the optical axis: (x, y, z) -> (-y, x, z)
    np.testing.assert_allclose(crop["xyz_mm"][12], [-xyz[12, 1], xyz[12, 0], xyz[12, 2]], atol=1e-9)
    np.testing.assert_allclose(project(crop["xyz_mm"], crop["K"]), crop["uv"], atol=1e-9)
    bright = np.argwhere(crop["image"][..., 0] > 100)  # the painted fingertip, as (row, column)
    np.testing.assert_allclose(bright.mean(0)[::-1], crop["uv"][12], atol=0.5)


class _Oracle(torch.nn.Module):
    """Stands in for the network: returns the training targets of the crops evaluate will feed it."""

    def __init__(self, crops, target: str) -> None:
        super().__init__()
        self.config = ModelConfig.from_preset("tiny", target=target)
        self.items, self.target, self.seen = [crops[i] for i in range(len(crops))], target, 0

    def forward(self, images, hand_side):
        batch = default_collate(self.items[self.seen:self.seen + len(images)])
        self.seen += len(images)
        coords, rotation = loop.pose_targets(batch, self.target, self.config.input_size)
        return ModelOutput(heatmaps=batch["heatmaps"], coords=coords, rotation=rotation)


@pytest.mark.parametrize("target", ["canonical", "2.5d"])
@pytest.mark.parametrize("layout, make", [("stb", tiny_stb), ("rhd", tiny_rhd)])
def test_a_perfect_prediction_scores_zero_under_both_protocols(tmp_path, monkeypatch, layout, make, target):
    """Training targets decoded by eval land on the test set's own joints (mirroring, root and crop undone)."""
    from handdg.evaluation import evaluate as evaluate_module

    config = tiny_config(tmp_path, tmp_path / "run", pose_target=target)
    dataset = open_dataset(make(tmp_path / layout), layout, "test")
    oracle = _Oracle(HandCrops(dataset, loop.crop_spec(config, ModelConfig.from_preset("tiny"))), target)
    monkeypatch.setattr(evaluate_module, "load_model", lambda path, device: (oracle, runs.Checkpoint({}, config, {}, 7)))
    result = evaluate(tmp_path / "unused.safetensors", layout, tmp_path / layout, batch_size=4,
                      xy_from="regression", device="cpu", show_progress=False)
    for name in ("hand3d", "official"):
        assert result["protocols"][name]["epe_mean_mm"] == pytest.approx(0.0, abs=1e-3)
        assert result["protocols"][name]["pck"]["values"][1:] == [1.0] * 19  # every joint within 2.6 mm


def test_a_6d_rotation_run_records_it_and_evaluates(tmp_path):
    torch.set_num_threads(1)
    data = tiny_freihand(tmp_path / "fh")
    run = loop.train(tiny_config(data, tmp_path / "run", steps=2, checkpoint_every=2, rotation="6d"))
    assert json.loads((run / "config.json").read_text())["config"]["rotation"] == "6d"
    result = evaluate(run / "last.safetensors", "freihand", data, split="evaluation", device="cpu", workers=0,
                      show_progress=False)
    assert result["run_config"]["rotation"] == "6d" and np.isfinite(result["protocols"]["hand3d"]["epe_mean_mm"])
