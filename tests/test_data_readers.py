import os
import pickle

import h5py
import numpy as np
import pytest

from handdg.data import open_dataset
from handdg.data.camera import intrinsics, project
from handdg.data.joints import FH_TO_RHD, FH_TO_STB
from handdg.errors import HanddgError
from tiny_datasets import hand_mm, write_freihand, write_image, write_rhd, write_stb

K_FH = np.array([[[500.0, 0, 112], [0, 500, 112], [0, 0, 1]]]) * np.array([1.0, 1.1, 1.2])[:, None, None]


@pytest.fixture
def freihand(tmp_path):
    xyz_m = np.stack([hand_mm((0, 0, 500 + 100 * i)) / 1000.0 for i in range(3)])
    return write_freihand(tmp_path / "fh", xyz_m, K_FH, K_FH[:2], xyz_m[:2]), xyz_m


def test_freihand_train_has_four_versions_sharing_annotations(freihand):
    root, xyz_m = freihand
    ds = open_dataset(root, "freihand", "training")
    assert len(ds) == 12 and ds.split == "train"
    s = ds[7]  # 7 % 3 = 1, version 7 // 3 = 2
    assert s.id == "00000007" and ds.image_path(7).name == "00000007.jpg"
    assert s.extra == {"annotation_index": 1, "version": "sample"}
    np.testing.assert_allclose(s.xyz_mm, xyz_m[1] * 1000.0)
    np.testing.assert_allclose(s.K, K_FH[1])
    np.testing.assert_allclose(s.uv, project(xyz_m[1], K_FH[1]))
    assert (s.side, s.root, s.image.shape) == ("right", "wrist", (32, 32, 3))
    assert ds[-1].id == "00000011"
    with pytest.raises(IndexError):
        ds[12]


def test_freihand_evaluation_with_and_without_ground_truth(freihand):
    root, xyz_m = freihand
    ds = open_dataset(root, "freihand", "evaluation")
    assert len(ds) == 2
    np.testing.assert_allclose(ds[1].xyz_mm, xyz_m[1] * 1000.0)
    (root / "evaluation_xyz.json").unlink()
    s = open_dataset(root, "freihand", "test")[0]
    assert np.isnan(s.xyz_mm).all() and np.isnan(s.uv).all()
    np.testing.assert_allclose(s.K, K_FH[0])


def test_freihand_bad_input_names_the_file(freihand):
    root, _ = freihand
    (root / "training" / "rgb" / "00000005.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(HanddgError, match="00000005.jpg"):
        open_dataset(root, "freihand")[5]
    (root / "training_xyz.json").rename(root / "moved.json")
    with pytest.raises(HanddgError, match="missing .*training_xyz.json"):
        open_dataset(root, "freihand")
    (root / "training_K.json").write_text("[[1, 2, 3]]")
    with pytest.raises(HanddgError, match=r"training_K.json: K has shape \(1, 3\), expected \(N, 3, 3\)"):
        open_dataset(root, "freihand")


def _rhd_entry(left_visible: int, right_visible: int) -> dict:
    xyz = np.arange(42 * 3, dtype=np.float64).reshape(42, 3) / 1000.0 + [0, 0, 0.5]
    uv_vis = np.zeros((42, 3))
    uv_vis[:, 0] = np.arange(42)
    uv_vis[:, 1] = 100 + np.arange(42)
    uv_vis[:left_visible, 2] = 1
    uv_vis[21 : 21 + right_visible, 2] = 1
    return {"xyz": xyz.astype(np.float32), "uv_vis": uv_vis.astype(np.float32), "K": intrinsics(280, 280, 160, 160)}


def test_rhd_picks_dominant_hand_and_converts_order(tmp_path):
    anno = {0: _rhd_entry(21, 21), 1: _rhd_entry(21, 21), 7: _rhd_entry(3, 10)}
    root = write_rhd(tmp_path, "evaluation", anno, masks={0: (300, 200), 1: (50, 60)})
    ds = open_dataset(root, "rhd", "test")
    assert ds.ids == ["00000", "00001", "00007"]
    left = ds[0]
    assert left.side == "left" and left.extra["side_from"] == "mask pixels left=300 right=200"
    # handdg joint 1 (thumb root) is RHD joint 4 (thumb MCP); handdg 4 (thumb tip) is RHD 1
    np.testing.assert_allclose(left.uv[[0, 1, 4, 20]], [[0, 100], [4, 104], [1, 101], [17, 117]])
    np.testing.assert_allclose(left.xyz_mm[1], np.array([12.0, 13.0, 14.0]) + [0, 0, 500], atol=1e-3)
    assert left.visible.all() and left.root == "wrist"
    right = ds[1]
    assert right.side == "right"
    np.testing.assert_allclose(right.uv[[0, 1]], [[21, 121], [25, 125]])
    fallback = ds[2]  # no mask file: the right hand has more visible joints
    assert fallback.side == "right" and fallback.extra["side_from"] == "visible joints left=3 right=10"
    assert list(fallback.visible[FH_TO_RHD]) == [True] * 10 + [False] * 11


def test_rhd_refuses_pickles_that_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    root = write_rhd(tmp_path, "training", {0: _rhd_entry(21, 21)})
    with open(root / "training" / "anno_training.pickle", "wb") as fh:
        pickle.dump({0: Evil()}, fh)
    with pytest.raises(HanddgError, match="refusing to load"):
        open_dataset(root, "rhd", "train")


def test_rhd_reads_old_and_new_numpy_pickles_and_rejects_wrong_shapes(tmp_path):
    entry = _rhd_entry(21, 21)
    root = write_rhd(tmp_path, "training", {3: entry}, protocol=pickle.HIGHEST_PROTOCOL)
    assert open_dataset(root, "rhd")[0].id == "00003"
    path = root / "training" / "anno_training.pickle"
    write_rhd(tmp_path, "training", {3: entry})
    # RHD's own pickle predates numpy 2 and names numpy.core.multiarray
    path.write_bytes(path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert b"numpy.core.multiarray" in path.read_bytes()
    np.testing.assert_allclose(open_dataset(root, "rhd")[0].K, entry["K"])
    entry["xyz"] = entry["xyz"][:21]
    write_rhd(tmp_path, "training", {3: entry})
    with pytest.raises(HanddgError, match=r"sample 3 'xyz' has shape \(21, 3\), expected \(42, 3\)"):
        open_dataset(root, "rhd")


def _stb_para(n: int, offset: float) -> np.ndarray:
    """handPara 3 x 21 x n: joint j of frame f at (j, 100 f, 500 + offset) mm."""
    para = np.zeros((3, 21, n))
    para[0] = np.arange(21)[:, None]
    para[1] = 100.0 * np.arange(n)[None, :]
    para[2] = 500.0 + offset
    return para


def test_stb_test_split_runs_over_b1counting_then_b1random_in_bb_camera(tmp_path):
    root = write_stb(tmp_path, {"B1Counting": _stb_para(2, 0.0), "B1Random": _stb_para(3, 50.0)}, camera="BB")
    ds = open_dataset(root, "stb", "test", camera="bb")
    assert len(ds) == 5
    assert ds.ids[1:3] == ["B1Counting/BB_left_1", "B1Random/BB_left_0"]
    s = ds[4]
    assert (s.side, s.root, s.extra["frame"]) == ("left", "palm", 2)
    # BB labels are already in the left camera's frame: handdg joint 1 (thumb root) = STB 17
    np.testing.assert_allclose(s.xyz_mm[[0, 1, 17, 20]], [[0, 200, 550], [17, 200, 550], [1, 200, 550], [4, 200, 550]])
    np.testing.assert_allclose(s.K, intrinsics(822.79041, 822.79041, 318.47345, 250.31296))
    np.testing.assert_allclose(s.uv, project(s.xyz_mm, s.K))
    assert list(np.round(s.xyz_mm[:, 0])[FH_TO_STB]) == list(range(21))


def test_stb_bb_right_camera_shifts_by_the_baseline(tmp_path):
    para = {"B1Counting": _stb_para(1, 0.0), "B1Random": _stb_para(1, 0.0)}
    write_stb(tmp_path, para, camera="BB")
    for seq in para:
        write_image(tmp_path / seq / "BB_right_0.png", (64, 48))
    s = open_dataset(tmp_path, "stb", "test", camera="bb_right")[1]
    assert s.id == "B1Random/BB_right_0" and s.image.shape == (48, 64, 3)
    np.testing.assert_allclose(s.xyz_mm[[0, 1]], [[-120.054, 0, 500], [17 - 120.054, 0, 500]])
    np.testing.assert_allclose(s.uv, project(s.xyz_mm, s.K))


def test_stb_sk_labels_move_from_depth_to_colour_camera(tmp_path):
    para = np.zeros((3, 21, 1))
    para[:, :, 0] = np.array([-24.0381, -0.4563, -1.2326])[:, None]  # the translation itself
    para[2, 1:, 0] += 1000.0  # others: 1 m in front of it along the depth camera's z
    root = write_stb(tmp_path, {"B1Counting": para, "B1Random": para}, images_dir=True)
    s = open_dataset(root, "stb", "test")[1]
    assert s.id == "B1Random/SK_color_0" and s.image.shape == (48, 64, 3)
    np.testing.assert_allclose(s.xyz_mm[0], 0.0, atol=1e-9)
    # small rotation vector v: R ~ I + [v]x, so z' = (0, 0, 1000) R ~ 1000 (-vy, vx, 1)
    np.testing.assert_allclose(s.xyz_mm[5], [11.96, 5.31, 1000.0], atol=0.15)
    np.testing.assert_allclose(s.K[0], [607.92271, 0.0, 314.78337])


def test_stb_errors_name_the_label_file(tmp_path):
    root = write_stb(tmp_path, {"B1Counting": _stb_para(1, 0.0), "B1Random": np.zeros((3, 20, 1))})
    with pytest.raises(HanddgError, match=r"B1Random_SK.mat: handPara has shape \(3, 20, 1\), expected \(3, 21, N\)"):
        open_dataset(root, "stb", "test")
    with pytest.raises(HanddgError, match="missing .*B2Counting_SK.mat"):
        open_dataset(root, "stb", "train")


def test_stb_reads_matlab_v73_labels(tmp_path):
    root = write_stb(tmp_path, {"B1Counting": _stb_para(2, 0.0), "B1Random": _stb_para(1, 0.0)}, camera="BB")
    path = root / "labels" / "B1Random_BB.mat"
    path.unlink()
    with h5py.File(path, "w", userblock_size=512) as fh:
        fh["handPara"] = _stb_para(1, 7.0).T  # MATLAB stores axes reversed
    header = b"MATLAB 7.3 MAT-file".ljust(116) + bytes(8) + b"\x00\x02IM"  # version 0x0200
    with open(path, "r+b") as fh:
        fh.write(header)
    scipy_says = open_dataset(root, "stb", "test", camera="bb")[2]
    np.testing.assert_allclose(scipy_says.xyz_mm[0], [0.0, 0.0, 507.0])


def test_folder_lists_images_recursively(tmp_path):
    write_image(tmp_path / "b.png")
    write_image(tmp_path / "a" / "z.jpg")
    (tmp_path / "notes.txt").write_text("x")
    ds = open_dataset(tmp_path, "folder")
    assert ds.ids == ["a/z.jpg", "b.png"]
    s = ds[1]
    assert s.image.shape == (40, 48, 3) and np.isnan(s.xyz_mm).all() and s.side == "unknown"
    (tmp_path / "empty").mkdir()
    with pytest.raises(HanddgError, match="no images in"):
        open_dataset(tmp_path / "empty", "folder")


@pytest.mark.parametrize(
    "layout, kwargs, message",
    [
        ("cityscapes", {}, "unknown layout 'cityscapes'"),
        ("rhd", {"split": "val"}, "unknown split 'val'"),
        ("rhd", {"camera": "bb"}, "--camera bb applies to STB only"),
        ("freihand", {}, "not a FreiHAND root"),
        ("rhd", {}, "not an RHD root"),
        ("stb", {}, "not an STB root"),
    ],
)
def test_wrong_layout_or_option_is_one_clear_line(tmp_path, layout, kwargs, message):
    with pytest.raises(HanddgError, match=message):
        open_dataset(tmp_path, layout, **kwargs)


def test_missing_root(tmp_path):
    with pytest.raises(HanddgError, match="dataset root not found"):
        open_dataset(tmp_path / "nope", "rhd")
