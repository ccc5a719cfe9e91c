"""Hand boxes (handdg.data.boxes) and evaluation with them: the crop of a box is that region of the image,
the official .npy form equals its JSON form, bad files are one line, and the official decoding does by hand
what the official Rhp.py / STB.py do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from handdg.data import open_dataset
from handdg.data.base import Sample
from handdg.data.boxes import HandBox, read_boxes, sample_boxes
from handdg.errors import HanddgError
from handdg.inputs.batches import CropSpec, crop_sample
from handdg.model.network import ModelOutput
from handdg.model.targets import decode_official
from train_helpers import tiny_rhd

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)


def _sample(side: str) -> Sample:
    K = np.array([[200.0, 0.0, 40.0], [0.0, 200.0, 30.0], [0.0, 0.0, 1.0]])
    xyz = np.tile([0.0, 0.0, 500.0], (21, 1)) + np.arange(63).reshape(21, 3)
    uv = xyz[:, :2] / xyz[:, 2:] * 200.0 + [40.0, 30.0]
    return Sample("s", IMAGE, xyz, K, uv, side)


@pytest.mark.parametrize("convention", ["handdg", "official"])
def test_a_box_of_the_crop_size_cuts_exactly_that_region(convention: str) -> None:
    spec = CropSpec(input_size=24, heatmap_size=8, heatmap_sigma=1.0, crop_scale=1.5, box_convention=convention)
    crop = crop_sample(_sample("right"), spec, box=HandBox((30.0, 10.0, 24.0, 24.0)))
    np.testing.assert_array_equal(crop["image"], IMAGE[10:34, 30:54])


def test_a_box_twice_the_crop_size_averages_each_two_by_two_block() -> None:
    spec = CropSpec(input_size=12, heatmap_size=4, heatmap_sigma=1.0, crop_scale=1.5)
    crop = crop_sample(_sample("right"), spec, box=HandBox((30.0, 10.0, 24.0, 24.0)))
    region = IMAGE[10:34, 30:54].astype(float)
    blocks = region.reshape(12, 2, 12, 2, 3).mean(axis=(1, 3))
    assert np.abs(crop["image"] - blocks).max() <= 1.0


def test_a_left_hand_box_in_the_npy_form_equals_its_json_form(tmp_path: Path) -> None:
    width = IMAGE.shape[1]
    np.save(tmp_path / "boxes.npy", np.array([[12.7, 9.2, 30.0, 30.0]]))  # the mirrored image's pixels
    (tmp_path / "boxes.json").write_text(json.dumps({"s": [{"bbox": [width - 12.7 - 30.0, 9.2, 30.0, 30.0]}]}))
    from_npy, from_json = read_boxes(tmp_path / "boxes.npy")[0], read_boxes(tmp_path / "boxes.json")["s"][0]
    for convention in ("handdg", "official"):
        spec = CropSpec(input_size=16, heatmap_size=4, heatmap_sigma=1.0, crop_scale=1.5, box_convention=convention)
        a, b = crop_sample(_sample("left"), spec, box=from_npy), crop_sample(_sample("left"), spec, box=from_json)
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_allclose(a["K"], b["K"], atol=1e-9)
    mirrored = IMAGE[:, ::-1]  # the official cut: integer box in the mirrored image, centre to pixel 8
    spec = CropSpec(input_size=30, heatmap_size=4, heatmap_sigma=1.0, crop_scale=1.5, box_convention="official")
    np.testing.assert_array_equal(crop_sample(_sample("left"), spec, box=from_npy)["image"], mirrored[9:39, 12:42])


@pytest.mark.parametrize("content, named", [
    ({"a.jpg": [{"bbox": [1, 2, 3]}]}, '"a.jpg"[0].bbox'),
    ({"a.jpg": [{"bbox": [1, 2, 0, 5]}]}, "width 0"),
    ({"a.jpg": [{"bbox": [1, 2, 3, 4], "side": "up"}]}, '"a.jpg"[0].side'),
    ({"a.jpg": [{"bbox": [1, 2, 3, "4"]}]}, '"a.jpg"[0].bbox'),
    ({"a.jpg": [{"box": [1, 2, 3, 4]}]}, '"a.jpg"[0] is not an object with a "bbox"'),
    ({"a.jpg": [{"bbox": [1, 2, 3, 4], "K": [1, 2]}]}, '"a.jpg"[0].K'),
    ([1, 2], "got a list"),
])
def test_a_bad_json_boxes_file_is_one_line_naming_the_field(tmp_path: Path, content, named: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps(content))
    with pytest.raises(HanddgError, match="b.json") as info:
        read_boxes(path)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_a_bad_npy_boxes_file_is_one_line(tmp_path: Path) -> None:
    np.save(tmp_path / "b.npy", np.zeros((3, 3)))
    with pytest.raises(HanddgError, match=r"shape \(3, 3\)"):
        read_boxes(tmp_path / "b.npy")
    np.save(tmp_path / "o.npy", np.array([{"x": 1}], dtype=object))
    with pytest.raises(HanddgError, match="not a plain numeric"):
        read_boxes(tmp_path / "o.npy")


def test_boxes_must_cover_every_test_sample(tmp_path: Path) -> None:
    dataset = open_dataset(tiny_rhd(tmp_path / "rhd"), "rhd", "test")
    np.save(tmp_path / "few.npy", np.ones((len(dataset) - 1, 4)))
    with pytest.raises(HanddgError, match=f"has {len(dataset) - 1} rows but rhd test has {len(dataset)} samples"):
        sample_boxes(tmp_path / "few.npy", dataset)
    (tmp_path / "b.json").write_text(json.dumps({"00000.png": [{"bbox": [0, 0, 9, 9]}]}))
    with pytest.raises(HanddgError, match="no box for rhd sample 00001"):
        sample_boxes(tmp_path / "b.json", dataset)


def test_official_decoding_by_hand() -> None:
    """u = 0.5/0.6 of a 100-px crop with K = (100, 100, 50, 50); normalised depths 0.6 (root) and 0.75."""
    coords = torch.tensor([[[0.5, 0.5, 0.6]] + [[0.6, 0.5, 0.75]] * 20], dtype=torch.float64)
    output = ModelOutput(heatmaps=torch.zeros(1, 21, 4, 4), coords=coords, rotation=None)
    K = torch.tensor([[[100.0, 0.0, 50.0], [0.0, 100.0, 50.0], [0.0, 0.0, 1.0]]])
    gt = torch.tensor([[[0.0, 0.0, 500.0]] * 21])
    rhd = decode_official(output, gt, K, 100, "rhd").camera_mm[0]
    # RHD: z = (2d-1)*150 + 500 -> 530 (root), 575; back-projected unshifted: x = 10 * 575 / 100; then z -= 30
    torch.testing.assert_close(rhd[1], torch.tensor([57.5, 0.0, 545.0], dtype=torch.float64))
    torch.testing.assert_close(rhd[0], torch.tensor([0.0, 0.0, 500.0], dtype=torch.float64))
    stb = decode_official(output, gt, K, 100, "stb").camera_mm[0]
    # STB: z = (2d-1)*65 -> 13 (root), 32.5; root moved to 500 -> 519.5; then x = 10 * 519.5 / 100
    torch.testing.assert_close(stb[1], torch.tensor([51.95, 0.0, 519.5], dtype=torch.float64))
