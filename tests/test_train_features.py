import json
import sys
from pathlib import Path

import pytest
import torch

from handdg.data import open_dataset
from handdg.errors import HanddgError
from handdg.inputs.features import ClipFeatures, mix
from handdg.run import runs
from handdg.stores import FeatureStore
from handdg.train import loop
from train_helpers import tiny_config, tiny_freihand, tiny_store


def test_mix_by_hand():
    image, text = torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 2.0]])
    # n(image) = (0.6, 0.8), n(text) = (0, 1): 0.5·(0.6, 0.8) + 0.5·(0, 1) = (0.3, 0.9)
    torch.testing.assert_close(mix(image, text, 0.5), torch.tensor([[0.3, 0.9]]))
    torch.testing.assert_close(mix(image, text, 0.5, normalise=False), torch.tensor([[1.5, 3.0]]))
    torch.testing.assert_close(mix(image, text, 1.0), torch.tensor([[0.6, 0.8]]))
    torch.testing.assert_close(mix(image, text, 0.0), torch.tensor([[0.0, 1.0]]))


def test_prompt_draws_are_seeded_and_cover_the_vocabulary():
    features = ClipFeatures(torch.zeros(4, 2, dtype=torch.float16), torch.randn(50, 2), {})
    a = features.draw_prompts(4000, torch.Generator().manual_seed(5))
    b = features.draw_prompts(4000, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.min() == 0 and a.max() == 49 and len(a.unique()) == 50


def test_mixed_uses_the_drawn_prompts():
    prompts = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    features = ClipFeatures(torch.tensor([[0.0, 5.0], [5.0, 0.0]], dtype=torch.float16), prompts, {})
    out = features.mixed(features.cached_image(torch.tensor([1, 0])), torch.tensor([1, 1]), 0.6)
    torch.testing.assert_close(out, torch.tensor([[0.6, 0.4], [0.0, 1.0]]))


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A tiny FreiHAND and its feature store made with the tiny random CLIP (32-d)."""
    folder = tmp_path_factory.mktemp("stored")
    root = tiny_freihand(folder / "fh")
    return root, tiny_store(root, folder / "fh.zarr")


def test_store_features_are_loaded_in_dataset_order(stored):
    root, store_path = stored
    dataset = open_dataset(root, "freihand")
    features = ClipFeatures.from_store(store_path, dataset)
    store = FeatureStore.open(store_path)
    assert features.dim == 32 and features.prompts.shape == (3920, 32)
    for i in (0, 5, 11):
        row = store.row_of([dataset.ids[i]])[0]
        assert torch.equal(features.cached_image(torch.tensor([i]))[0], torch.from_numpy(store.image_features([row])[0]).float())
    assert features.provenance["weights"] == "random:0"


def test_ie_te_training_reads_the_store_and_records_its_clip(stored, tmp_path):
    root, store_path = stored
    out = loop.train(tiny_config(root, tmp_path / "run", branch2="ie+te", target="stb", store=str(store_path), steps=2))
    saved = json.loads((out / "config.json").read_text())
    assert saved["clip"]["model"] == "handdg-tiny" and saved["clip"]["weights"] == "random:0"
    assert saved["model"]["clip_dim"] == 32
    assert all(r["con"] != 0.0 for r in runs.read_metrics(out))


def test_a_store_of_another_dataset_is_refused_before_the_run_starts(stored, tmp_path):
    _, store_path = stored
    other = tiny_freihand(tmp_path / "other", unique=2)
    with pytest.raises(HanddgError, match="was made from freihand/train .*featurize this dataset"):
        loop.train(tiny_config(other, tmp_path / "run", branch2="ie", store=str(store_path)))
    assert not (tmp_path / "run").exists()


def test_online_mode_runs_clip_in_the_step(stored, tmp_path):
    root, _ = stored
    out = loop.train(tiny_config(root, tmp_path / "run", branch2="te", clip_mode="online", clip_model="handdg-tiny",
                                 clip_weights="random:1", steps=1))
    saved = json.loads((out / "config.json").read_text())
    assert saved["clip"]["weights"] == "random:1" and saved["store"] is None


def test_online_clip_encodes_fewer_prompts_only_when_asked_and_says_so(monkeypatch):
    """The `prompt_texts` hook (benchmarks timing an online step): the prompts it gives, recorded in the run's
    CLIP provenance; without it every prompt is encoded and the provenance is CLIP's own."""
    from handdg import prompts
    from handdg.inputs import clip_input
    from handdg.run.config import TrainConfig

    config = TrainConfig(data="unused", branch2="te", clip_mode="online", clip_model="handdg-tiny",
                         clip_weights="random:1")
    cpu = torch.device("cpu")
    whole = clip_input.OnlineClip.load(config, cpu, show=False)
    monkeypatch.setattr(clip_input, "prompt_texts", lambda: prompts.all_prompts()[:5])
    few = clip_input.OnlineClip.load(config, cpu, show=False)
    assert whole.features.prompts.shape[0] == len(prompts.all_prompts()) and few.features.prompts.shape[0] == 5
    torch.testing.assert_close(few.features.prompts, whole.features.prompts[:5])
    assert few.features.provenance == {**whole.features.provenance, "prompts_encoded": 5}


def test_probe_measures_branch2_and_a_zero_weight_contrastive_loss_sends_no_gradient(stored, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from branch2_probe import probe

    root, store_path = stored
    base = loop.train(tiny_config(root, tmp_path / "base", branch2="none", steps=1))
    with pytest.raises(HanddgError, match="nothing to probe"):
        probe(base)
    run = loop.train(tiny_config(root, tmp_path / "iete", branch2="ie+te", target="stb", store=str(store_path),
                                 steps=2))
    result = probe(run, batches=2)
    assert result["step"] == 2 and result["ratio"] == 0.6 and set(result) >= {"init", "trained"}
    for when in ("init", "trained"):
        m = result[when]
        assert -1 <= m["cos_e1_e2"] <= 1 and 0 < m["grad_share_con"] < 1 and m["grad_norm_con"] > 0
    assert result["init"] != result["trained"]
    one = probe(run, batches=1)["trained"]  # one batch: the share is exactly the norms' ratio
    assert one["grad_share_con"] == pytest.approx(one["grad_norm_con"] / (one["grad_norm_con"] + one["grad_norm_task"]))
    silent = loop.train(tiny_config(root, tmp_path / "zero", branch2="ie+te", target="stb", store=str(store_path),
                                    steps=1, lambda_con=0.0))
    zero = probe(silent, batches=1)["trained"]
    assert zero["grad_norm_con"] == 0 and zero["grad_share_con"] == 0 and zero["grad_norm_task"] > 0
