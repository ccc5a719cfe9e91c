import json

import numpy as np
import pytest
import torch

from handdg.cli import main
from handdg.data import open_dataset
from handdg.data.camera import project
from handdg.data.joints import palm_to_wrist
from handdg.train import loop
from handdg.train.batches import CropSpec, crop_sample
from handdg.train.evaluate import evaluate, format_table
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
    assert result["protocols"]["hand3d"]["per_joint_mm"][0] == 0.0  # root-relative: the root is exact
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
    from handdg.train import augment
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
