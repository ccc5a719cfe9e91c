"""Two `handdg featurize` processes started at the same moment on one new store give the store one process gives."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from featurize_fixtures import write_folder
from handdg.data import open_dataset
from handdg.featurize import featurize_dataset, load_clip
from handdg.stores import FeatureStore
from handdg.stores.verify import verify_store


@pytest.mark.slow
def test_two_featurize_processes_at_once_on_a_new_store_equal_one(tmp_path, subprocess_env):
    root = write_folder(tmp_path / "imgs", 24)
    racing = tmp_path / "racing.zarr"
    command = [sys.executable, "-m", "handdg", "featurize", str(root), "--layout", "folder", "--store", str(racing),
               "--clip-model", "handdg-tiny", "--clip-weights", "random:3", "--chunk-rows", "4", "--batch-size", "4",
               "--workers", "0", "--quiet"]
    env = {**subprocess_env, "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=240) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err
    assert sum("complete; index" in out for out, _ in outputs) >= 1
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]

    torch.set_num_threads(1)
    single = tmp_path / "single.zarr"
    featurize_dataset(open_dataset(root, "folder"), single, load_clip("handdg-tiny", "random:3", device="cpu"),
                      batch_size=4, workers=0, image_chunk_rows=4, progress=False)
    raced, alone = FeatureStore.open(racing), FeatureStore.open(single)
    assert raced.complete
    np.testing.assert_array_equal(raced.image_features(), alone.image_features())
    np.testing.assert_array_equal(raced.prompt_features(), alone.prompt_features())
    np.testing.assert_array_equal(raced.ids, alone.ids)
    assert raced.index_attrs["features_sha256"] == alone.index_attrs["features_sha256"]
    assert verify_store(racing, progress=False) == []
