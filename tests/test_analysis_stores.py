"""Analysis commands on real feature stores (tiny CLIP, random weights, folders of generated images)."""

import json

import numpy as np
import pytest
from featurize_fixtures import write_folder
from PIL import Image

from handdg.analysis.sheets import sheet_size
from handdg.cli import main
from handdg.featurize.clip import TINY_MODEL, load_clip
from handdg.stores import FeatureStore


def make_store(tmp, name, count, seed, prompts_from=None):
    from handdg.featurize.run import featurize

    path = tmp / f"{name}.zarr"
    featurize(write_folder(tmp / name, count, seed), "folder", "train", path, model=TINY_MODEL,
              weights="random:0", device="cpu", workers=0, progress=False, prompts_from=prompts_from)
    return path


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("stores"), "frei", 16, 0)


def cosine_order(store, query, skip=None):
    feats = store.image_features().astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    cos = feats @ (query / np.linalg.norm(query))
    return [store.ids[r] for r in np.argsort(-cos, kind="stable") if r != skip], cos


def test_retrieve_mixed_query_json_and_sheet(runner, store_path, tmp_path):
    sheet = tmp_path / "sheet"
    result = runner.invoke(main, ["retrieve", "--store", str(store_path), "--image", "img003.png", "--prompt", "42",
                                  "--ratio", "0.7", "-k", "6", "--json", "--sheet", str(sheet)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    store = FeatureStore.open(store_path)
    img = store.image_features([3])[0].astype(np.float32)
    txt = store.prompt_features()[42].astype(np.float32)
    query = 0.7 * img / np.linalg.norm(img) + 0.3 * txt / np.linalg.norm(txt)
    order, cos = cosine_order(store, query, skip=3)
    assert [h["id"] for h in report["hits"]] == order[:6]
    assert "img003.png" not in [h["id"] for h in report["hits"]]
    np.testing.assert_allclose([h["similarity"] for h in report["hits"]], cos[store.row_of(order[:6])], atol=1e-3)
    assert report["hits"][0]["file"].endswith(order[0])
    assert report["query"]["kind"] == "mixed" and report["query"]["prompt_id"] == 42
    with Image.open(sheet.with_suffix(".png")) as im:
        assert im.size == tuple(round(v * 100) for v in sheet_size(6))


def test_retrieve_free_text_uses_the_stores_clip(runner, store_path):
    text = "a hand in the snow"
    result = runner.invoke(main, ["retrieve", "--store", str(store_path), "--prompt", text, "-k", "16"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["rank", "id", "file", "cosine"] and len(lines) == 17
    encoded = np.asarray(load_clip(TINY_MODEL, "random:0", "cpu").encode_text([text]))[0]
    order, _ = cosine_order(FeatureStore.open(store_path), encoded)
    assert [line.split()[1] for line in lines[1:]] == order


def test_retrieve_unknown_image_is_one_line(runner, store_path):
    result = runner.invoke(main, ["retrieve", "--store", str(store_path), "--image", "nope.png"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "nope.png" in result.output


def test_figures_similarity(runner, store_path, tmp_path):
    out = tmp_path / "sim"
    result = runner.invoke(main, ["figures", "similarity", "--store", str(store_path), "--image", "img000.png",
                                  "--image", "img005.png", "--prompt", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out.with_suffix(".png")) as im:
        assert im.size == (1500, round((1.3 + 3.4 * 2) * 100))


@pytest.mark.slow
def test_figures_tsne_counts(runner, store_path, tmp_path):
    stb = make_store(tmp_path, "stb", 9, 1, prompts_from=store_path)
    rhd = make_store(tmp_path, "rhd", 14, 2, prompts_from=store_path)
    out = tmp_path / "tsne"
    result = runner.invoke(main, ["figures", "tsne", "--source", str(store_path), "--target", f"stb={stb}",
                                  "--target", f"rhd={rhd}", "--cap", "12", "--iterations", "250", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "points: frei 12, stb 9, rhd 12, aug 12" in result.output
    assert out.with_suffix(".png").is_file() and out.with_suffix(".pdf").is_file()
    bad = runner.invoke(main, ["figures", "tsne", "--source", str(store_path), "--target", "stb"])
    assert bad.exit_code == 2 and "NAME=STORE" in bad.output


def test_sheet_of_an_stb_bumblebee_store_finds_its_camera(runner, store_path, tmp_path):
    from handdg.featurize.run import featurize
    from handdg.synth import make_dataset

    root = make_dataset(tmp_path / "stb", "stb", 2, seed=0)
    store = tmp_path / "stb-bb.zarr"
    featurize(root, "stb", "test", store, model=TINY_MODEL, weights="random:0", device="cpu", camera="bb",
              workers=0, progress=False, prompts_from=store_path)
    query = FeatureStore.open(store).ids[0]
    assert "BB_left" in query
    result = runner.invoke(main, ["retrieve", "--store", str(store), "--image", query, "-k", "3",
                                  "--sheet", str(tmp_path / "sheet")])
    assert result.exit_code == 0, result.output
    assert "BB_left" in result.output.splitlines()[1] and (tmp_path / "sheet.png").is_file()


def test_free_text_on_a_store_from_a_local_checkpoint_needs_that_file(runner, tmp_path):
    from safetensors.torch import save_file

    from handdg.featurize.run import featurize

    weights = tmp_path / "tiny.safetensors"
    tiny = load_clip(TINY_MODEL, "random:3", "cpu")
    save_file({k: v.contiguous() for k, v in tiny.model.state_dict().items()}, weights)
    store = tmp_path / "file.zarr"
    featurize(write_folder(tmp_path / "imgs", 5, 0), "folder", "train", store, model=TINY_MODEL,
              weights=str(weights), device="cpu", workers=0, progress=False)
    query = ["retrieve", "--store", str(store), "--prompt", "a hand on the moon", "-k", "2"]
    refused = runner.invoke(main, query)
    assert refused.exit_code == 2 and "pass --clip-weights PATH" in refused.output
    other = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in load_clip(TINY_MODEL, "random:4", "cpu").model.state_dict().items()}, other)
    wrong = runner.invoke(main, query + ["--clip-weights", str(other)])
    assert wrong.exit_code == 2 and "is not the CLIP this store was made with" in wrong.output
    assert runner.invoke(main, query + ["--clip-weights", str(weights)]).exit_code == 0
