"""`handdg import-official`: an official-format checkpoint becomes a handdg model whose forward equals
the official computation, written here from the official layer names alone (not handdg's model code)."""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from handdg.cli import main
from handdg.evaluation.evaluate import load_model
from handdg.run import runs

POSENET = ([("conv1_1", 3, 64, 3), ("conv1_2", 64, 64, 3), ("conv2_1", 64, 128, 3), ("conv2_2", 128, 128, 3),
            ("conv3_1", 128, 256, 3), ("conv3_2", 256, 256, 3), ("conv3_3", 256, 256, 3), ("conv3_4", 256, 256, 3),
            ("conv4_1", 256, 512, 3), ("conv4_2", 512, 512, 3), ("conv4_3", 512, 256, 3), ("conv4_4", 256, 256, 3),
            ("conv4_5", 256, 256, 3), ("conv4_6", 256, 256, 3), ("conv4_7", 256, 128, 3), ("conv5_1", 128, 512, 1),
            ("conv5_2", 512, 21, 1)]
           + [(f"conv{s}_{j}", 149 if j == 1 else 128, 128, 7) for s in (6, 7) for j in range(1, 6)]
           + [(f"conv{s}_6", 128, 128, 1) for s in (6, 7)] + [(f"conv{s}_7", 128, 21, 1) for s in (6, 7)]
           + [("cat_cnn1", 256, 512, 1), ("cat_cnn2", 512, 1024, 1)])
PRIOR = [("conv_pose_0_1", 21, 32), ("conv_pose_0_2", 32, 32), ("conv_pose_1_1", 32, 64), ("conv_pose_1_2", 64, 64),
         ("conv_pose_2_1", 64, 128), ("conv_pose_2_2", 128, 128)]
VIEW = [("conv_vp_0_1", 21, 64), ("conv_vp_0_2", 64, 64), ("conv_vp_1_1", 64, 128), ("conv_vp_1_2", 128, 128),
        ("conv_vp_2_1", 128, 256), ("conv_vp_2_2", 256, 256)]
LINEAR = [("poseprior.fc_rel0", 2050, 512), ("poseprior.fc_rel1", 512, 512), ("poseprior.fc_xyz", 512, 63),
          ("viewpoint.fc_vp0", 4098, 256), ("viewpoint.fc_vp1", 256, 128), ("viewpoint.fc_vp_ux", 128, 1),
          ("viewpoint.fc_vp_uy", 128, 1), ("viewpoint.fc_vp_uz", 128, 1), ("posenet.cat_fc1", 1024, 512),
          ("posenet.cat_fc2", 1536, 512), ("posenet.projection_head.0", 512, 512)]


def official_state(seed: int = 0) -> OrderedDict:
    """A state dict in the released file's layout: DDP prefix, CLIP, HandSegNet and dead modules included
    (the dead modules and CLIP small: only their names matter to the importer)."""
    gen = torch.Generator().manual_seed(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()

    def put(name: str, shape: tuple[int, ...], std: float) -> None:
        state[f"module.pose_model.{name}"] = torch.randn(shape, generator=gen) * std

    for name, c_in, c_out, k in POSENET:
        put(f"posenet.{name}.weight", (c_out, c_in, k, k), math.sqrt(2.0 / (c_in * k * k)))
        put(f"posenet.{name}.bias", (c_out,), 0.05)
    for part, layers in (("poseprior", PRIOR), ("viewpoint", VIEW)):
        for name, c_in, c_out in layers:
            put(f"{part}.{name}.weight", (c_out, c_in, 3, 3), math.sqrt(2.0 / (c_in * 9)))
            put(f"{part}.{name}.bias", (c_out,), 0.05)
    for name, f_in, f_out in LINEAR:
        put(f"{name}.weight", (f_out, f_in), math.sqrt(1.0 / f_in))
        put(f"{name}.bias", (f_out,), 0.05)
    put("posenet.projection_head.1.weight", (512,), 1.0)
    put("posenet.projection_head.1.bias", (512,), 0.1)
    put("posenet.projection_head.1.running_mean", (512,), 0.1)
    state["module.pose_model.posenet.projection_head.1.running_var"] = torch.rand(512, generator=gen) + 0.5
    state["module.pose_model.posenet.projection_head.1.num_batches_tracked"] = torch.tensor(1234)
    put("posenet.projection_head.3.weight", (128, 512), 0.04)
    for dead in ("dconv1.weight", "bn1.running_mean", "cconv6.weight", "norm1.mlp_gamma.weight",
                 "proj_linear1.weight", "proj_linear3.bias", "ablation_add_fc1.weight"):
        put(f"posenet.{dead}", (4, 3), 1.0)
    put("handsegnet.conv1_1.weight", (8, 3, 3, 3), 1.0)
    state["module.clip_model.visual.proj"] = torch.randn(6, 5, generator=gen)
    state["module.clip_model.logit_scale"] = torch.tensor(4.6)
    return state


def save_official(path: Path, state: OrderedDict) -> Path:
    """torch.save the way the official trainer did: {'epoch', 'network', 'optimizer'}."""
    torch.save({"epoch": 45, "network": state, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]}}, path)
    return path


def _tf_same(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int) -> torch.Tensor:
    """TFConv2D: TF 'SAME' padding computed from the input size, then an unpadded conv."""
    size, k = x.shape[-1], w.shape[-1]
    pad = max(k - stride, 0) if size % stride == 0 else max(k - size % stride, 0)
    return F.conv2d(F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)), w, b, stride)


def official_forward(state: OrderedDict, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ColorHandPose3D.forward at test time (hand side [1, 0]), from the official tensors by name:
    (coords_xyz_rel_normed (B,21,3), the 32x32 stage-3 scoremaps)."""
    sd = {k.removeprefix("module.pose_model."): v for k, v in state.items()}
    lr = F.leaky_relu

    def conv(name: str, h: torch.Tensor) -> torch.Tensor:
        w = sd[f"posenet.{name}.weight"]
        return F.conv2d(h, w, sd[f"posenet.{name}.bias"], padding=w.shape[-1] // 2)

    h = x
    for block in (["1_1", "1_2"], ["2_1", "2_2"], ["3_1", "3_2", "3_3", "3_4"]):
        for name in block:
            h = lr(conv(f"conv{name}", h))
        h = F.max_pool2d(h, 2, 2)
    for i in range(1, 8):
        h = lr(conv(f"conv4_{i}", h))
    encoding = h
    score = conv("conv5_2", lr(conv("conv5_1", encoding)))
    for s in (6, 7):
        h = torch.cat([score, encoding], dim=1)
        for j in range(1, 7):
            h = lr(conv(f"conv{s}_{j}", h))
        score = conv(f"conv{s}_7", h)
    side = torch.tensor([[1.0, 0.0]]).repeat(len(x), 1)

    def lifting(part: str, names: list[str], fcs: list[str]) -> torch.Tensor:
        g = score
        for i, name in enumerate(names):
            w, b = sd[f"{part}.{name}.weight"], sd[f"{part}.{name}.bias"]
            g = lr(_tf_same(g, w, b, 2 if i % 2 else 1))
        g = torch.cat([g.permute(0, 2, 3, 1).reshape(len(x), -1), side], dim=1)
        for fc in fcs:
            g = lr(F.linear(g, sd[f"{part}.{fc}.weight"], sd[f"{part}.{fc}.bias"]))
        return g

    g = lifting("poseprior", [n for n, _, _ in PRIOR], ["fc_rel0", "fc_rel1"])
    can = F.linear(g, sd["poseprior.fc_xyz.weight"], sd["poseprior.fc_xyz.bias"]).reshape(len(x), 21, 3)
    g = lifting("viewpoint", [n for n, _, _ in VIEW], ["fc_vp0", "fc_vp1"])
    u = torch.cat([F.linear(g, sd[f"viewpoint.fc_vp_u{a}.weight"], sd[f"viewpoint.fc_vp_u{a}.bias"]) for a in "xyz"], 1)
    theta = u.norm(dim=1)
    ux, uy, uz = (u / theta[:, None]).unbind(1)
    c, s, t = torch.cos(theta), torch.sin(theta), 1 - torch.cos(theta)
    rot = torch.stack([torch.stack([c + ux * ux * t, ux * uy * t - uz * s, ux * uz * t + uy * s], 1),
                       torch.stack([uy * ux * t + uz * s, c + uy * uy * t, uy * uz * t - ux * s], 1),
                       torch.stack([uz * ux * t - uy * s, uz * uy * t + ux * s, c + uz * uz * t], 1)], 1)
    xyz = can @ rot  # hand side [1, 0] is H3D's left: no z flip
    xyz[:, :, 0] *= -1.0  # flip_left_hand: x negated for every hand that is not right
    return xyz, score


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, OrderedDict]:
    folder = tmp_path_factory.mktemp("official")
    state = official_state()
    snapshot = save_official(folder / "snapshot_45.pth.tar", state)
    result = CliRunner().invoke(main, ["import-official", str(snapshot), "--out", str(folder / "paper.safetensors")])
    assert result.exit_code == 0, result.output
    return folder / "paper.safetensors", state, result.output


def test_imported_forward_equals_the_official_computation(imported) -> None:
    path, state, _ = imported
    net, ckpt = load_model(path, torch.device("cpu"))
    x = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        out = net(x, torch.ones(2))  # the side given is ignored: the official forward feeds [1, 0]
        left = net(x, torch.zeros(2))
        want_xyz, want_maps = official_forward(state, x)
    assert out.heatmaps.shape == (2, 21, 32, 32) and out.coords.shape == (2, 21, 3)
    torch.testing.assert_close(out.heatmaps, want_maps, rtol=1e-4, atol=1e-4 * want_maps.abs().max().item())
    torch.testing.assert_close(out.coords, want_xyz, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(left.coords, out.coords)
    assert want_xyz.abs().max() > 1e-2  # the comparison is not between two zeros
    assert ckpt.config.pose_target == "2.5d" and ckpt.model["side_input"] == "official"
    assert ckpt.model["norm"] == "none" and ckpt.model["rotation"] == "axis-angle" and ckpt.model["input_size"] == 256


def test_import_records_source_and_says_what_was_dropped(imported) -> None:
    path, state, output = imported
    ckpt = runs.load_weights(path)
    assert ckpt.source["kind"] == "official" and ckpt.source["epoch"] == 45
    assert len(ckpt.source["sha256"]) == 64
    assert ckpt.source["dropped"]["CLIP"] == {"tensors": 2, "parameters": 31}
    assert ckpt.source["dropped"]["unused modules"] == {"tensors": 7, "parameters": 84}
    assert ckpt.source["dropped"]["HandSegNet"]["tensors"] == 1
    assert "dropped CLIP: 2 tensors (31 parameters)" in output
    assert "branch2.fc2.weight" in ckpt.weights and "projection.net.1.running_var" in ckpt.weights
    torch.testing.assert_close(ckpt.weights["view_point.out.weight"][1],
                               state["module.pose_model.viewpoint.fc_vp_uy.weight"][0])


def _import(tmp_path: Path, state: OrderedDict) -> tuple[int, str, Path]:
    snapshot = save_official(tmp_path / "snapshot.pth.tar", state)
    out = tmp_path / "out.safetensors"
    result = CliRunner().invoke(main, ["import-official", str(snapshot), "--out", str(out)])
    return result.exit_code, result.output.strip(), out


@pytest.mark.parametrize("change, named", [
    ("missing", "module.pose_model.posenet.conv4_3.bias is missing"),
    ("shape", "module.pose_model.viewpoint.fc_vp0.weight is (256, 4097)"),
    ("extra", "module.pose_model.posenet.conv8_1.weight belongs to the forward's modules"),
])
def test_a_bad_tensor_is_one_line_naming_it(tmp_path: Path, change: str, named: str) -> None:
    state = official_state()
    if change == "missing":
        del state["module.pose_model.posenet.conv4_3.bias"]
    elif change == "shape":
        state["module.pose_model.viewpoint.fc_vp0.weight"] = torch.zeros(256, 4097)
    else:
        state["module.pose_model.posenet.conv8_1.weight"] = torch.zeros(3, 3)
    code, output, out = _import(tmp_path, state)
    assert code == 2
    assert len(output.splitlines()) == 1 and named in output
    assert not out.exists()


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    snapshot = tmp_path / "evil.pth.tar"
    torch.save({"epoch": 1, "network": {}, "payload": _RunsCode(marker)}, snapshot)
    result = CliRunner().invoke(main, ["import-official", str(snapshot), "--out", str(tmp_path / "o.safetensors")])
    assert result.exit_code == 2
    assert "refused" in result.output and len(result.output.strip().splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "o.safetensors").exists()


def test_an_imported_model_evaluates_with_official_boxes_and_decoding(imported, tmp_path: Path) -> None:
    import json

    import numpy as np

    from train_helpers import tiny_rhd

    path, _, _ = imported
    root = tiny_rhd(tmp_path / "rhd")
    np.save(tmp_path / "Rhp_bbox.npy", np.tile([2.0, 3.0, 36.0, 36.0], (4, 1)))
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(main, ["eval", str(path), "--dataset", "rhd", "--root", str(root), "--boxes",
                                       str(tmp_path / "Rhp_bbox.npy"), "--device", "cpu", "--workers", "0",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved["decode"] == "official" and saved["boxes"].endswith("Rhp_bbox.npy") and saved["count"] == 4
    assert saved["source"]["kind"] == "official" and saved["paper_table3_mm"] == 46.8
    assert "paper Table 3 (official protocol): 46.8 mm" in result.output and "stopped early" not in result.output
