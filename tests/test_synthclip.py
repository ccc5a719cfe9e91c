"""The synthetic CLIP: captions true to the image, lossless packed weights, seeded training that resumes, held-out measures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from handdg.cli import main
from handdg.errors import HanddgError
from handdg.featurize.clip import load_clip
from handdg.featurize.compact import pack_state, unpack_state
from handdg.featurize.weights import parse_weights
from handdg.prompts import COLOURS, HAND_COLOURS, all_prompts
from handdg.synth.attributes import BACKGROUND_WORDS
from handdg.synthclip import SynthClipSettings, caption, retrieval_precision, table2_caption, train_synthclip, zero_shot
from handdg.synthclip.vocabulary import CompactEmbedding

RIGHT = {"hand_colour": "peach", "colour": "sky blue", "place": "room", "hands": ["right"]}
BOTH = {"hand_colour": "black", "colour": "flower", "place": "background", "hands": ["left", "right"]}


def test_table2_captions_are_table2_prompts_and_say_right_only_for_a_lone_right_hand():
    rng = np.random.default_rng(0)
    prompts = set(all_prompts())
    right = {table2_caption(RIGHT, rng) for _ in range(300)}
    both = {table2_caption(BOTH, rng) for _ in range(300)}
    assert right <= prompts and both <= prompts
    assert any("right" in c for c in right) and any("right" not in c for c in right)
    assert not any("right" in c for c in both)
    assert all(c.endswith("peach hand with sky blue room") or c.endswith("peach right hand with sky blue room")
               for c in right)


def test_paraphrases_keep_the_facts():
    rng = np.random.default_rng(1)
    captions = [caption(BOTH, rng) for _ in range(200)]
    assert sum(c not in set(all_prompts()) for c in captions) > 20  # some are paraphrases
    assert all("black" in c and "flower background" in c and "right" not in c for c in captions)


def test_packed_weights_unpack_to_the_same_state_and_compact_embedding_matches_the_full_table():
    full = torch.nn.Embedding(50, 4)
    ids = (0, 3, 7, 49)
    compact = CompactEmbedding(full, ids)
    tokens = torch.tensor([[3, 7, 5, 49]])
    table = compact.full_table()
    assert torch.equal(compact(tokens), table[tokens])
    assert torch.equal(compact(tokens)[0, 2], torch.zeros(4)) and torch.equal(table[3], full.weight[3].detach())
    state = {"token_embedding.weight": table, "proj": torch.randn(3, 2)}
    packed = pack_state(state)
    assert packed["token_embedding.values"].shape == (4, 4)
    back = unpack_state(packed)
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _prompt_features() -> np.ndarray:
    """Prompt features that name their hand colour, background word and place along separate axes."""
    from handdg.prompts import id_to_parts

    feats = np.zeros((len(all_prompts()), 7 + 19 + 2))
    for pid in range(len(feats)):
        p = id_to_parts(pid)
        feats[pid, [p.hand_colour, 7 + BACKGROUND_WORDS.index(COLOURS[p.colour]), 26 + p.background]] = 1
    return feats


def _image(record: dict) -> np.ndarray:
    v = np.zeros(28)
    v[[HAND_COLOURS.index(record["hand_colour"]), 7 + BACKGROUND_WORDS.index(record["colour"]),
       26 + ("room", "background").index(record["place"])]] = 1
    return v


def test_zero_shot_gets_every_attribute_when_images_lie_on_their_words_and_none_when_labels_are_wrong():
    records = [RIGHT, BOTH]
    feats = _unit(np.stack([_image(r) for r in records]))
    assert zero_shot(feats, records, _prompt_features()) == {
        "hand_colour_accuracy": 1.0, "colour_accuracy": 1.0, "place_accuracy": 1.0}
    swapped = [{**RIGHT, "hand_colour": "white", "colour": "lake", "place": "background"}, BOTH]
    assert zero_shot(feats, swapped, _prompt_features())["hand_colour_accuracy"] == 0.5


class _WordEncoder:
    """Encodes "a photo of <hc> hand with <word> background" onto the axes of its two words."""

    def encode_text(self, texts):
        out = []
        for text in texts:
            rest = text.removeprefix("a photo of ").removesuffix(" background")
            hc, word = rest.split(" hand with ")
            out.append(_image({"hand_colour": hc, "colour": word, "place": "background"}))
        return torch.tensor(np.stack(out), dtype=torch.float32)


def test_retrieval_precision_counts_matching_images_in_the_top_k():
    records = [RIGHT] * 3 + [{**RIGHT, "colour": "lake"}] * 3
    feats = _unit(np.stack([_image(r) for r in records]))
    result = retrieval_precision(_WordEncoder(), feats, records, k=4, min_matches=3)
    assert result["queries"] == 2
    assert result["per_query"]["a photo of peach hand with sky blue background"] == 0.75  # 3 of the top 4
    assert result["precision_at_k"] == 0.75


TINY = SynthClipSettings(model="handdg-tiny", poses=4, epochs=2, batch_size=8, seed=3)


def test_same_seed_same_checkpoint_it_loads_as_clip_weights_and_a_killed_run_resumes_to_the_same_bytes(tmp_path):
    a = tmp_path / "a.safetensors"
    summary = train_synthclip(a, TINY, log=lambda line: None)
    assert summary["images"] == 16 and summary["steps"] == 4 and len(summary["loss_history"]) == 2
    encoder = load_clip("handdg-tiny", str(a), device="cpu")
    assert encoder.provenance["weights"].startswith("sha256:")
    assert encoder.encode_text(["a photo of black hand with lake background"]).shape == (1, 32)

    def killed_after_first_epoch(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise KeyboardInterrupt

    b = tmp_path / "b.safetensors"
    with pytest.raises(KeyboardInterrupt):
        train_synthclip(b, TINY, log=killed_after_first_epoch)
    assert not b.exists() and (tmp_path / "b.safetensors.resume.pt").exists()
    lines = []
    train_synthclip(b, TINY, log=lines.append)
    assert any(line.startswith("resuming after epoch 1") for line in lines)
    assert a.read_bytes() == b.read_bytes()
    assert not (tmp_path / "b.safetensors.resume.pt").exists()
    table = load_file(str(a))["token_embedding.weight"]
    assert 20 < int((table.abs().sum(1) > 0).sum()) < 100  # only the captions' words are trained


def test_cli_train_writes_the_checkpoint_and_its_packed_copy_and_refuses_a_bad_name(tmp_path, runner):
    out, packed = tmp_path / "m.safetensors", tmp_path / "p.safetensors"
    ok = runner.invoke(main, ["synthclip", "train", str(out), "--clip-model", "handdg-tiny", "--poses", "2",
                              "--epochs", "1", "--batch-size", "8", "--packed", str(packed)])
    assert ok.exit_code == 0, ok.output
    full = load_file(str(out))
    assert all(torch.equal(v, full[k]) for k, v in unpack_state(load_file(str(packed))).items())
    bad = runner.invoke(main, ["synthclip", "train", str(tmp_path / "m.pt"), "--clip-model", "handdg-tiny"])
    assert bad.exit_code == 2 and ".safetensors" in bad.output


def test_builtin_weights_load_offline_by_name_and_only_for_the_synthetic_model(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = parse_weights("handdg-synth", "builtin")
    assert spec.kind == "builtin" and spec.ident.startswith("builtin:handdg-synth@sha256:")
    encoder = load_clip("handdg-synth", "builtin", device="cpu")
    assert encoder.provenance["weights"] == spec.ident and encoder.provenance["weights_kind"] == "builtin"
    assert load_clip("handdg-synth", spec.ident, device="cpu").provenance["weights"] == spec.ident  # as stores record it
    with pytest.raises(HanddgError, match="no builtin weights for CLIP model 'handdg-tiny'"):
        parse_weights("handdg-tiny", "builtin")


def test_a_store_made_with_the_builtin_clip_records_it_and_retrieves_free_text_with_it(runner, tmp_path):
    from handdg.analysis.store_view import open_store
    from handdg.synth import make_dataset

    root = make_dataset(tmp_path / "fh", "freihand", 2, seed=0)
    store = tmp_path / "fh.zarr"
    made = runner.invoke(main, ["featurize", str(root), "--layout", "freihand", "--split", "train", "--store",
                                str(store), "--clip-model", "handdg-synth", "--clip-weights", "builtin", "--quiet"])
    assert made.exit_code == 0, made.output
    clip = open_store(store).clip_provenance
    assert clip["weights"].startswith("builtin:handdg-synth@sha256:") and clip["weights_kind"] == "builtin"
    info = runner.invoke(main, ["store", "info", str(store)])
    assert "builtin:handdg-synth" in info.output and "RANDOM" not in info.output
    found = runner.invoke(main, ["retrieve", "--store", str(store), "--prompt", "a green hand on a lake", "-k", "3"])
    assert found.exit_code == 0, found.output


def test_the_demo_uses_the_builtin_clip_when_no_pretrained_weights_are_cached(monkeypatch, tmp_path):
    from handdg import demo

    seen = []
    for stage in ("_synth", "_featurize", "_train", "_eval", "_retrieve", "_figures"):
        monkeypatch.setattr(demo, stage, lambda out, settings, report: seen.append(settings))
    monkeypatch.setattr(demo, "choose_clip_weights", lambda model, requested: requested or "random")
    said = []
    report = demo.run_demo(tmp_path, demo.DemoSettings(), say=said.append)
    assert report.clip_weights == "builtin" and {(s.clip_model, s.clip_weights) for s in seen} == {("handdg-synth", "builtin")}
    assert not any("RANDOM" in line for line in said)
    seen.clear()
    demo.run_demo(tmp_path, demo.DemoSettings(clip_weights="random:1"), say=said.append)  # asked for: kept
    assert {(s.clip_model, s.clip_weights) for s in seen} == {("ViT-B-32", "random:1")}
    assert any("RANDOM" in line for line in said)


def test_figures_name_the_builtin_clip_by_a_short_fingerprint_and_give_no_random_warning():
    from handdg.analysis.figure import FigureContext

    ident = "builtin:handdg-synth@sha256:" + "ab" * 32
    context = FigureContext("handdg-synth", ident, "freihand/train", 0.6)
    assert "weights builtin:handdg-synth@sha256:abababababab…  ·" in context.describe()
    assert not context.random_weights and FigureContext("x", "random:0", "d").random_weights
