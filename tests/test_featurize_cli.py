"""`handdg featurize`, `store info|verify`, `index build` as a user runs them, including kill -9 and resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from featurize_fixtures import write_folder
from handdg.cli import main
from handdg.data import open_dataset
from handdg.featurize import featurize_dataset, load_clip
from handdg.stores import FeatureStore
from handdg.stores.verify import verify_store
from handdg.synth import make_dataset

TINY = ["--clip-model", "handdg-tiny", "--clip-weights", "random:3"]


def test_featurize_then_info_verify_and_index_build(runner, tmp_path):
    root = write_folder(tmp_path / "imgs", 9, bad=(4,))
    store = tmp_path / "s.zarr"
    args = ["featurize", str(root), "--layout", "folder", "--store", str(store), *TINY, "--chunk-rows", "4",
            "--workers", "0", "--quiet"]
    failed = runner.invoke(main, args)
    assert failed.exit_code == 2 and "img004.png" in failed.output and "--skip-bad" in failed.output
    done = runner.invoke(main, [*args, "--skip-bad"])
    assert done.exit_code == 0, done.output
    assert "skipped 1 unreadable images: img004.png" in done.output and "flat over 8 rows" in done.output
    info = runner.invoke(main, ["store", "info", str(store), "--json"])
    summary = json.loads(info.output)
    assert summary["complete"] and summary["skipped"] == {"count": 1, "ids": ["img004.png"]}
    assert summary["clip"]["weights"] == "random:3" and summary["chunks"]["images"] == {"done": 3, "total": 3,
                                                                                       "rows": 4}
    assert "RANDOM weights" in runner.invoke(main, ["store", "info", str(store)]).output
    assert runner.invoke(main, ["store", "verify", str(store), "--quiet"]).exit_code == 0
    built = runner.invoke(main, ["index", "build", str(store), "--kind", "ivf", "--nlist", "2"])
    assert built.exit_code == 0 and "ivf index over 8 rows, recall@10" in built.output


def test_readme_example_featurizes_a_synthetic_freihand_set_with_random_weights(runner, tmp_path):
    root = make_dataset(tmp_path / "fh", "freihand", count=2, seed=0)
    store = tmp_path / "fh.zarr"
    result = runner.invoke(main, ["featurize", str(root), "--layout", "freihand", "--split", "train", "--store",
                                  str(store), "--clip-model", "handdg-tiny", "--clip-weights", "random", "--quiet"])
    assert result.exit_code == 0, result.output
    dataset = open_dataset(root, "freihand", "train")
    opened = FeatureStore.open(store)
    opened.check_dataset(dataset)
    assert opened.ids.tolist() == [f"{i:08d}" for i in range(8)]
    assert opened.clip_provenance["weights"] == "random:0"


def test_verify_of_an_incomplete_store_exits_2_listing_the_missing_chunks(runner, tmp_path):
    root = write_folder(tmp_path / "imgs", 6)
    store = tmp_path / "s.zarr"
    args = ["featurize", str(root), "--layout", "folder", "--store", str(store), *TINY, "--chunk-rows", "4",
            "--workers", "0", "--quiet", "--shard", "0/2"]
    assert runner.invoke(main, args).exit_code == 0
    result = runner.invoke(main, ["store", "verify", str(store), "--quiet"])
    assert result.exit_code == 2
    assert "problem: images chunk 1 (rows 4-5) is not written" in result.output
    assert "failed verification with 3 problem(s)" in result.output


def test_store_commands_on_a_missing_store_are_one_line_errors(runner, tmp_path):
    result = runner.invoke(main, ["store", "info", str(tmp_path / "none.zarr")])
    assert result.exit_code == 2 and "does not exist" in result.output


def _done_image_chunks(store: Path) -> int:
    folder = store / "images" / "done" / "c"
    return len(list(folder.iterdir())) if folder.is_dir() else 0


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_gives_the_store_of_an_uninterrupted_run(tmp_path, subprocess_env):
    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(120):
        Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(root / f"{i:04d}.jpg")
    killed = tmp_path / "killed.zarr"
    command = [sys.executable, "-m", "handdg", "featurize", str(root), "--layout", "folder", "--store", str(killed),
               *TINY, "--chunk-rows", "8", "--batch-size", "4", "--workers", "1", "--quiet"]
    env = {**subprocess_env, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while _done_image_chunks(killed) < 2 and run.poll() is None:
        time.sleep(0.005)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL
    assert 2 <= _done_image_chunks(killed) < 15
    assert not FeatureStore.open(killed).complete
    rerun = subprocess.run(command, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr

    torch.set_num_threads(1)
    whole = tmp_path / "whole.zarr"
    featurize_dataset(open_dataset(root, "folder"), whole, load_clip("handdg-tiny", "random:3", device="cpu"),
                      batch_size=4, workers=0, image_chunk_rows=8, progress=False)
    resumed, uninterrupted = FeatureStore.open(killed), FeatureStore.open(whole)
    assert resumed.complete
    np.testing.assert_array_equal(resumed.image_features(), uninterrupted.image_features())
    np.testing.assert_array_equal(resumed.prompt_features(), uninterrupted.prompt_features())
    np.testing.assert_array_equal(resumed.ids, uninterrupted.ids)
    assert verify_store(killed, progress=False) == []
