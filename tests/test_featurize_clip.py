"""CLIP loading and encoding: seeded random weights, local files, offline failure, short-context prompts."""

from __future__ import annotations

import json

import huggingface_hub
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from handdg import prompts
from handdg.errors import HanddgError
from handdg.featurize.clip import CONFIG_DIR, load_clip, shortest_context
from handdg.featurize import weights
from handdg.featurize.weights import ensure_tag_available, file_sha256

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():
    return load_clip("handdg-tiny", "random:7", device="cpu")


def test_same_seed_gives_the_same_encoder_and_another_seed_does_not(tiny):
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    again = load_clip("handdg-tiny", "random:7", device="cpu")
    other = load_clip("handdg-tiny", "random:8", device="cpu")
    assert torch.equal(tiny.encode_images(pixels), again.encode_images(pixels))
    assert not torch.allclose(tiny.encode_images(pixels), other.encode_images(pixels))
    assert load_clip("handdg-tiny", "random", device="cpu").provenance["weights"] == "random:0"


def test_provenance_names_model_weights_and_preprocessing(tiny):
    prov = tiny.provenance
    assert (prov["model"], prov["weights"], prov["weights_kind"]) == ("handdg-tiny", "random:7", "random")
    assert (prov["embed_dim"], prov["image_size"]) == (32, 32)
    assert prov["mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073])


def test_image_features_are_the_model_forward_of_the_preprocessed_image(tiny):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8))
    pixels = tiny.image_transform(image)
    assert pixels.shape == (3, 32, 32)
    features = tiny.encode_images(pixels[None])
    assert features.shape == (1, 32) and features.dtype == torch.float32
    with torch.no_grad():
        assert torch.allclose(features, tiny.model.encode_image(pixels[None]), atol=1e-6)


def test_shortest_context_is_one_past_the_last_end_of_text_token(tiny):
    tokens = tiny.tokenize(["a photo", "a photo of a hand"])
    # start-of-text, 2 or 5 words, end-of-text: the longer prompt needs 7 positions.
    assert shortest_context(tokens) == 7
    assert tokens.shape[1] == 77


def test_short_context_prompt_features_equal_the_full_77_token_context(tiny):
    texts = prompts.all_prompts()[::97]
    short = tiny.encode_text(texts, short=True)
    full = tiny.encode_text(texts, short=False)
    assert short.shape == (len(texts), 32)
    assert torch.allclose(short, full, atol=1e-5)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_local_weights_file_loads_the_same_encoder_and_is_identified_by_sha256(tiny, tmp_path, suffix):
    path = tmp_path / f"tiny{suffix}"
    state = {k: v.contiguous() for k, v in tiny.model.state_dict().items()}
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    loaded = load_clip("handdg-tiny", str(path), device="cpu")
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert torch.equal(loaded.encode_images(pixels), tiny.encode_images(pixels))
    assert loaded.provenance["weights"].startswith("sha256:") and loaded.provenance["weights_file"] == path.name


def test_a_local_copy_of_a_quick_gelu_release_gets_quick_gelu(tiny, tmp_path, monkeypatch):
    path = tmp_path / "released.pt"
    torch.save({k: v.contiguous() for k, v in tiny.model.state_dict().items()}, path)
    sha = file_sha256(path)
    # Pretend the file is a release whose URL names its sha256, as OpenAI's downloads do.
    monkeypatch.setattr(weights.open_clip, "list_pretrained_tags_by_model", lambda model: ["release"])
    monkeypatch.setattr(weights.open_clip, "get_pretrained_cfg",
                        lambda model, tag: {"url": f"https://example.org/models/{sha}/x.pt", "quick_gelu": True})
    loaded = load_clip("handdg-tiny", str(path), device="cpu")
    assert loaded.provenance["quick_gelu"] is True
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(loaded.encode_images(pixels), tiny.encode_images(pixels))
    assert tiny.provenance["quick_gelu"] is False


def test_model_config_json_is_accepted_and_a_weights_file_of_another_architecture_is_refused(tiny, tmp_path):
    config = json.loads((CONFIG_DIR / "handdg-tiny.json").read_text())
    config["embed_dim"] = 16
    (tmp_path / "narrow.json").write_text(json.dumps(config))
    narrow = load_clip(str(tmp_path / "narrow.json"), "random", device="cpu")
    assert (narrow.provenance["model"], narrow.embed_dim) == ("narrow", 16)
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.model.state_dict().items()}, path)
    with pytest.raises(HanddgError, match="does not fit model narrow"):
        load_clip(str(tmp_path / "narrow.json"), str(path), device="cpu")


@pytest.fixture
def offline_empty_cache(monkeypatch, tmp_path):
    """Offline, with an empty hub cache and an empty ~/.cache/clip."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path / "hub"


def test_offline_without_cached_weights_fails_naming_clip_weights_path(offline_empty_cache):
    with pytest.raises(HanddgError, match=r"--clip-weights PATH") as err:
        load_clip("ViT-B-32", "openai", device="cpu")
    assert "\n" not in str(err.value)


def test_offline_with_the_tag_in_the_hub_cache_goes_ahead(offline_empty_cache):
    repo = offline_empty_cache / "models--timm--vit_base_patch32_clip_224.openai"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "open_clip_model.safetensors").write_bytes(b"")
    ensure_tag_available("ViT-B-32", "openai")
    with pytest.raises(HanddgError, match="ViT-B-32/laion2b_s34b_b79k are not in the local cache"):
        ensure_tag_available("ViT-B-32", "laion2b_s34b_b79k")


@pytest.mark.parametrize(("model", "weights", "message"), [
    ("ViT-B-32", "no-such-tag", "unknown CLIP weights 'no-such-tag'"),
    ("ViT-B-32", "/nowhere/clip.pt", "CLIP weights file not found"),
    ("ViT-B-32", "random:x", "must be a non-negative integer"),
    ("ViT-Q-99", "random", "unknown CLIP model 'ViT-Q-99'"),
])
def test_bad_model_or_weights_are_one_line_errors(model, weights, message):
    with pytest.raises(HanddgError, match=message):
        load_clip(model, weights, device="cpu")


@pytest.mark.slow
def test_real_vit_b_32_architecture_with_random_weights_encodes_a_few_images():
    encoder = load_clip("ViT-B-32", "random:0", device="cpu")
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)) for _ in range(3)]
    pixels = torch.stack([encoder.image_transform(im) for im in images])
    assert pixels.shape == (3, 3, 224, 224)
    together = encoder.encode_images(pixels)
    assert together.shape == (3, 512) and torch.isfinite(together).all()
    assert torch.allclose(encoder.encode_images(pixels[1:2]), together[1:2], atol=1e-4)
    text = encoder.encode_text(["a photo of right hand with red background"])
    assert text.shape == (1, 512)
