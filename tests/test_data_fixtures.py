"""The real FreiHAND and RHD images copied from mmpose's test data (tests/fixtures/mmpose-samples)."""

import json
import shutil

import numpy as np
import pytest

from conftest import FIXTURES
from handdg.data import open_dataset
from handdg.data.camera import intrinsics, project
from handdg.data.images import read_rgb
from handdg.data.joints import rhd_to_fh
from handdg.data.transforms import crop_square, hand_box
from tiny_datasets import write_rhd

FREIHAND_UNIQUE = 32560


def _rhd_fixture():
    data = json.loads((FIXTURES / "rhd" / "test_rhd.json").read_text())
    images = {im["id"]: im for im in data["images"]}
    for ann in data["annotations"]:
        im = images[ann["image_id"]]
        cam = im["cam_param"]
        K = intrinsics(cam["focal"][0], cam["focal"][1], cam["princpt"][0], cam["princpt"][1])
        yield im["file_name"], K, np.array(ann["joint_cam"]), np.array(ann["keypoints"]), ann["hand_type"]


def test_rhd_joint_cam_projects_onto_its_keypoints():
    for name, K, joint_cam, keypoints, _ in _rhd_fixture():
        assert np.abs(project(joint_cam, K) - keypoints[:, :2]).max() < 0.1, name


def test_mmpose_rhd_order_is_rhd_order_tip_to_mcp():
    # mmpose keeps RHD's order (1 = thumb4 = tip). On 00111.png (a left hand) the thumb's four
    # points lie 85.8, 71.8, 53.8, 27.2 px from the wrist: tip first. In handdg order the MCP comes first.
    name, _, _, keypoints, side = next(_rhd_fixture())
    assert (name, side) == ("00111.png", "left")
    distances = np.linalg.norm(keypoints[:, :2] - keypoints[0, :2], axis=1)
    np.testing.assert_allclose(distances[1:5], [85.8, 71.8, 53.8, 27.2], atol=0.1)
    ours = rhd_to_fh(keypoints[:, :2])
    np.testing.assert_allclose(ours[1], [220.0, 82.51], atol=0.01)  # thumb MCP
    np.testing.assert_allclose(ours[4], [170.4, 115.0], atol=0.01)  # thumb tip


@pytest.fixture(scope="module")
def rhd_from_fixtures(tmp_path_factory):
    """The three real RHD images in RHD's own layout: the annotated hand in its side's block."""
    root = tmp_path_factory.mktemp("rhd_real")
    anno, names = {}, []
    for name, K, joint_cam, keypoints, side in _rhd_fixture():
        xyz, uv_vis = np.zeros((42, 3)), np.zeros((42, 3))
        block = slice(0, 21) if side == "left" else slice(21, 42)
        xyz[block] = joint_cam / 1000.0
        uv_vis[block] = keypoints
        anno[int(name[:-4])] = {"xyz": xyz, "uv_vis": uv_vis, "K": K}
        names.append(name)
    write_rhd(root, "evaluation", anno)
    for name in names:
        shutil.copy(FIXTURES / "rhd" / name, root / "evaluation" / "color" / name)
    return open_dataset(root, "rhd", "test")


def test_rhd_reader_on_real_images(rhd_from_fixtures):
    fixture = list(_rhd_fixture())
    assert rhd_from_fixtures.ids == ["00111", "01111", "11111"]
    for sample, (_, K, joint_cam, keypoints, side) in zip(rhd_from_fixtures, fixture):
        assert sample.side == side and sample.image.shape == (320, 320, 3)
        np.testing.assert_allclose(sample.xyz_mm, rhd_to_fh(joint_cam), atol=1e-9)
        np.testing.assert_allclose(sample.uv, rhd_to_fh(keypoints[:, :2]))
        assert np.abs(project(sample.xyz_mm, sample.K) - sample.uv).max() < 0.1


def test_crops_of_real_rhd_images_hold_the_hand_where_expected(rhd_from_fixtures):
    for sample in rhd_from_fixtures:
        center, side = hand_box(sample.uv, scale=1.5)
        crop, uv, K = crop_square(sample.image, sample.uv, sample.K, center, side, 192)
        assert crop.shape == (192, 192, 3)
        # the hand's extent is 192 / 1.5 = 128 px along its longer axis, centred at 95.5
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        assert max(hi - lo) == pytest.approx(128.0)
        np.testing.assert_allclose((lo + hi) / 2, [95.5, 95.5])
        np.testing.assert_allclose(project(sample.xyz_mm, K), uv, atol=0.1 * 192 / side)
        assert crop.std() > 10  # image content, not the black border


def test_freihand_versions_share_the_annotation_of_id_mod_32560():
    data = json.loads((FIXTURES / "freihand" / "test_freihand.json").read_text())
    boxes = {ann["image_id"]: ann["bbox"] for ann in data["annotations"]}
    groups = {}
    for image_id, box in boxes.items():
        groups.setdefault(image_id % FREIHAND_UNIQUE, set()).add(tuple(box))
    assert sorted(groups) == [355, 17620]
    assert all(len(g) == 1 for g in groups.values())  # all 4 versions: one annotation


def test_crops_of_real_freihand_images_follow_the_keypoints():
    data = json.loads((FIXTURES / "freihand" / "test_freihand.json").read_text())
    names = {im["id"]: im["file_name"] for im in data["images"]}
    for ann in data["annotations"]:
        image = read_rgb(FIXTURES / "freihand" / names[ann["image_id"]])
        uv = np.array(ann["keypoints"], dtype=np.float64).reshape(21, 3)[:, :2]
        center, side = hand_box(uv)
        center = np.floor(center) + 0.5
        side = float(np.ceil(side))
        # at scale 1 with a half-integer centre the crop is the image's own pixels, shifted
        crop, uv_crop, _ = crop_square(image, uv, np.eye(3), center, side, int(side))
        top_left = (center - side / 2 + 0.5).astype(int)
        np.testing.assert_allclose(uv_crop, uv - top_left)
        for (u, v), (uc, vc) in zip(np.round(uv).astype(int), np.round(uv_crop).astype(int)):
            if 0 <= u < 224 and 0 <= v < 224:
                np.testing.assert_array_equal(crop[vc, uc], image[v, u])
