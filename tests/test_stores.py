"""The feature store as users rely on it: contents, provenance refusal, shards, skip-bad, locks, verify, index."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import zarr
from PIL import Image

from featurize_fixtures import write_folder
from handdg import prompts
from handdg.data import open_dataset
from handdg.errors import HanddgError
from handdg.featurize import featurize_dataset, load_clip
from handdg.stores import FeatureStore
from handdg.stores.index_build import build_store_index
from handdg.stores.verify import verify_store

torch.set_num_threads(1)
OPTIONS = dict(batch_size=4, workers=0, image_chunk_rows=8, progress=False)


@pytest.fixture(scope="module")
def encoder():
    return load_clip("handdg-tiny", "random:3", device="cpu")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return open_dataset(write_folder(tmp_path_factory.mktemp("images"), 21), "folder")


@pytest.fixture(scope="module")
def store(images, encoder, tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "one.zarr"
    featurize_dataset(images, path, encoder, **OPTIONS)
    return FeatureStore.open(path)


def test_store_rows_are_the_dataset_ids_with_their_image_features(store, images, encoder):
    assert store.ids.tolist() == [f"img{i:03d}.png" for i in range(21)]
    assert store.row_of(["img020.png", "img003.png"]).tolist() == [20, 3]
    features = store.image_features()
    assert features.shape == (21, 32) and features.dtype == np.float16
    pixels = encoder.image_transform(Image.open(images.image_path(13)).convert("RGB"))
    expected = encoder.encode_images(pixels[None]).numpy().astype(np.float16)
    np.testing.assert_allclose(store.image_features([13]), expected, atol=2e-3)
    assert store.complete and store.skipped_ids == []


def test_store_holds_every_prompt_in_id_order(store, encoder):
    assert store.prompt_text == list(prompts.all_prompts())
    features = store.prompt_features()
    assert features.shape == (prompts.COUNT, 32) and features.dtype == np.float16
    expected = encoder.encode_text([prompts.prompt_text(i) for i in (0, 1234, 3919)], short=False).numpy()
    np.testing.assert_allclose(features[[0, 1234, 3919]], expected, atol=2e-3)


def test_store_attributes_carry_clip_and_dataset_provenance(store, images):
    assert store.clip_provenance["weights"] == "random:3" and store.clip_provenance["model"] == "handdg-tiny"
    assert store.attrs["dataset"] == {"name": "folder", "root": str(images.root.resolve()), "split": "train",
                                      "count": 21, "fingerprint": images.fingerprint()}
    assert store.attrs["prompts"]["vocabulary_sha256"] == prompts.vocabulary_sha256()
    store.check_dataset(images)


def test_unknown_sample_id_is_a_one_line_error(store):
    with pytest.raises(HanddgError, match="'img999.png' is not in feature store"):
        store.row_of(["img001.png", "img999.png"])


def test_index_search_equals_brute_force_cosine(store):
    unit = store.image_features().astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    queries = np.random.default_rng(0).normal(size=(5, 32)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scores, rows = store.search(queries, 4)
    brute = queries @ unit.T
    np.testing.assert_array_equal(rows, np.argsort(-brute, axis=1)[:, :4])
    np.testing.assert_allclose(scores, np.sort(brute, axis=1)[:, ::-1][:, :4], atol=1e-5)
    assert store.index_attrs["kind"] == "flat" and store.index_attrs["count"] == 21


def test_verify_finds_nothing_wrong_in_a_fresh_store(store):
    assert verify_store(store.path, progress=False) == []


def test_store_of_other_weights_or_another_dataset_is_refused(store, images, tmp_path):
    with pytest.raises(HanddgError, match=r"clip.weights='random:3', this run has 'random:4'"):
        featurize_dataset(images, store.path, load_clip("handdg-tiny", "random:4", device="cpu"), **OPTIONS)
    other = open_dataset(write_folder(tmp_path / "other", 5, seed=1), "folder")
    with pytest.raises(HanddgError, match=r"dataset.count=21, this run has 5"):
        featurize_dataset(other, store.path, load_clip("handdg-tiny", "random:3", device="cpu"), **OPTIONS)
    with pytest.raises(HanddgError, match="was made from folder/train"):
        store.check_dataset(other)


def test_two_shards_give_the_same_store_as_one_and_the_last_builds_the_index(store, images, encoder, tmp_path):
    path = tmp_path / "sharded.zarr"
    first = featurize_dataset(images, path, encoder, shard="1/2", **OPTIONS)
    assert not first.complete and first.index is None and first.images_written == 8
    second = featurize_dataset(images, path, encoder, shard="0/2", **OPTIONS)
    assert second.complete and second.index["count"] == 21 and second.images_written == 13
    sharded = FeatureStore.open(path)
    np.testing.assert_array_equal(sharded.image_features(), store.image_features())
    np.testing.assert_array_equal(sharded.prompt_features(), store.prompt_features())


def test_rerun_of_a_complete_store_writes_nothing(store, images, encoder):
    report = featurize_dataset(images, store.path, encoder, **OPTIONS)
    assert (report.images_written, report.prompts_written, report.complete) == (0, 0, True)


def test_unreadable_image_stops_the_run_naming_it_unless_skip_bad(encoder, tmp_path):
    dataset = open_dataset(write_folder(tmp_path / "imgs", 10, bad=(6,)), "folder")
    with pytest.raises(HanddgError, match=r"img006.png.*--skip-bad"):
        featurize_dataset(dataset, tmp_path / "s.zarr", encoder, **OPTIONS)
    report = featurize_dataset(dataset, tmp_path / "s.zarr", encoder, skip_bad=True, **OPTIONS)
    assert report.skipped_ids == ["img006.png"] and report.complete
    store = FeatureStore.open(tmp_path / "s.zarr")
    features = store.image_features().astype(np.float32)
    assert np.isnan(features[6]).all() and np.isfinite(np.delete(features, 6, axis=0)).all()
    assert store.index_attrs["count"] == 9
    _, rows = store.search(np.eye(32, dtype=np.float32)[:3], 9)
    assert 6 not in rows
    assert verify_store(store.path, progress=False) == []
    with pytest.raises(HanddgError, match="skipped 1 unreadable images"):
        store.check_dataset(dataset)


def test_chunks_held_by_another_process_are_left_to_it(images, encoder, tmp_path, subprocess_env):
    path = tmp_path / "locked.zarr"
    featurize_dataset(images, path, encoder, shard="0/99", **OPTIONS)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from handdg.stores.locks import ChunkLocks; l = ChunkLocks(sys.argv[1]); "
         "[l.try_claim(u) for u in range(64)]; print('held', flush=True); time.sleep(60)", str(path)],
        env=subprocess_env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        report = featurize_dataset(images, path, encoder, **OPTIONS)
        assert report.images_written == 0 and report.chunks_held_elsewhere == 2 + 3 and not report.complete
    finally:
        holder.kill()
        holder.wait()
    assert featurize_dataset(images, path, encoder, **OPTIONS).complete


def test_verify_reports_a_lost_chunk_a_stale_index_and_a_corrupt_chunk(images, encoder, tmp_path):
    path = tmp_path / "damaged.zarr"
    featurize_dataset(images, path, encoder, **OPTIONS)
    (path / "images" / "features" / "c" / "1" / "0").unlink()
    problems = verify_store(path, progress=False)
    assert problems == ["images chunk 1 (rows 8-15): its chunk file is missing; "
                        "re-run the `handdg featurize` command that made the store to redo it"]
    zarr.open_group(path, mode="r+")["images/features"][8:16] = np.ones((8, 32), dtype=np.float16)
    problems = verify_store(path, progress=False)
    assert problems[0].startswith("index was built from other features")
    build_store_index(path)
    assert verify_store(path, progress=False) == []
    (path / "images" / "features" / "c" / "0" / "0").write_bytes(b"garbage")
    assert verify_store(path, progress=False)[0].startswith("images chunk 0 (rows 0-7) cannot be read")


def test_approximate_index_saves_its_measured_recall(store):
    attrs = build_store_index(store.path, kind="hnsw", force=True)
    assert attrs["kind"] == "hnsw" and 0.0 <= attrs["recall_at_10"] <= 1.0
    reopened = FeatureStore.open(store.path)
    assert reopened.index_attrs["recall_at_10"] == attrs["recall_at_10"]
    _, rows = reopened.search(np.asarray(reopened.image_features([2]), dtype=np.float32), 1)
    assert rows[0, 0] == 2
    build_store_index(store.path, kind="flat")


def test_opening_something_that_is_not_a_store_is_a_one_line_error(tmp_path):
    zarr.open_group(tmp_path / "plain.zarr", mode="w", zarr_format=3)
    with pytest.raises(HanddgError, match="is a zarr group but not a handdg feature store"):
        FeatureStore.open(tmp_path / "plain.zarr")
    (tmp_path / "broken.zarr").mkdir()
    (tmp_path / "broken.zarr" / "zarr.json").write_text("garbage")
    with pytest.raises(HanddgError, match="cannot be opened as a zarr v3 group"):
        FeatureStore.open(tmp_path / "broken.zarr")
