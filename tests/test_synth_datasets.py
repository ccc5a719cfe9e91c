"""Synthetic datasets: the real on-disk layouts, read back by handdg's readers, deterministic and atomic."""

from __future__ import annotations

import errno
import json
import os
import pickle
import time

import numpy as np
import pytest
import scipy.io
from PIL import Image

from handdg.cli import main
from handdg.data import open_dataset
from handdg.data.camera import project
from handdg.data.joints import RHD_TO_FH, palm_to_wrist
from handdg.errors import HanddgError
from handdg.synth import make_dataset
from handdg.synth.sampling import sample_rng, subject_for
from handdg.synth.scenes import rhd_view, stb_views
from handdg.synth.writers import rhd as rhd_writer


@pytest.fixture(scope="module")
def freihand(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("fh") / "freihand", "freihand", 3, seed=7)


@pytest.fixture(scope="module")
def rhd(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("rhd") / "rhd", "rhd", 2, seed=7)


@pytest.fixture(scope="module")
def stb(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("stb") / "stb", "stb", 1, seed=7)


def test_freihand_layout_has_four_versions_per_sample_and_metre_annotations(freihand):
    rgb = sorted(p.name for p in (freihand / "training" / "rgb").iterdir())
    assert rgb == [f"{i:08d}.jpg" for i in range(12)]
    assert len(list((freihand / "training" / "mask").iterdir())) == 3
    xyz = np.array(json.loads((freihand / "training_xyz.json").read_text()))
    K = np.array(json.loads((freihand / "training_K.json").read_text()))
    assert xyz.shape == (3, 21, 3) and K.shape == (3, 3, 3)
    assert 0.2 < xyz[:, :, 2].min() and xyz[:, :, 2].max() < 2.0  # metres, in front of the camera
    ev_xyz = np.array(json.loads((freihand / "evaluation_xyz.json").read_text()))
    scale = json.loads((freihand / "evaluation_scale.json").read_text())
    np.testing.assert_allclose(scale, np.linalg.norm(ev_xyz[:, 9] - ev_xyz[:, 10], axis=1))
    assert len(json.loads((freihand / "evaluation_K.json").read_text())) == len(ev_xyz) == 1
    with Image.open(freihand / "training" / "rgb" / "00000000.jpg") as im:
        assert im.size == (224, 224) and im.format == "JPEG"


def test_freihand_reader_gets_joints_in_mm_and_every_joint_projects_onto_the_hand_mask(freihand):
    ds = open_dataset(freihand, "freihand", "train")
    assert len(ds) == 12
    raw = np.array(json.loads((freihand / "training_xyz.json").read_text()))
    for i in (1, 1 + 3 * 3):  # version 0 and version 3 of the same unique sample
        sample = ds[i]
        np.testing.assert_allclose(sample.xyz_mm, raw[1] * 1000.0)
        assert sample.side == "right" and sample.root == "wrist"
        mask = np.asarray(Image.open(freihand / "training" / "mask" / "00000001.jpg").convert("L"))
        u, v = np.round(sample.uv).astype(int).T
        assert (mask[v, u] > 127).all()


def test_rhd_annotations_follow_rhd_order_and_masks_carry_part_ids(rhd):
    anno = pickle.load(open(rhd / "training" / "anno_training.pickle", "rb"))
    assert sorted(anno) == [0, 1]
    for sid, entry in anno.items():
        assert entry["xyz"].shape == (42, 3) and entry["uv_vis"].shape == (42, 3) and entry["K"].shape == (3, 3)
        np.testing.assert_allclose(entry["uv_vis"][:, :2], project(entry["xyz"], entry["K"]), atol=1e-3)
        view = rhd_view(sample_rng(7, "rhd", "train", sid), subject_for(7, "rhd", "train", sid))
        # RHD order: wrist, then each finger tip->MCP, i.e. rhd[1 + 4f + j] = freihand[4 + 4f - j].
        order = [0] + [4 + 4 * f - j for f in range(5) for j in range(4)]
        for block, side in ((slice(0, 21), "left"), (slice(21, 42), "right")):
            fh = next(h.xyz for h in view.hands if h.side == side)
            np.testing.assert_allclose(entry["xyz"][block], fh[order], atol=1e-6)
        mask = np.asarray(Image.open(rhd / "training" / "mask" / f"{sid:05d}.png"))
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= set(range(34))
        assert entry["uv_vis"][:, 2].sum() >= 10  # at least one hand is in view
        for block, (lo, hi) in ((slice(0, 21), (2, 17)), (slice(21, 42), (18, 33))):
            u, v, vis = entry["uv_vis"][block].T
            seen = vis > 0
            ids = mask[np.round(v[seen]).astype(int), np.round(u[seen]).astype(int)]
            assert ((ids >= lo) & (ids <= hi)).sum() >= 0.8 * seen.sum()  # visible joints sit on that hand's parts


def test_subjects_come_from_per_split_pools_like_the_real_datasets():
    def lengths(layout: str, split: str, index: int) -> np.ndarray:
        return subject_for(0, layout, split, index).shape.lengths

    np.testing.assert_array_equal(lengths("rhd", "train", 3), lengths("rhd", "train", 3 + 16))  # 16 characters
    assert not np.array_equal(lengths("rhd", "train", 3), lengths("rhd", "train", 4))
    train = [lengths("rhd", "train", i) for i in range(16)]
    assert not any(np.array_equal(t, lengths("rhd", "test", j)) for t in train for j in range(4))  # held-out people
    np.testing.assert_array_equal(lengths("freihand", "train", 0), lengths("freihand", "train", 32))
    np.testing.assert_array_equal(lengths("stb", "train", 0), lengths("stb", "test", 5))  # STB: one subject


def test_rhd_depth_png_decodes_to_metres():
    depth = np.array([[0.5, 1.25], [np.inf, 4.0]], np.float32)
    rgb = rhd_writer.encode_depth(depth).astype(float)
    decoded = (rgb[..., 0] * 256 + rgb[..., 1]) / 65535 * 5.0
    np.testing.assert_allclose(decoded, [[0.5, 1.25], [5.0, 4.0]], atol=1e-4)


def test_rhd_reader_picks_a_hand_whose_joints_match_the_annotation(rhd):
    ds = open_dataset(rhd, "rhd", "test")
    anno = pickle.load(open(rhd / "evaluation" / "anno_evaluation.pickle", "rb"))[0]
    sample = ds[0]
    block = slice(0, 21) if sample.side == "left" else slice(21, 42)
    np.testing.assert_allclose(sample.xyz_mm, anno["xyz"][block][RHD_TO_FH] * 1000.0, rtol=1e-6)
    assert sample.image.shape == (320, 320, 3)


def test_stb_labels_are_palm_rooted_mm_in_the_cameras_stb_frames(stb):
    para = scipy.io.loadmat(stb / "labels" / "B1Counting_SK.mat")["handPara"]
    assert para.shape == (3, 21, 1)
    sk = open_dataset(stb, "stb", "test", camera="sk")
    bb = open_dataset(stb, "stb", "test", camera="bb")
    bb_right = open_dataset(stb, "stb", "test", camera="bb_right")
    assert len(sk) == len(bb) == len(bb_right) == 2 and sk.ids[1] == "B1Random/SK_color_0"
    for i, seq in enumerate((0, 1)):
        views = stb_views(sample_rng(7, "stb", "test", seq * 1_000_000), subject_for(7, "stb", "test", 0),
                          "count" if seq == 0 else "random")
        for ds, cam in ((sk, "sk"), (bb, "bb_left"), (bb_right, "bb_right")):
            sample, view = ds[i], views[cam]
            assert sample.root == "palm" and sample.side == "left"
            # The reader's palm -> wrist gives back the rendered wrist; the other joints match exactly.
            np.testing.assert_allclose(palm_to_wrist(sample.xyz_mm), view.hands[0].xyz * 1000.0, atol=1e-6)
            np.testing.assert_array_equal(sample.image, view.image)
            u, v = np.round(sample.uv[1:]).astype(int).T
            inside = (u >= 0) & (u < 640) & (v >= 0) & (v < 480)
            assert inside.sum() >= 15
            assert (view.part[v[inside], u[inside]] >= 2).all()  # finger joints project onto the left hand


@pytest.mark.slow
def test_stb_train_split_writes_the_ten_training_sequences(tmp_path):
    root = make_dataset(tmp_path / "stb", "stb", 1, seed=0, splits=("train",))
    train = open_dataset(root, "stb", "train", camera="bb")
    assert [i.split("/")[0] for i in train.ids] == [f"B{b}{kind}" for b in range(2, 7) for kind in ("Counting", "Random")]
    assert not (root / "B1Counting").exists()
    assert json.loads((root / "handdg_synth.json").read_text())["splits"] == ["train"]


def test_same_seed_same_data_whatever_the_workers_different_seed_different_data(tmp_path):
    a = make_dataset(tmp_path / "a", "rhd", 2, seed=3)
    b = make_dataset(tmp_path / "b", "rhd", 2, seed=3, workers=2)
    c = make_dataset(tmp_path / "c", "rhd", 2, seed=4)
    for rel in ("training/color/00001.png", "training/mask/00000.png", "evaluation/depth/00000.png"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
        assert (a / rel).read_bytes() != (c / rel).read_bytes()
    annos = [pickle.load(open(d / "training" / "anno_training.pickle", "rb")) for d in (a, b, c)]
    for key in ("xyz", "uv_vis", "K"):
        np.testing.assert_array_equal(annos[0][1][key], annos[1][1][key])
    assert not np.array_equal(annos[0][1]["xyz"], annos[2][1]["xyz"])


def _all_bytes(root) -> dict:
    """Every file under `root` by relative path -> its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("layout", ["freihand", "rhd", "stb"])
def test_same_seed_same_bytes_in_every_file_even_when_the_clock_moves(tmp_path, monkeypatch, layout):
    clock = iter(f"Mon Jan  1 00:00:{s:02d} 2001" for s in range(60))
    monkeypatch.setattr(time, "asctime", lambda *args: next(clock))  # every run is at another time
    a = _all_bytes(make_dataset(tmp_path / "a", layout, 1, seed=5))
    b = _all_bytes(make_dataset(tmp_path / "b", layout, 1, seed=5))
    assert sorted(a) == sorted(b) and len(a) >= 4
    assert [name for name in a if a[name] != b[name]] == []
    if layout == "stb":
        assert scipy.io.loadmat(tmp_path / "a" / "labels" / "B1Random_SK.mat")["handPara"].shape == (3, 21, 1)


def test_refuses_a_non_empty_folder_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(HanddgError, match="not empty"):
        make_dataset(out, "rhd", 1, seed=0)
    assert (out / "keep.txt").exists()
    make_dataset(out, "rhd", 1, seed=0, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "training" / "anno_training.pickle").exists()


def test_a_failed_run_leaves_neither_the_output_nor_its_staging_folder(tmp_path, monkeypatch):
    def boom(*args):
        raise RuntimeError("killed")

    monkeypatch.setattr(rhd_writer, "annotation", boom)
    with pytest.raises(RuntimeError):
        make_dataset(tmp_path / "out", "rhd", 1, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_one_clear_error_and_nothing_is_left(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rhd_writer, "annotation", full)
    with pytest.raises(HanddgError, match="cannot write .*No space left"):
        make_dataset(tmp_path / "out", "rhd", 1, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_staging_folders_of_killed_runs_are_cleaned_up_and_live_ones_kept(tmp_path):
    dead = tmp_path / "out.tmp-99999999"  # no such process
    live = tmp_path / f"out.tmp-{os.getppid()}"
    dead.mkdir()
    live.mkdir()
    make_dataset(tmp_path / "out", "rhd", 1, seed=0)
    assert not dead.exists() and live.exists()


def test_cli_writes_a_dataset_and_exits_2_on_a_non_empty_folder(tmp_path, runner):
    out = tmp_path / "stb"
    ok = runner.invoke(main, ["synth", str(out), "--layout", "freihand", "--count", "1", "--seed", "1"])
    assert ok.exit_code == 0, ok.output
    assert (out / "training" / "rgb" / "00000003.jpg").exists()
    again = runner.invoke(main, ["synth", str(out), "--layout", "freihand", "--count", "1"])
    assert again.exit_code == 2 and "--overwrite" in again.output
    bad = runner.invoke(main, ["synth", str(tmp_path / "x"), "--layout", "coco", "--count", "1"])
    assert bad.exit_code == 2
    only_test = runner.invoke(main, ["synth", str(tmp_path / "r"), "--layout", "rhd", "--count", "1", "--split", "test"])
    assert only_test.exit_code == 0 and not (tmp_path / "r" / "training").exists()
    with pytest.raises(HanddgError, match="train and/or test"):
        make_dataset(tmp_path / "y", "rhd", 1, seed=0, splits=("val",))
    with pytest.raises(HanddgError, match="non-negative"):
        make_dataset(tmp_path / "y", "rhd", 1, seed=-1)


def test_contact_sheet_shows_every_domain(tmp_path, runner):
    result = runner.invoke(main, ["synth-sheet", str(tmp_path / "sheet.png"), "--per-domain", "1", "--skeleton"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "sheet.png") as im:
        assert im.format == "PNG" and im.height == 3 * 204
