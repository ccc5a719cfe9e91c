import os

import numpy as np
import pytest
import torch

from handdg.data import open_dataset
from handdg.inputs import decoded
from handdg.inputs.batches import CropSpec, HandCrops
from handdg.run import runs
from handdg.train import loop
from train_helpers import tiny_config, tiny_freihand

SPEC = CropSpec(input_size=64, heatmap_size=16, heatmap_sigma=2.0, crop_scale=1.5)


@pytest.fixture
def data(tmp_path):
    return tiny_freihand(tmp_path / "fh")


def _dataset(root):
    return open_dataset(root, "freihand", "train")


def _pixels_equal(cache, dataset) -> bool:
    return all(np.array_equal(cache[i], dataset.load_image(i)) for i in range(len(dataset)))


def test_a_built_cache_reads_the_decoded_pixels_and_is_reused(data, tmp_path, capsys):
    dataset = _dataset(data)
    cache = decoded.open_cache(dataset, tmp_path / "cache", show=False)
    assert len(cache) == len(dataset) == 12
    assert _pixels_equal(cache, dataset)
    folder = decoded.cache_folder(dataset, tmp_path / "cache")
    built = (folder / decoded.PIXELS).stat().st_mtime_ns
    again = decoded.open_cache(dataset, tmp_path / "cache", show=False)
    assert (folder / decoded.PIXELS).stat().st_mtime_ns == built and capsys.readouterr().err == ""
    assert np.array_equal(again[5], dataset.load_image(5)) and not again[5].flags.writeable


@pytest.mark.parametrize("damage, why", [
    ("flip", "image 7 fails its checksum"),
    ("truncate", "holds"),
    ("manifest", "manifest is missing"),
])
def test_a_damaged_cache_is_said_and_rebuilt_to_the_same_pixels(data, tmp_path, capsys, damage, why):
    dataset = _dataset(data)
    decoded.open_cache(dataset, tmp_path / "cache", show=False)
    folder = decoded.cache_folder(dataset, tmp_path / "cache")
    pixels = folder / decoded.PIXELS
    if damage == "flip":
        offset = int(np.load(folder / decoded.INDEX)[7, 0]) + 100
        with pixels.open("r+b") as handle:
            handle.seek(offset)
            byte = handle.read(1)
            handle.seek(offset)
            handle.write(bytes([byte[0] ^ 0xFF]))
    elif damage == "truncate":
        os.truncate(pixels, pixels.stat().st_size - 3)
    else:
        (folder / decoded.MANIFEST).unlink()
    rebuilt = decoded.open_cache(dataset, tmp_path / "cache", show=False)
    err = capsys.readouterr().err
    assert why in err and "building it again" in err and str(folder) in err
    assert _pixels_equal(rebuilt, dataset)
    assert decoded.DecodedImages(folder).damage(dataset) is None


def test_a_changed_image_file_rebuilds_the_cache(data, tmp_path, capsys):
    dataset = _dataset(data)
    decoded.open_cache(dataset, tmp_path / "cache", show=False)
    path = dataset.image_path(2)
    from PIL import Image

    Image.fromarray(np.full((224, 224, 3), 40, np.uint8)).save(path, quality=95)
    rebuilt = decoded.open_cache(dataset, tmp_path / "cache", show=False)
    assert "images changed" in capsys.readouterr().err
    assert np.array_equal(rebuilt[2], dataset.load_image(2)) and _pixels_equal(rebuilt, dataset)


@pytest.mark.parametrize("on_device", [False, True])
def test_crops_from_the_cache_equal_crops_from_the_files(data, tmp_path, on_device):
    dataset = _dataset(data)
    cache = decoded.open_cache(dataset, tmp_path / "cache", show=False)
    augment = ("geometric", "jitter")
    plain = HandCrops(dataset, SPEC, augment, on_device=on_device)
    cached = HandCrops(dataset, SPEC, augment, on_device=on_device, images=cache)
    for key in [(0, 11), (5, 3), (9, 7)]:  # (index, augmentation seed)
        a, b = plain[key], cached[key]
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_from_the_cache_logs_the_losses_of_decoding(data, tmp_path):
    plain = loop.train(tiny_config(data, tmp_path / "plain", decode_cache="none", steps=4))
    cached = loop.train(tiny_config(data, tmp_path / "cached", decode_cache=str(tmp_path / "cache"), steps=4))
    rows = [[(r["step"], r["loss"]) for r in runs.read_metrics(out)] for out in (plain, cached)]
    assert rows[0] == rows[1] and len(rows[0]) == 4
    assert decoded.cache_folder(_dataset(data), tmp_path / "cache").is_dir()


def test_no_cache_is_built_where_it_would_nearly_fill_the_disk(data, tmp_path, capsys, monkeypatch):
    import shutil
    from collections import namedtuple

    dataset = _dataset(data)
    need = dataset.load_image(0).nbytes * len(dataset)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * need, 9 * need, need + need // 2))
    assert decoded.open_cache(dataset, tmp_path / "cache", show=False) is None
    err = capsys.readouterr().err
    assert "not built" in err and "--decode-cache DIR" in err
    assert not decoded.cache_folder(dataset, tmp_path / "cache").exists()
    crops = loop.training_crops(tiny_config(data, tmp_path / "run", decode_cache=str(tmp_path / "cache")), dataset,
                                SPEC, keep_clean=False)
    assert crops.images is None and crops[(0, 1)]["image"].shape == (3, 64, 64)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * need, need, 9 * need))
    assert decoded.open_cache(dataset, tmp_path / "cache", show=False) is not None


def test_a_large_disk_with_a_few_gigabytes_free_still_takes_a_small_cache(data, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(271 * 10**9, 248 * 10**9, 23 * 10**9))
    dataset = _dataset(data)
    assert decoded.room_for(dataset, tmp_path) is None
    assert decoded.open_cache(dataset, tmp_path / "cache", show=False) is not None
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(271 * 10**9, 267 * 10**9, 4 * 10**9))
    assert "4.0 GB free of 271" in decoded.room_for(dataset, tmp_path)
