"""Hostile input on predict, eval --boxes, train --init/--compile, import-official and featurize: an odd image
is read faithfully or refused, a box off its image and a flag that does not fit the checkpoint are one line
naming them, library warnings stay out of that line, and checks that need no model run before torch loads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import FIXTURES, PYTHON
from handdg.cli import main
from handdg.data import open_dataset
from handdg.data.images import read_rgb
from handdg.errors import HanddgError
from handdg.featurize import featurize_dataset, load_clip
from handdg.inference.predictor import predict
from handdg.model.network import HandPoseNet, ModelConfig
from handdg.run import runs
from handdg.run.config import TrainConfig
from handdg.stores import FeatureStore
from test_bad_inputs import one_line_error
from train_helpers import tiny_freihand, tiny_rhd

PHOTO = FIXTURES / "freihand" / "00000355.jpg"
GREY = np.asarray(Image.open(PHOTO).convert("L"))
NO_TORCH_RUN = """
import json, sys
from click.testing import CliRunner
from handdg.cli import main
result = CliRunner().invoke(main, json.loads(sys.argv[1]))
print(json.dumps({"code": result.exit_code, "output": result.output, "torch": "torch" in sys.modules}))
"""


def _model(path: Path, **network) -> Path:
    """A tiny network with seeded random weights (score layers too, so its joints follow the image)."""
    torch.manual_seed(3)
    model = ModelConfig.from_preset("tiny", **network)
    net = HandPoseNet(model)
    for layer in net.heatmap_net.score_layers():
        torch.nn.init.normal_(layer.weight, std=0.5)
    config = TrainConfig(data="d", preset="tiny", branch2="none", pose_target=model.target)
    reference = {"normed": None, "mm": None, "bone_mm": 27.5, "count": 1}
    return runs.write_weights(path, 5, net.state_dict(), config, model.to_dict(), reference)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return _model(tmp_path_factory.mktemp("model") / "tiny.safetensors", target="2.5d", rotation="6d")


def _before_torch(args: list, env: dict[str, str]) -> dict:
    """`handdg ARGS` in a fresh interpreter: its exit code, output and whether it imported torch."""
    done = subprocess.run([PYTHON, "-c", NO_TORCH_RUN, json.dumps([str(a) for a in args])], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _odd_modes(folder: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """One file per odd PIL mode, each with the 8-bit RGB it must be read as."""
    rgb = np.repeat(GREY[..., None], 3, axis=2)
    rgba = np.dstack([rgb, np.where(np.arange(GREY.shape[1]) < 100, 0, 255).astype(np.uint8)[None].repeat(GREY.shape[0], 0)])
    behind_alpha = np.where(rgba[..., 3:] == 0, 0, rgb).astype(np.uint8)
    files = {"I;16": ("g16.png", Image.fromarray(GREY.astype(np.uint16) * 257), rgb),
             "F": ("float.tif", Image.fromarray(GREY.astype(np.float32) / 255), rgb),
             "RGBA": ("rgba.png", Image.fromarray(rgba), behind_alpha),
             "LA": ("la.png", Image.fromarray(rgba[..., [0, 3]], mode="LA"), behind_alpha)}
    palette = Image.fromarray(GREY).convert("P")
    palette.info["transparency"] = int(np.asarray(palette)[0, 0])
    seen = np.asarray(palette.convert("RGBA"))
    files["P"] = ("palette.png", palette, np.where(seen[..., 3:] == 0, 0, seen[..., :3]).astype(np.uint8))
    written = {}
    for mode, (name, image, expected) in files.items():
        image.save(folder / name, **({"transparency": image.info["transparency"]} if mode == "P" else {}))
        written[mode] = (folder / name, expected)
    return written


def test_every_odd_mode_is_read_as_its_8_bit_rgb(tmp_path: Path) -> None:
    for mode, (path, expected) in _odd_modes(tmp_path).items():
        np.testing.assert_array_equal(read_rgb(path), expected, err_msg=mode)


def test_an_image_without_a_faithful_8_bit_form_is_one_line(tmp_path: Path) -> None:
    Image.fromarray(GREY.astype(np.float32)).save(tmp_path / "float255.tif")
    with pytest.raises(HanddgError, match=r"float255.tif is float \(F\) with values 0\.\.255.*save it as 8- or 16-bit"):
        read_rgb(tmp_path / "float255.tif")


def test_an_image_too_large_to_decode_is_one_line(tmp_path: Path, monkeypatch) -> None:
    Image.fromarray(GREY).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(HanddgError, match="big.png has more than 200 pixels, more than handdg decodes: downscale it"):
        read_rgb(tmp_path / "big.png")


def test_pil_warnings_stay_out_of_the_output(tmp_path: Path) -> None:
    corrupt_exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x09\x00\x00\x00"
    Image.fromarray(GREY).convert("RGB").save(tmp_path / "exif.jpg", exif=corrupt_exif)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_rgb(tmp_path / "exif.jpg", upright=True).shape == GREY.shape + (3,)


def test_a_16_bit_photo_is_predicted_as_its_8_bit_version(model, tmp_path: Path) -> None:
    Image.fromarray(GREY).save(tmp_path / "grey8.png")
    Image.fromarray(GREY.astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    predict(model, [tmp_path / "grey8.png", tmp_path / "grey16.png"], tmp_path / "out", detect="none",
            show_progress=False)
    eight, sixteen = (json.loads((tmp_path / "out" / f"{name}.json").read_text())["hands"][0]["joints"]
                      for name in ("grey8", "grey16"))
    assert [j["uv"] for j in eight] == [j["uv"] for j in sixteen]
    white = np.full_like(GREY, 255)
    Image.fromarray(white).save(tmp_path / "white.png")
    predict(model, [tmp_path / "white.png"], tmp_path / "out", detect="none", show_progress=False)
    clipped = json.loads((tmp_path / "out" / "white.json").read_text())["hands"][0]["joints"]
    assert [j["uv"] for j in clipped] != [j["uv"] for j in eight]  # the model sees the difference


def test_a_photo_is_predicted_upright_as_viewers_show_it(model, tmp_path: Path) -> None:
    stored = Image.open(PHOTO).crop((0, 0, 224, 160))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise
    stored.save(tmp_path / "tagged.png", exif=exif)
    stored.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "turned.png")
    predict(model, [tmp_path / "tagged.png", tmp_path / "turned.png"], tmp_path / "out", detect="none",
            show_progress=False)
    tagged, turned = (json.loads((tmp_path / "out" / f"{name}.json").read_text()) for name in ("tagged", "turned"))
    assert (tagged["width"], tagged["height"]) == (160, 224)
    assert tagged["hands"][0]["joints"] == turned["hands"][0]["joints"]


def test_data_show_draws_a_16_bit_image_as_its_8_bit_version(tmp_path: Path, runner) -> None:
    roots = {}
    for depth in (8, 16):
        root = tiny_rhd(tmp_path / f"rhd{depth}", count=1)
        image = root / "evaluation" / "color" / "00000.png"
        grey = np.asarray(Image.open(image).convert("L"))
        Image.fromarray(grey if depth == 8 else grey.astype(np.uint16) * 257).save(image)
        roots[depth] = root
    for depth, root in roots.items():
        result = runner.invoke(main, ["data", "show", str(root), "--layout", "rhd", "--split", "test", "--index", "0",
                                      "--overlay", str(tmp_path / f"{depth}.png")])
        assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "8.png")), np.asarray(Image.open(tmp_path / "16.png")))


def test_featurize_encodes_a_16_bit_image_as_its_8_bit_version(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    Image.fromarray(GREY).save(tmp_path / "photos" / "a8.png")
    Image.fromarray(GREY.astype(np.uint16) * 257).save(tmp_path / "photos" / "b16.png")
    encoder = load_clip("handdg-tiny", "random:3", device="cpu")
    featurize_dataset(open_dataset(tmp_path / "photos", "folder", "train"), tmp_path / "s.zarr", encoder,
                      batch_size=2, workers=0, image_chunk_rows=2, progress=False)
    features = FeatureStore(tmp_path / "s.zarr").image_features()
    np.testing.assert_allclose(features[0], features[1], atol=1e-6)


@pytest.fixture(scope="module")
def rhd(tmp_path_factory) -> Path:
    return tiny_rhd(tmp_path_factory.mktemp("rhd") / "rhd", count=2)


def test_eval_refuses_a_box_off_its_image_as_predict_does(model, rhd: Path, tmp_path: Path, runner) -> None:
    (tmp_path / "far.json").write_text(json.dumps({"00000.png": [{"bbox": [500, 10, 50, 50]}],
                                                   "00001.png": [{"bbox": [2, 2, 30, 30]}]}))
    result = runner.invoke(main, ["eval", str(model), "--dataset", "rhd", "--root", str(rhd), "--boxes",
                                  str(tmp_path / "far.json"), "--device", "cpu", "--workers", "0"])
    one_line_error(result, "box [500, 10, 50, 50] of 00000.png", "lies outside its 40x40 pixels")
    image = tmp_path / "00000.png"
    shutil.copy(rhd / "evaluation" / "color" / "00000.png", image)
    result = runner.invoke(main, ["predict", str(model), str(image), "--out", str(tmp_path / "p"), "--boxes",
                                  str(tmp_path / "far.json")])
    one_line_error(result, "box [500, 10, 50, 50] of 00000.png", "lies outside its 40x40 pixels")
    np.save(tmp_path / "rows.npy", np.tile([2.0, 3.0, 30.0, 30.0], (3, 1)))
    result = runner.invoke(main, ["predict", str(model), str(image), "--out", str(tmp_path / "q"), "--boxes",
                                  str(tmp_path / "rows.npy")])
    one_line_error(result, "has 3 rows but 1 images were given")
    assert not list((tmp_path / "p").glob("*.json")) and not (tmp_path / "q").exists()


def test_init_from_another_network_names_the_flags_that_match(tmp_path: Path, subprocess_env) -> None:
    released = _model(tmp_path / "released.safetensors", target="2.5d", norm="none", rotation="axis-angle",
                      side_input="official")
    data = tiny_freihand(tmp_path / "fh")
    result = _before_torch(["train", "--data", data, "--out", tmp_path / "run", "--preset", "tiny", "--branch2", "none",
                            "--steps", "1", "--device", "cpu", "--init", released], subprocess_env)
    assert result["code"] == 2 and not result["torch"], result
    line = result["output"].strip()
    assert len(line.splitlines()) == 1 and f"--init {released}" in line
    assert "set by --pose-target" in line and "set by --norm" in line
    assert "--preset tiny --fusion concat --pose-target 2.5d --norm none --rotation axis-angle" in line
    assert not (tmp_path / "run").exists()


def test_a_pickle_that_would_run_code_is_exactly_one_stderr_line(tmp_path: Path) -> None:
    class RunsCode:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'ran'}",)

    (tmp_path / "photos").mkdir()
    shutil.copy(PHOTO, tmp_path / "photos")
    for protocol in (2, 4):
        snapshot = tmp_path / f"evil{protocol}.pt"
        torch.save({"epoch": 1, "network": {}, "payload": RunsCode()}, snapshot, pickle_protocol=protocol)
        for args in (["import-official", snapshot, "--out", tmp_path / "o.safetensors"],
                     ["featurize", tmp_path / "photos", "--layout", "folder", "--store", tmp_path / "s.zarr",
                      "--clip-model", "handdg-tiny", "--clip-weights", snapshot, "--workers", "0"]):
            result = CliRunner().invoke(main, [str(a) for a in args])
            line = one_line_error(result, "refused: unpickling can run code")
            assert len(result.stderr.strip().splitlines()) == 1 and "PyTorch" not in line and "weights_only" not in line
    assert not (tmp_path / "ran").exists() and not (tmp_path / "o.safetensors").exists()
    assert not (tmp_path / "s.zarr").exists()


def test_a_torchscript_archive_is_one_line_in_handdg_words(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(tmp_path / "scripted.pth.tar"))
    result = CliRunner().invoke(main, ["import-official", str(tmp_path / "scripted.pth.tar"), "--out",
                                       str(tmp_path / "o.safetensors")])
    line = one_line_error(result, "TorchScript archive, not a checkpoint dict")
    assert len(result.stderr.strip().splitlines()) == 1 and "PyTorch" not in line and "``" not in line


@pytest.mark.parametrize("cxx, named", [("/nonexistent/g++", "'/nonexistent/g++', is not a program on PATH"),
                                        ("false", "`false --version`, failed")])
def test_compile_with_a_cxx_that_does_not_run_is_one_line(cxx: str, named: str, tmp_path: Path, runner,
                                                          monkeypatch) -> None:
    monkeypatch.setenv("CXX", cxx)
    out = tmp_path / "compiled"
    result = runner.invoke(main, ["train", "--data", str(tiny_freihand(tmp_path / "fh")), "--out", str(out),
                                  "--preset", "tiny", "--branch2", "none", "--steps", "1", "--device", "cpu",
                                  "--workers", "0", "--compile"])
    one_line_error(result, "--compile needs a C++ compiler", named, "--eager")
    assert not out.exists()


def test_root_depth_without_k_writes_no_camera_mm_and_says_so(model, tmp_path: Path) -> None:
    report = predict(model, [PHOTO], tmp_path / "out", root_depth_mm=480.0, detect="none", show_progress=False)
    hand = json.loads((tmp_path / "out" / f"{PHOTO.stem}.json").read_text())["hands"][0]
    assert hand["K_from"] == "assumed" and all(j["camera_mm"] is None for j in hand["joints"])
    assert any("--root-depth-mm without --K" in note for note in report.notes)


@pytest.mark.parametrize("case", ["shard", "featurize root", "predict input", "predict boxes", "eval boxes",
                                  "eval checkpoint", "predict checkpoint", "train data", "train store", "eval out",
                                  "predict out", "predict detect", "import-official snapshot"])
def test_checks_that_need_no_model_run_before_torch_loads(case: str, model, tmp_path: Path, subprocess_env) -> None:
    (tmp_path / "photos").mkdir()
    shutil.copy(PHOTO, tmp_path / "photos")
    shutil.copy(model, tmp_path / "m.safetensors")
    (tmp_path / "bytes.safetensors").write_bytes(b"unread")
    (tmp_path / "boxes.json").write_text("{not json")
    args, named = {
        "shard": (["featurize", tmp_path / "photos", "--layout", "folder", "--store", tmp_path / "s.zarr",
                   "--shard", "3/2"], "--shard '3/2'"),
        "featurize root": (["featurize", tmp_path / "absent", "--layout", "folder", "--store", tmp_path / "s.zarr"],
                           "absent"),
        "predict input": (["predict", tmp_path / "m.safetensors", tmp_path / "absent.jpg", "--out", tmp_path / "o"],
                          "absent.jpg"),
        "predict boxes": (["predict", tmp_path / "m.safetensors", tmp_path / "photos", "--out", tmp_path / "o",
                           "--boxes", tmp_path / "boxes.json"], "boxes.json"),
        "eval boxes": (["eval", tmp_path / "m.safetensors", "--dataset", "rhd", "--root", tmp_path / "photos",
                        "--boxes", tmp_path / "boxes.json"], "boxes.json"),
        "eval checkpoint": (["eval", tmp_path / "absent.safetensors", "--dataset", "rhd", "--root", tmp_path / "photos"],
                            "absent.safetensors"),
        "predict checkpoint": (["predict", tmp_path / "bytes.safetensors", tmp_path / "photos", "--out", tmp_path / "o"],
                               "bytes.safetensors: not a .safetensors file"),
        "eval out": (["eval", tmp_path / "m.safetensors", "--dataset", "rhd", "--root", tmp_path / "photos", "--out",
                      tmp_path / "photos"], "is a directory"),
        "predict out": (["predict", tmp_path / "m.safetensors", tmp_path / "photos", "--out", tmp_path / "boxes.json"],
                        "is a file"),
        "predict detect": (["predict", tmp_path / "m.safetensors", tmp_path / "photos", "--out", tmp_path / "o",
                            "--detect", "mediapipe", "--boxes", tmp_path / "boxes.json"], "--detect mediapipe"),
        "import-official snapshot": (["import-official", tmp_path / "absent.pth.tar", "--out", tmp_path / "o.safetensors"],
                                     "absent.pth.tar"),
        "train data": (["train", "--data", tmp_path / "absent", "--out", tmp_path / "o", "--branch2", "none"],
                       "--data"),
        "train store": (["train", "--data", tmp_path / "photos", "--out", tmp_path / "o", "--branch2", "ie",
                         "--store", tmp_path / "s.zarr"], "--store"),
    }[case]
    result = _before_torch(args, subprocess_env)
    assert result["code"] == 2 and named in result["output"] and not result["torch"], result
    assert not (tmp_path / "s.zarr").exists() and not (tmp_path / "o").exists()
