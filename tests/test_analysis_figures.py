"""Figures: PNG + PDF of the expected size, titled with provenance, with the data behind them checked."""

from pathlib import Path

import numpy as np
import pytest
from analysis_evals import write_eval
from analysis_store import ArrayStore, random_store
from PIL import Image

from handdg.analysis.figure import FigureContext, merged_context, new_figure, save_figure, store_context
from handdg.analysis.pck import auc_between, eval_context, legend_label, load_eval, pck_figure
from handdg.analysis.retrieval import build_query, retrieve
from handdg.analysis.sheets import contact_sheet, sheet_size
from handdg.analysis.similarity import similarity_figure, similarity_profile
from handdg.analysis.tsne import run_tsne, tsne_figure, tsne_inputs
from handdg.errors import HanddgError


def assert_png(paths, size_inches):
    png, pdf = paths
    assert png.suffix == ".png" and pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF")
    with Image.open(png) as im:
        im.verify()
    with Image.open(png) as im:
        assert im.size == (round(size_inches[0] * 100), round(size_inches[1] * 100))


def figure_texts(fig):
    return [t.get_text() for t in fig.texts]


def test_header_says_random_weights_in_red():
    fig = new_figure("T", FigureContext("ViT-B-32", "random:0", "freihand/train", 0.6), (6, 4))
    texts = {t.get_text(): t for t in fig.texts}
    assert "CLIP ViT-B-32  ·  weights random:0  ·  dataset freihand/train  ·  r = 0.6" in texts
    warning = [t for s, t in texts.items() if "RANDOM WEIGHTS" in s]
    assert len(warning) == 1 and warning[0].get_color() == "red"
    fig = new_figure("T", FigureContext("ViT-B-32", "openai", "stb/test"), (6, 4))
    assert not any("RANDOM" in s for s in figure_texts(fig))


def test_save_writes_png_and_pdf_of_fixed_size(tmp_path):
    fig = new_figure("T", FigureContext("m", "openai", "d"), (5, 3))
    assert_png(save_figure(fig, tmp_path / "sub" / "fig.png"), (5, 3))
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["fig.pdf", "fig.png"]


def test_contact_sheet(tmp_path):
    store = random_store(n=30, dim=8)
    query = build_query(store, prompt="5", image_id="00000002", ratio=0.9)
    hits = retrieve(store, query, k=7)
    tiles = [np.full((20, 20, 3), i * 30, np.uint8) for i in range(7)]
    paths = contact_sheet(query, tiles[0], hits, tiles, store_context(store, 0.9), tmp_path / "sheet")
    assert_png(paths, sheet_size(7))
    assert sheet_size(7) == (3.0 + 5 * 2.0 + 0.3, 1.2 + max(2 * 2.3, 4.2))


def test_similarity_profile_by_hand(tmp_path):
    # query image e1, prompt e2; others e1, e2, e3
    feats = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    store = ArrayStore(feats, np.tile([0, 2.0, 0], (3920, 1)))
    prof = similarity_profile(store, "00000000", "7", ratio=0.5, ratios=[0.0, 1.0])
    h = 1 / np.sqrt(2)
    np.testing.assert_allclose(prof.similarities, [h, h, 0], atol=1e-3)
    assert list(prof.ratios) == [0.0, 0.5, 1.0]
    np.testing.assert_allclose(prof.sweep["top-1"], [1, h, 1], atol=1e-3)
    np.testing.assert_allclose(prof.sweep["median"], [0, h, 0], atol=1e-3)
    np.testing.assert_allclose(prof.sweep["own image"], [0, h, 1], atol=1e-3)
    np.testing.assert_allclose(prof.sweep["prompt"], [1, h, 0], atol=1e-3)
    paths = similarity_figure([prof, prof], store_context(store), tmp_path / "sim")
    assert_png(paths, (15.0, 1.3 + 3.4 * 2))


def test_tsne_counts_per_set_and_seed(tmp_path):
    frei = random_store(n=120, dim=8, seed=0)
    stb = random_store(n=40, dim=8, seed=1, name="stb", split="test")
    rhd = random_store(n=70, dim=8, seed=2, name="rhd", split="test")
    sets = {"frei": frei, "stb": stb, "rhd": rhd}
    features, rows, prompt_ids = tsne_inputs(frei, sets, cap=50, seed=3)
    assert {k: len(v) for k, v in features.items()} == {"frei": 50, "stb": 40, "rhd": 50, "aug": 50}
    assert len(set(rows["aug"].tolist())) == 50 and len(prompt_ids) == 50
    i = 0
    img = frei.image_features([rows["aug"][i]])[0].astype(np.float32)
    txt = frei.prompt_features()[prompt_ids[i]].astype(np.float32)
    expected = 0.5 * (img / np.linalg.norm(img) + txt / np.linalg.norm(txt))
    np.testing.assert_allclose(features["aug"][i], expected, atol=1e-5)
    result = run_tsne(frei, sets, cap=50, seed=3, iterations=250)
    assert {k: v.shape for k, v in result.points.items()} == {"frei": (50, 2), "stb": (40, 2), "rhd": (50, 2), "aug": (50, 2)}
    again = run_tsne(frei, sets, cap=50, seed=3, iterations=250)
    np.testing.assert_allclose(result.points["stb"], again.points["stb"])
    assert_png(tsne_figure(result, merged_context([frei, stb, rhd]), tmp_path / "tsne"), (8.0, 8.6))


def test_tsne_refuses_mixed_clips():
    a, b = random_store(n=10, dim=4), random_store(n=10, dim=4, weights="openai")
    with pytest.raises(HanddgError, match="weights"):
        tsne_inputs(a, {"frei": a, "stb": b}, cap=5, seed=0)


def test_auc_by_hand():
    # PCK = t/40 up to 40 mm then 1: area over 0..50 = 20 + 10 = 30 -> 0.6; over 20..50 = 15 + 10 = 25 -> 25/30
    t = np.linspace(0, 50, 21)
    v = np.clip(t / 40, 0, 1)
    assert auc_between(t, v, 0, 50) == pytest.approx(0.6)
    assert auc_between(t, v, 20, 50) == pytest.approx(25 / 30)


def test_pck_figure_and_legend(tmp_path):
    stb = load_eval(write_eval(tmp_path / "run" / "eval_stb.json", "stb", 20.0, {"ratio": 0.6}), label="IE+TE")
    rhd = load_eval(write_eval(tmp_path / "run" / "eval_rhd.json", "rhd", 25.0, {"ratio": 0.6}))
    # hand3d STB curve = t/40 clipped (see test_auc_by_hand); RHD = t/50: AUC 0..50 = 25/50
    assert legend_label(stb, "hand3d") == "IE+TE (stb): AUC 0–50 0.600, 20–50 0.833, EPE 20.0 mm"
    assert legend_label(rhd, "hand3d") == "run/eval_rhd (rhd): AUC 0–50 0.500, EPE 25.0 mm"
    context = eval_context([stb, rhd])
    assert (context.weights, context.dataset, context.ratio) == ("random:0", "rhd + stb", 0.6)
    assert_png(pck_figure([stb, rhd], context, tmp_path / "pck"), (13.0, 6.0))


def test_bad_eval_files(tmp_path):
    with pytest.raises(HanddgError, match="not found"):
        load_eval(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(HanddgError, match="not a `handdg eval` result"):
        load_eval(tmp_path / "x.json")


def test_eval_context_reads_the_run_folder(tmp_path):
    base = load_eval(write_eval(tmp_path / "base" / "eval_rhd.json", "rhd", 30.0, {"branch2": "none"}))
    ours = load_eval(write_eval(tmp_path / "ours" / "eval_rhd.json", "rhd", 25.0, {"branch2": "ie+te", "target": "rhd"}))
    assert eval_context([base]) == FigureContext("none", "none (baseline)", "rhd", None)
    assert eval_context([ours]) == FigureContext("ViT-B-32", "random:0", "rhd", 0.9)
    mixed = eval_context([base, ours])
    assert mixed.weights == "several, some random" and mixed.random_weights and mixed.ratio is None
