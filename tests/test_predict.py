"""`handdg predict` on real FreiHAND photos (tests/fixtures/mmpose-samples/freihand): the JSON a user reads,
the overlay drawn where the JSON says, left = mirrored right, boxes on a padded image, video, resume, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import FIXTURES
from handdg.cli import main
from handdg.data.joints import NAMES
from handdg.data.overlay import draw_hand
from handdg.data.transforms import bone_length
from handdg.inference.predictor import predict
from handdg.inference.sources import write_video
from handdg.model.network import HandPoseNet, ModelConfig
from handdg.run import runs
from handdg.run.config import TrainConfig

PHOTOS = FIXTURES / "freihand"
PHOTO = PHOTOS / "00000355.jpg"
BONE = 27.5


def _model(path: Path, target: str) -> Path:
    """A tiny network with seeded random weights (score layers too, so heatmaps have one clear maximum)."""
    torch.manual_seed(3)
    model = ModelConfig.from_preset("tiny", target=target, rotation="6d")
    net = HandPoseNet(model)
    for layer in net.heatmap_net.score_layers():
        torch.nn.init.normal_(layer.weight, std=0.5)
    reference = {"normed": None, "mm": None, "bone_mm": BONE, "count": 1}
    config = TrainConfig(data="d", preset="tiny", branch2="none", pose_target=target)
    return runs.write_weights(path, 5, net.state_dict(), config, model.to_dict(), reference)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {target: _model(folder / f"{target}.safetensors", target) for target in ("canonical", "2.5d")}


def _run(model: Path, inputs: list, out: Path, **options) -> dict:
    predict(model, inputs, out, show_progress=False, **{"detect": "none", **options})
    return {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}


def _joints(payload: dict, hand: int = 0, field: str = "uv") -> np.ndarray:
    return np.array([j[field] for j in payload["hands"][hand]["joints"]], dtype=float)


def test_json_names_every_joint_in_freihand_order_with_units(models, tmp_path: Path) -> None:
    found = _run(models["canonical"], [PHOTOS], tmp_path / "out")
    assert sorted(found) == sorted(p.stem + ".json" for p in PHOTOS.glob("*.jpg"))
    payload = found["00000355.json"]
    assert payload["width"] == 224 and payload["height"] == 224 and payload["frame"] is None
    hand = payload["hands"][0]
    assert [j["name"] for j in hand["joints"]] == ["wrist", *NAMES[1:]]
    assert hand["side"] == "right" and hand["bbox"] == [0.0, 0.0, 224.0, 224.0] and hand["box_from"] == "whole image"
    uv, xyz = _joints(payload), _joints(payload, field="xyz_mm")
    assert ((uv >= -0.5) & (uv <= 223.5)).all()
    np.testing.assert_allclose(xyz[0], 0.0, atol=0.01)  # root-relative
    twice = _run(models["canonical"], [PHOTO], tmp_path / "twice", bone_mm=2 * BONE)["00000355.json"]
    np.testing.assert_allclose(_joints(twice, field="xyz_mm"), 2 * xyz, atol=0.02)  # scaled by the bone length
    assert all(j["camera_mm"] is None for j in hand["joints"]) and hand["K_from"] == "assumed"
    assert len(payload["checkpoint_sha256"]) == 64 and "uv" in payload["conventions"]
    lines = (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["image"] for line in lines] == [str(p) for p in sorted(PHOTOS.glob("*.jpg"))]


def test_the_overlay_is_drawn_where_the_json_says(models, tmp_path: Path) -> None:
    payload = _run(models["canonical"], [PHOTO], tmp_path / "out")["00000355.json"]
    overlay = np.asarray(Image.open(tmp_path / "out" / "00000355.overlay.jpg").convert("RGB")).astype(int)
    photo = np.asarray(Image.open(PHOTO).convert("RGB")).astype(int)
    assert overlay.shape[0] == 224 and overlay.shape[1] > 224  # the 3D view sits beside the photo
    u, v = np.round(_joints(payload)[0]).astype(int)  # the root: a white square
    assert (overlay[v, u] > 200).all() and np.abs(overlay[v, u] - photo[v, u]).max() > 30
    def drawn_at(uv: np.ndarray) -> np.ndarray:
        expected = Image.open(PHOTO).convert("RGB")
        draw_hand(expected, uv)
        return np.asarray(expected).astype(int)

    at_json = np.abs(overlay[:, :224] - drawn_at(_joints(payload)))[20:-3, 3:-3].mean()
    shifted = np.abs(overlay[:, :224] - drawn_at(_joints(payload) + [9, -7]))[20:-3, 3:-3].mean()
    assert at_json < 0.5 * shifted  # JPEG noise only, against a skeleton drawn 11 px away


@pytest.mark.parametrize("target", ["canonical", "2.5d"])
def test_a_left_hand_is_the_mirror_of_the_right(models, tmp_path: Path, target: str) -> None:
    flipped = tmp_path / "flipped.png"
    Image.fromarray(np.asarray(Image.open(PHOTO).convert("RGB"))[:, ::-1]).save(flipped)
    shutil.copy(PHOTO, tmp_path / "photo.jpg")
    right = _run(models[target], [tmp_path / "photo.jpg"], tmp_path / "r")["photo.json"]
    left = _run(models[target], [flipped], tmp_path / "l", side="left")["flipped.json"]
    uv_r, uv_l = _joints(right), _joints(left)
    np.testing.assert_allclose(uv_l[:, 0], 223 - uv_r[:, 0], atol=0.011)
    np.testing.assert_allclose(uv_l[:, 1], uv_r[:, 1], atol=0.011)
    xyz_r, xyz_l = _joints(right, field="xyz_mm"), _joints(left, field="xyz_mm")
    np.testing.assert_allclose(xyz_l * [-1, 1, 1], xyz_r, atol=0.011)
    assert np.abs(xyz_r).max() > 1.0 and left["hands"][0]["side"] == "left"


def test_a_box_on_a_padded_image_equals_the_whole_image_crop(models, tmp_path: Path) -> None:
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    Image.fromarray(photo).save(tmp_path / "plain.png")
    Image.fromarray(np.pad(photo, ((30, 10), (20, 40), (0, 0)))).save(tmp_path / "padded.png")
    (tmp_path / "boxes.json").write_text(json.dumps({"padded.png": [{"bbox": [20, 30, 224, 224]}]}))
    plain = _run(models["2.5d"], [tmp_path / "plain.png"], tmp_path / "a")["plain.json"]
    padded = _run(models["2.5d"], [tmp_path / "padded.png"], tmp_path / "b", boxes=tmp_path / "boxes.json")
    padded = padded["padded.json"]
    np.testing.assert_allclose(_joints(padded), _joints(plain) + [20, 30], atol=0.011)
    assert padded["hands"][0]["box_from"] == "boxes file"


def test_camera_space_needs_k_and_root_depth_and_agrees_with_the_relative_pose(models, tmp_path: Path) -> None:
    K = (600.0, 600.0, 112.0, 112.0)
    payload = _run(models["2.5d"], [PHOTO], tmp_path / "o", K=K, root_depth_mm=480.0)["00000355.json"]
    cam, rel = _joints(payload, field="camera_mm"), _joints(payload, field="xyz_mm")
    assert cam[0, 2] == pytest.approx(480.0, abs=0.01)
    np.testing.assert_allclose(cam - cam[:1], rel, atol=0.02)
    hand = payload["hands"][0]
    assert hand["K"] == list(K) and hand["K_from"] == "given" and hand["root_depth_from"] == "given"
    solved = _run(models["2.5d"], [PHOTO], tmp_path / "p", K=K)["00000355.json"]
    assert solved["hands"][0]["root_depth_from"] == "bone length"
    assert bone_length(_joints(solved, field="xyz_mm")) == pytest.approx(BONE, abs=0.05)


def test_a_video_gets_frame_files_and_an_overlay_video(models, tmp_path: Path) -> None:
    photos = sorted(PHOTOS.glob("*.jpg"))[:4]
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for i, photo in enumerate(photos):
        shutil.copy(photo, frames_dir / f"{i}.jpg")
    assert write_video(tmp_path / "clip.mp4", sorted(frames_dir.glob("*.jpg")), 4.0)
    out = tmp_path / "out"
    report = predict(models["canonical"], [tmp_path / "clip.mp4"], out, every=2, detect="none", show_progress=False)
    assert report.predicted == 2
    assert sorted(p.name for p in (out / "clip").glob("*.json")) == ["000000.json", "000002.json"]
    frame = json.loads((out / "clip" / "000002.json").read_text())
    assert frame["frame"] == 2 and frame["image"] == str(tmp_path / "clip.mp4")
    assert (out / "clip.overlay.mp4").stat().st_size > 0
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 2


def test_a_second_run_skips_what_is_done(models, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = predict(models["canonical"], [PHOTOS], out, detect="none", show_progress=False)
    stamp = (out / "00000355.json").stat().st_mtime_ns
    (out / "00017620.json").unlink()  # as if killed before this one was written
    second = predict(models["canonical"], [PHOTOS], out, detect="none", show_progress=False)
    assert first.predicted == 8 and second.predicted == 1 and second.skipped == 7
    assert (out / "00000355.json").stat().st_mtime_ns == stamp
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 8


def _cli(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["predict", *map(str, args)])
    return result.exit_code, result.output.strip().splitlines()[-1] if result.output.strip() else ""


def test_bad_inputs_are_one_line_and_leave_nothing_half_written(models, tmp_path: Path) -> None:
    model = models["canonical"]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    code, line = _cli([model, broken, "--out", tmp_path / "o1"])
    assert code == 2 and "broken.jpg" in line and not list((tmp_path / "o1").glob("*.json"))
    (tmp_path / "far.json").write_text(json.dumps({PHOTO.name: [{"bbox": [500, 10, 50, 50]}]}))
    code, line = _cli([model, PHOTO, "--out", tmp_path / "o2", "--boxes", tmp_path / "far.json"])
    assert code == 2 and "lies outside its 224x224 pixels" in line
    (tmp_path / "side.json").write_text(json.dumps({PHOTO.name: [{"bbox": [0, 0, 50, 50], "side": "middle"}]}))
    code, line = _cli([model, PHOTO, "--out", tmp_path / "o3", "--boxes", tmp_path / "side.json"])
    assert code == 2 and f'"{PHOTO.name}"[0].side' in line
    not_a_model = tmp_path / "weights.safetensors"
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(not_a_model))
    code, line = _cli([not_a_model, PHOTO, "--out", tmp_path / "o4"])
    assert code == 2 and "not a handdg checkpoint" in line
    assert not (tmp_path / "o2" / "predictions.jsonl").exists() and not (tmp_path / "o4").exists()
