"""Issue 11: every bad input, damaged store and unwritable output ends in one line naming the thing, never a
traceback or a silent answer. One test per class and command: exit status, a single `Error:` line, no traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from handdg.cli import main
from handdg.data import open_dataset
from handdg.featurize import featurize_dataset, load_clip
from handdg.stores import FeatureStore
from handdg.synth import make_dataset

torch.set_num_threads(1)
TINY = ["--clip-model", "handdg-tiny", "--clip-weights", "random:3"]
FEATURIZE = dict(batch_size=4, workers=0, image_chunk_rows=4, progress=False)


def one_line_error(result, *words: str, code: int = 2) -> str:
    """Assert a clean failure: exit `code`, exactly one `Error:` line on stderr, no traceback; return the line."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip() and "\r" not in line]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], (word, errors[0])
    return errors[0]


@pytest.fixture(scope="module")
def freihand(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("fh") / "fh", "freihand", count=2, seed=0)


@pytest.fixture(scope="module")
def pristine(freihand, tmp_path_factory) -> Path:
    """A complete store of the 8 training images in 2 chunks of 4 rows, with its index."""
    path = tmp_path_factory.mktemp("stores") / "fh.zarr"
    encoder = load_clip("handdg-tiny", "random:3", device="cpu")
    featurize_dataset(open_dataset(freihand, "freihand", "train"), path, encoder, **FEATURIZE)
    return path


def _copy(pristine: Path, tmp_path: Path) -> Path:
    path = tmp_path / "damaged.zarr"
    shutil.copytree(pristine, path)
    return path


DAMAGE = {
    "missing features chunk": lambda s: (s / "images/features/c/1/0").unlink(),
    "corrupt features chunk": lambda s: (s / "images/features/c/0/0").write_bytes(b"\x28\xb5\x2f\xfd garbage"),
    "missing ids chunk": lambda s: (s / "images/ids/c/1").unlink(),
    "corrupt prompt features": lambda s: (s / "prompts/features/c/2/0").write_bytes(b"not zstd"),
}
NAMED = {"missing features chunk": "images/features", "corrupt features chunk": "images/features",
         "missing ids chunk": "images/ids", "corrupt prompt features": "prompts/features"}


def _readers(store: Path, freihand: Path, tmp_path: Path) -> dict[str, list[str]]:
    """Every command that reads a store, as a user would type it."""
    return {
        "retrieve": ["retrieve", "--store", str(store), "--prompt", "12", "-k", "3"],
        "index build": ["index", "build", str(store), "--force"],
        "figures similarity": ["figures", "similarity", "--store", str(store), "--image", "00000001",
                               "--prompt", "3", "--out", str(tmp_path / "sim")],
        "figures tsne": ["figures", "tsne", "--source", str(store), "--cap", "8", "--iterations", "250",
                         "--out", str(tmp_path / "tsne")],
        "train": ["train", "--out", str(tmp_path / "run"), "--data", str(freihand), "--store", str(store),
                  "--preset", "tiny", "--target", "stb", "--batch-size", "2", "--steps", "2", "--heatmap-size", "16",
                  "--device", "cpu"],
        "prompts-from": ["featurize", str(freihand), "--layout", "freihand", "--store", str(tmp_path / "new.zarr"),
                         *TINY, "--prompts-from", str(store), "--chunk-rows", "4", "--workers", "0", "--quiet"],
    }


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_reader_refuses_a_damaged_store_and_featurize_repairs_exactly_it(damage, pristine, freihand,
                                                                                 tmp_path, runner):
    store = _copy(pristine, tmp_path)
    DAMAGE[damage](store)
    for name, args in _readers(store, freihand, tmp_path).items():
        if name == "index build" and damage == "corrupt prompt features":
            continue  # the index reads image features only
        one_line_error(runner.invoke(main, args), NAMED[damage], "store verify")
    verify = runner.invoke(main, ["store", "verify", str(store), "--quiet"])
    one_line_error(verify, "failed verification")
    assert "problem:" in verify.stdout and NAMED[damage].split("/")[0] in verify.stdout
    repair = runner.invoke(main, ["featurize", str(freihand), "--layout", "freihand", "--store", str(store), *TINY,
                                  "--chunk-rows", "4", "--workers", "0", "--quiet"])
    assert repair.exit_code == 0, repair.output
    assert "1 damaged chunks found and rewritten" in repair.output
    assert runner.invoke(main, ["store", "verify", str(store), "--quiet"]).exit_code == 0
    fixed, whole = FeatureStore.open(store), FeatureStore.open(pristine)
    np.testing.assert_array_equal(fixed.image_features(), whole.image_features())
    np.testing.assert_array_equal(fixed.prompt_features(), whole.prompt_features())
    np.testing.assert_array_equal(fixed.ids, whole.ids)
    assert fixed.index_attrs["features_sha256"] == whole.index_attrs["features_sha256"]


@pytest.mark.parametrize("damage", ["deleted", "corrupt"])
def test_a_damaged_index_is_named_by_retrieve_and_verify_and_rebuilt_by_index_build(damage, pristine, tmp_path,
                                                                                      runner):
    store = _copy(pristine, tmp_path)
    chunk = store / "index/faiss/c/0"
    chunk.unlink() if damage == "deleted" else chunk.write_bytes(b"\x00" * 64)
    one_line_error(runner.invoke(main, ["retrieve", "--store", str(store), "--prompt", "5"]), "index", "index build")
    verify = runner.invoke(main, ["store", "verify", str(store), "--quiet"])
    one_line_error(verify, "failed verification")
    assert "index build" in verify.stdout
    assert runner.invoke(main, ["index", "build", str(store)]).exit_code == 0
    assert runner.invoke(main, ["store", "verify", str(store), "--quiet"]).exit_code == 0
