"""Style banks: the transform families' known answers, the bank's round trip, resume and shards, the text being
obeyed on the synthetic CLIP, the matched control's size, and training crops that really are restyled."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from handdg.errors import HanddgError
from handdg.styles import bank as banks
from handdg.styles.build import BankSettings, build_bank, other_rows
from handdg.styles.families import apply, family, statistics, to_params
from handdg.styles.optimise import OptimiseSettings

TEXTS = ["a photo of white hand with green background", "a photo of black hand with green background",
         "a photo of peach hand with white background", "a photo of peach hand with black background"]
FAST = BankSettings(family="regions", images=4, seed=0, chunk_rows=2,
                    optimise=OptimiseSettings(candidates=64, steps=4, lr=0.05, seed=0))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A small synthetic FreiHAND source (right hands in peach, light beige or dark brown; hand masks)."""
    from handdg.data import open_dataset
    from handdg.synth import make_dataset

    root = make_dataset(tmp_path_factory.mktemp("styles") / "fh", "freihand", 6, seed=3, splits=("train",),
                        look="restricted-hands")
    return open_dataset(root, "freihand", "train")


@pytest.fixture(scope="module")
def encoder():
    from handdg.featurize.clip import load_clip

    return load_clip("handdg-synth", "builtin", "cpu")


@pytest.fixture(scope="module")
def text_bank(source, encoder, tmp_path_factory):
    return build_bank(source, tmp_path_factory.mktemp("banks") / "text", encoder, FAST, texts=TEXTS, progress=False)


def _square_image() -> tuple[torch.Tensor, torch.Tensor]:
    """A 16x16 image: a 6x6 'hand' of value 0.2 (with a little texture) on a background of 0.8, and its mask."""
    gen = torch.Generator().manual_seed(0)
    image = torch.full((1, 3, 16, 16), 0.8) + 0.02 * torch.randn((1, 3, 16, 16), generator=gen)
    mask = torch.zeros((1, 1, 16, 16))
    mask[..., 5:11, 5:11] = 1.0
    image = torch.where(mask > 0, 0.2 + 0.02 * torch.randn((1, 3, 16, 16), generator=gen), image)
    return image, mask


def test_regions_style_sets_hand_and_background_statistics_apart_and_only_inside_the_mask():
    image, mask = _square_image()
    fam = family("regions")
    std = torch.full((1, 3), 0.02)
    params = to_params([torch.tensor([[0.9, 0.5, 0.1]]), torch.tensor([[0.1, 0.1, 0.1]])], [std, std])
    out = apply(fam, image, mask, params)
    hand_mean, _ = statistics(out, mask)
    back_mean, _ = statistics(out, 1 - mask)
    assert torch.allclose(hand_mean, torch.tensor([[0.9, 0.5, 0.1]]), atol=2e-3)
    assert torch.allclose(back_mean, torch.tensor([[0.1, 0.1, 0.1]]), atol=2e-3)
    changed_toward_hand = (out[0, 0] > 0.6)  # red 0.9 only where the hand is
    assert torch.equal(changed_toward_hand, mask[0, 0] > 0)


def test_strength_zero_is_the_identity_and_strength_scales_the_change():
    image, mask = _square_image()
    fam = family("global")
    params = to_params([torch.tensor([[0.5, 0.4, 0.3]])], [torch.full((1, 3), 0.1)])
    assert torch.allclose(apply(fam, image, mask, params, torch.zeros(1)), image)
    full = apply(fam, image, mask, params, torch.ones(1)) - image
    half = apply(fam, image, mask, params, torch.full((1,), 0.5)) - image
    assert torch.allclose(half, full / 2, atol=1e-6)


def test_bank_round_trips_with_provenance_and_scores(text_bank, encoder):
    loaded = banks.StyleBank.open(text_bank)
    assert loaded.params.shape == (4, 12) and loaded.prompts == TEXTS
    assert torch.equal(loaded.strength, torch.ones(4))
    prov = loaded.provenance()
    assert prov["kind"] == "text" and prov["family"] == "regions"
    assert prov["clip"]["model"] == "handdg-synth" and prov["clip"]["weights"] == encoder.provenance["weights"]
    assert prov["settings"]["images"] == 4 and len(prov["settings"]["source_ids"]) == 4
    summary = loaded.summary()
    assert summary["gain_own"] > summary["gain_random"]


def test_a_killed_bank_redoes_only_its_missing_chunk_and_shards_write_the_same_bank(source, encoder, text_bank,
                                                                                     tmp_path):
    whole = banks.StyleBank.open(text_bank)
    out = tmp_path / "resumed"
    build_bank(source, out, encoder, FAST, texts=TEXTS, shard="0/2", progress=False)
    with pytest.raises(HanddgError, match="incomplete"):
        banks.StyleBank.open(out)
    first = out / "chunks" / "000000.safetensors"
    stamp = first.stat().st_mtime_ns
    build_bank(source, out, encoder, FAST, texts=TEXTS, shard="1/2", progress=False)
    build_bank(source, out, encoder, FAST, texts=TEXTS, progress=False)  # nothing left to do
    assert first.stat().st_mtime_ns == stamp
    assert torch.allclose(banks.StyleBank.open(out).params, whole.params, atol=1e-5)


def test_a_bank_begun_with_other_settings_is_refused(source, encoder, text_bank):
    other = BankSettings(family="regions", images=3, seed=0, chunk_rows=2, optimise=FAST.optimise)
    with pytest.raises(HanddgError, match="other settings"):
        build_bank(source, text_bank, encoder, other, texts=TEXTS, progress=False)


def test_text_styles_obey_the_words_on_the_synthetic_clip(text_bank, source, encoder):
    """White vs black hand (same background word): the hand lighter, the background about the same; white vs black
    background (same hand word): the background lighter, the hand about the same."""
    from handdg.styles.build import source_images

    loaded = banks.StyleBank.open(text_bank)
    images, masks, _ = source_images(source, FAST, encoder.image_size)
    fam = loaded.family

    def means(row: int) -> tuple[float, float]:
        out = apply(fam, images, masks, loaded.params[row:row + 1].expand(len(images), -1))
        hand, _ = statistics(out, masks)
        back, _ = statistics(out, 1 - masks)
        return float(hand.mean()), float(back.mean())

    white_hand, black_hand, white_back, black_back = (means(r) for r in range(4))
    assert white_hand[0] - black_hand[0] > 0.3
    assert abs(white_hand[1] - black_hand[1]) < 0.5 * (white_hand[0] - black_hand[0])
    assert white_back[1] - black_back[1] > 0.15
    assert abs(white_back[0] - black_back[0]) < 0.5 * (white_back[1] - black_back[1])


def test_the_random_control_changes_the_images_as_much_as_the_text_bank(source, encoder, text_bank, tmp_path):
    control = build_bank(source, tmp_path / "random", encoder, FAST, kind="random", like=text_bank, texts=TEXTS,
                         progress=False)
    text, rand = banks.StyleBank.open(text_bank), banks.StyleBank.open(control)
    assert rand.manifest["kind"] == "random" and rand.manifest["settings"]["like_sha256"]
    assert torch.allclose(rand.tensors["pixel_distance"], text.tensors["pixel_distance"], rtol=0.05)
    assert not torch.allclose(rand.params, text.params)


def test_other_rows_never_pick_the_row_itself():
    rows = other_rows(50, seed=1)
    assert not torch.any(rows == torch.arange(50)) and rows.min() >= 0 and rows.max() < 50


def _crops(source, bank_path, on_device: bool, share: float = 1.0):
    from handdg.inputs.batches import CropSpec, HandCrops, collate_plans
    from handdg.inputs.batch_augment import finish_batch
    from handdg.inputs.styles import StyleSampler

    spec = CropSpec(input_size=64, heatmap_size=16, heatmap_sigma=2.0, crop_scale=1.5)
    styles = StyleSampler.for_run(str(bank_path), share, source) if bank_path else None
    crops = HandCrops(source, spec, ("geometric",), on_device=on_device, styles=styles)
    keys = [(i, 1000 + i) for i in range(4)]
    if not on_device:
        return {k: torch.stack([crops[key][k] for key in keys]) for k in crops[keys[0]]}
    return finish_batch(collate_plans([crops[key] for key in keys]), 64, 16, 2.0, styles=styles)


@pytest.mark.parametrize("on_device", [False, True])
def test_training_crops_are_restyled_and_keep_their_joints(source, text_bank, on_device):
    plain = _crops(source, None, on_device)
    styled = _crops(source, text_bank, on_device)
    assert torch.equal(styled["uv"], plain["uv"]) and torch.equal(styled["heatmaps"], plain["heatmaps"])
    assert (styled["style"] >= 0).all()
    assert (styled["image"] - plain["image"]).abs().mean(dim=(1, 2, 3)).min() > 0.02
    none = _crops(source, text_bank, on_device, share=0.0)
    assert (none["style"] == -1).all() and torch.allclose(none["image"], plain["image"])


def test_worker_and_device_paths_restyle_alike(source, text_bank):
    workers, device = _crops(source, text_bank, False), _crops(source, text_bank, True)
    assert torch.equal(workers["style"], device["style"])
    assert (workers["image"] - device["image"]).abs().mean() < 0.02


def test_a_mask_family_on_a_source_without_masks_is_one_clear_error(text_bank, tmp_path):
    from handdg.data import open_dataset
    from handdg.inputs.styles import StyleSampler
    from train_helpers import tiny_stb

    stb = open_dataset(tiny_stb(tmp_path / "stb"), "stb", "test")
    with pytest.raises(HanddgError, match="ships no hand masks"):
        StyleSampler.for_run(str(text_bank), 0.5, stb)


def test_styles_cli_refuses_a_like_that_is_no_bank(runner, source, tmp_path):
    from handdg.cli import main

    result = runner.invoke(main, ["styles", str(source.root), "--layout", "freihand", "--out", str(tmp_path / "c"),
                                  "--like", str(tmp_path), "--clip-model", "handdg-synth", "--clip-weights", "builtin",
                                  "--device", "cpu", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "is not a style bank" in result.output and len(result.output.strip().splitlines()) == 1
