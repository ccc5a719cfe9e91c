import json
import subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import PYTHON
from handdg.cli import main
from handdg.data.camera import project
from handdg.data.base import Sample
from handdg.data.overlay import FINGER_COLOURS, draw_skeleton
from handdg.data.stb import CAMERAS
from tiny_datasets import hand_mm, write_freihand, write_rhd, write_stb


@pytest.fixture
def freihand_root(tmp_path):
    xyz_m = np.stack([hand_mm((0, 0, 500 + 50 * i)) / 1000.0 for i in range(2)])
    K = np.tile(np.array([[60.0, 0, 16], [0, 60, 16], [0, 0, 1]]), (2, 1, 1))
    return write_freihand(tmp_path / "fh", xyz_m, K, K[:1])


@pytest.fixture
def stb_root(tmp_path):
    """B1Counting with 1 frame, B1Random with 2; the hand of frame f sits 100 f mm lower."""
    para = {}
    for seq, n in (("B1Counting", 1), ("B1Random", 2)):
        frames = np.stack([hand_mm((0.0, 100.0 * f, 600.0)) for f in range(n)], axis=-1)  # 21 x 3 x n
        para[seq] = frames.transpose(1, 0, 2)
    return write_stb(tmp_path / "stb", para, camera="BB")


def test_check_reports_counts_and_passes(runner, freihand_root):
    result = runner.invoke(main, ["data", "check", str(freihand_root), "--layout", "freihand"])
    assert result.exit_code == 0, result.output
    assert "  train: 8 samples; images 32x32: 8" in result.stdout
    assert "  test: 1 samples; images 32x32: 1" in result.stdout
    assert "annotations: training_K.json, training_xyz.json" in result.stdout
    assert result.stdout.rstrip().endswith("problems: none")


def test_check_lists_missing_and_corrupt_files_and_exits_2(runner, freihand_root):
    rgb = freihand_root / "training" / "rgb"
    (rgb / "00000003.jpg").unlink()
    (rgb / "00000006.jpg").write_bytes(b"garbage")
    result = runner.invoke(main, ["data", "check", str(freihand_root), "--layout", "freihand"])
    assert result.exit_code == 2
    assert f"problem: missing {rgb / '00000003.jpg'}" in result.stdout
    assert f"problem: cannot decode image {rgb / '00000006.jpg'}" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == f"Error: 2 problem(s) in {freihand_root} as freihand; see the list above"


def test_check_deep_decodes_truncated_images(runner, freihand_root, tmp_path):
    path = freihand_root / "evaluation" / "rgb" / "00000000.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    shallow = runner.invoke(main, ["data", "check", str(freihand_root), "--layout", "freihand"])
    assert shallow.exit_code == 0, shallow.output  # the header is intact
    deep = runner.invoke(main, ["data", "check", str(freihand_root), "--layout", "freihand", "--deep"])
    assert deep.exit_code == 2 and f"cannot decode image {path}" in deep.stdout


def test_check_rhd_looks_for_masks_too(runner, tmp_path):
    entry = {"xyz": np.ones((42, 3)), "uv_vis": np.ones((42, 3)), "K": np.eye(3)}
    for folder in ("training", "evaluation"):
        write_rhd(tmp_path, folder, {0: entry, 1: entry}, masks={0: (10, 0), 1: (0, 10)})
    (tmp_path / "evaluation" / "mask" / "00001.png").unlink()
    result = runner.invoke(main, ["data", "check", str(tmp_path), "--layout", "rhd"])
    assert result.exit_code == 2
    assert "annotations: training/anno_training.pickle" in result.stdout
    problems = [line.strip() for line in result.stdout.splitlines() if "problem:" in line]
    assert problems == [f"problem: missing {tmp_path / 'evaluation' / 'mask' / '00001.png'}"]


def test_check_wrong_layout_names_what_was_expected(runner, freihand_root):
    result = runner.invoke(main, ["data", "check", str(freihand_root), "--layout", "rhd"])
    assert result.exit_code == 2
    assert "not an RHD root (expected training/color/%05d.png)" in result.stdout


def test_show_json_for_stb_test_runs_over_both_sequences(runner, stb_root):
    args = ["data", "show", str(stb_root), "--layout", "stb", "--split", "test", "--camera", "bb", "--index", "2", "--json"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert {"id", "side", "K", "xyz_mm", "uv"} <= set(info)
    assert info["id"] == "B1Random/BB_left_1" and info["side"] == "left" and info["root"] == "palm"
    assert info["camera"] == "bb" and info["image_size"] == [64, 48]
    # written in STB order (pinky first), shown in handdg order: joint 1 is the thumb's root
    stb_order = hand_mm((0.0, 100.0, 600.0))
    np.testing.assert_allclose(info["xyz_mm"][1], stb_order[17])
    np.testing.assert_allclose(info["xyz_mm"][0], stb_order[0])
    np.testing.assert_allclose(info["K"], CAMERAS["bb"].K)
    np.testing.assert_allclose(info["uv"], project(np.array(info["xyz_mm"]), CAMERAS["bb"].K))


def test_show_overlay_writes_the_drawn_image(runner, freihand_root, tmp_path):
    out = tmp_path / "overlay.png"
    result = runner.invoke(main, ["data", "show", str(freihand_root), "--layout", "freihand", "--index", "5", "--overlay", str(out)])
    assert result.exit_code == 0, result.output
    assert "freihand train #5  id 00000005" in result.stdout and "side   right" in result.stdout
    drawn = np.asarray(Image.open(out).convert("RGB"))
    original = np.asarray(Image.open(freihand_root / "training" / "rgb" / "00000005.jpg").convert("RGB"))
    assert drawn.shape == original.shape and (drawn != original).any()
    assert not list(tmp_path.glob(".overlay.png*"))  # no temp file left behind


def test_overlay_puts_finger_colours_on_the_keypoints():
    K = np.array([[600.0, 0, 100], [0, 600, 130], [0, 0, 1]])
    xyz = hand_mm((0, 0, 800))
    sample = Sample(id="s", image=np.zeros((200, 200, 3), np.uint8), xyz_mm=xyz, K=K, uv=project(xyz, K), side="right")
    drawn = np.asarray(draw_skeleton(sample))
    for joint, colour in ((4, FINGER_COLOURS[0]), (12, FINGER_COLOURS[2]), (20, FINGER_COLOURS[4]), (0, (255, 255, 255))):
        u, v = np.round(sample.uv[joint]).astype(int)
        assert tuple(drawn[v, u]) == colour, joint


def test_show_bad_index_is_one_line_exit_2(runner, freihand_root):
    result = runner.invoke(main, ["data", "show", str(freihand_root), "--layout", "freihand", "--index", "8"])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: --index 8 out of range: freihand train in {freihand_root} has 8 samples (0..7)"


def test_show_json_on_stdout_alone(freihand_root, subprocess_env):
    proc = subprocess.run(
        [PYTHON, "-m", "handdg", "data", "show", str(freihand_root), "--layout", "freihand", "--split", "evaluation", "--index", "0", "--json"],
        capture_output=True, text=True, env=subprocess_env, check=True,
    )
    info = json.loads(proc.stdout)
    assert info["split"] == "test" and len(info["xyz_mm"]) == 21 and len(info["uv"][0]) == 2
