import json

import pytest
import torch

from handdg.errors import HanddgError
from handdg.run import runs
from handdg.train import lifecycle, loop
from train_helpers import tiny_config, tiny_freihand


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    torch.set_num_threads(1)
    return tiny_freihand(tmp_path_factory.mktemp("fh"))


def _losses(out, first_step=1):
    return [(r["step"], r["loss"], r["heat"], r["pose"]) for r in runs.read_metrics(out) if r["step"] >= first_step]


def test_a_run_writes_config_metrics_and_checkpoints(data, tmp_path):
    out = loop.train(tiny_config(data, tmp_path / "run", steps=4, checkpoint_every=2, keep_checkpoints=1))
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["preset"] == "tiny" and saved["clip"] is None
    assert saved["dataset"]["name"] == "freihand" and saved["dataset"]["count"] == 12
    assert saved["model"]["input_size"] == 64
    assert [r["step"] for r in runs.read_metrics(out)] == [1, 2, 3, 4]
    assert runs.checkpoint_steps(out) == [4]
    last = runs.load_weights(out / "last.safetensors")
    assert last.step == 4 and last.config.preset == "tiny"


def test_resume_after_an_interruption_repeats_the_uninterrupted_losses(data, tmp_path):
    # a constant lr: extending a cosine run stretches the rest of its schedule (docs/training.md)
    augmented = dict(augment=("geometric", "jitter", "noise"), steps=6, checkpoint_every=3, lr_schedule="constant")
    whole = loop.train(tiny_config(data, tmp_path / "whole", **augmented))
    cut = tiny_config(data, tmp_path / "cut", **{**augmented, "steps": 3})
    loop.train(cut)
    lifecycle.resume(tmp_path / "cut", steps=6)
    assert _losses(tmp_path / "cut") == _losses(whole)
    assert len(_losses(whole)) == 6
    with pytest.raises(HanddgError, match="already finished"):
        lifecycle.resume(tmp_path / "cut")


def test_a_non_finite_loss_stops_naming_the_step_and_keeps_the_checkpoint(data, tmp_path, monkeypatch):
    real = loop.total_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        terms = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            terms.total = terms.total * float("nan")
        return terms

    monkeypatch.setattr(loop, "total_loss", poisoned)
    with pytest.raises(HanddgError, match="non-finite at step 3.*last good checkpoint is step 2"):
        loop.train(tiny_config(data, tmp_path / "run", checkpoint_every=2))
    assert runs.checkpoint_steps(tmp_path / "run") == [2]


def test_a_second_start_in_the_same_directory_is_refused(data, tmp_path):
    lifecycle.start(tiny_config(data, tmp_path / "run", steps=1))
    with pytest.raises(HanddgError, match="--resume"):
        lifecycle.start(tiny_config(data, tmp_path / "run", steps=1))


def test_batch_larger_than_the_data_is_a_clear_error(data, tmp_path):
    with pytest.raises(HanddgError, match="fewer than batch size 64"):
        loop.train(tiny_config(data, tmp_path / "run", batch_size=64))
    assert not (tmp_path / "run").exists()


def test_gt_lifting_adds_the_lifting_of_the_ground_truth_maps_to_the_pose_loss(data, tmp_path):
    # same seed, same first batch: the heat loss is equal, the pose loss gains the GT maps' positive MSE
    with_gt, without = (_losses(loop.train(tiny_config(data, tmp_path / name, steps=1, gt_lifting=flag)))[0]
                        for name, flag in (("gt", True), ("plain", False)))
    assert with_gt[2] == pytest.approx(without[2])
    assert with_gt[3] > without[3] > 0
    assert json.loads((tmp_path / "gt" / "config.json").read_text())["config"]["gt_lifting"] is True


def test_the_runs_adam_is_fused_and_updates_as_the_per_tensor_loop_does():
    torch.manual_seed(0)
    start = [torch.randn(300, 200), torch.randn(64)]
    mine = [p.clone().requires_grad_() for p in start]
    loop_form = [p.clone().requires_grad_() for p in start]
    fast, reference = loop.adam(mine, 3e-3), torch.optim.Adam(loop_form, lr=3e-3, foreach=False)
    assert fast.defaults["fused"] is True
    for _ in range(50):
        grads = [torch.randn_like(p) for p in start]
        for a, b, g in zip(mine, loop_form, grads):
            a.grad, b.grad = g.clone(), g.clone()
        fast.step()
        reference.step()
    assert max((a - b).abs().max().item() for a, b in zip(mine, loop_form)) < 1e-6
    assert max((a - p).abs().max().item() for a, p in zip(mine, start)) > 0.1  # it moved
    reloaded = loop.adam([p.clone().requires_grad_() for p in start], 3e-3)
    reloaded.load_state_dict(reference.state_dict())
    assert reloaded.state_dict()["state"][0]["step"].item() == 50
