"""RUN/best.safetensors is the model of the lowest validation hand3d EPE: not the first, not the last."""

from __future__ import annotations

import json

import pytest
import torch

from handdg.model.network import HandPoseNet, ModelConfig
from handdg.run import runs
from handdg.train import loop, validate
from train_helpers import tiny_config, tiny_freihand


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    torch.set_num_threads(1)
    return tiny_freihand(tmp_path_factory.mktemp("fh"))  # has evaluation_xyz.json: a default validation set


def _weights_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_keep_best_keeps_the_weights_and_step_of_the_lowest_validation(tmp_path) -> None:
    config = tiny_config(tmp_path, tmp_path)
    net = HandPoseNet(ModelConfig.from_preset("tiny", clip_dim=32))
    # neither the first, nor the last, nor the last improvement before a worse one is the lowest
    values = {2: 40.0, 4: 25.0, 6: 10.0, 8: 30.0, 10: 12.0}
    snapshots, kept = {}, []
    for step, epe in values.items():
        with torch.no_grad():
            net.pose_prior.out.bias.fill_(float(step))  # weights that name their step
        snapshots[step] = {k: v.clone() for k, v in net.state_dict().items()}
        kept.append(validate.keep_best(tmp_path, step, {"val_hand3d_mm": epe, "val_2d_px": 1.0}, net, config, None))
    assert kept == [True, True, True, False, False]
    best = runs.load_weights(tmp_path / runs.BEST)
    assert best.step == 6
    assert _weights_equal(best.weights, snapshots[6])
    saved = json.loads((tmp_path / validate.BEST_JSON).read_text())
    assert saved == {"step": 6, "val_hand3d_mm": 10.0, "val_2d_px": 1.0}


def test_training_keeps_the_validation_minimum_as_best(data, tmp_path, monkeypatch) -> None:
    """Validation every step with scripted hand3d EPEs (lowest at step 2 of 5): best.safetensors must be
    the step-2 checkpoint's weights, and differ from the last."""
    scripted = iter([50.0, 20.0, 35.0, 40.0, 30.0])
    real = validate.logged

    def logged(scores):
        return {**real(scores), "val_hand3d_mm": next(scripted)}

    monkeypatch.setattr(validate, "logged", logged)
    out = loop.train(tiny_config(data, tmp_path / "run", steps=5, val_every=1, checkpoint_every=1,
                                 keep_checkpoints=5, workers=0))
    assert [r["val_hand3d_mm"] for r in runs.read_metrics(out)] == [50.0, 20.0, 35.0, 40.0, 30.0]
    best = runs.load_weights(out / runs.BEST)
    assert best.step == 2 and json.loads((out / validate.BEST_JSON).read_text())["step"] == 2
    assert _weights_equal(best.weights, runs.load_weights(out / "checkpoints" / "step_2.safetensors").weights)
    assert not _weights_equal(best.weights, runs.load_weights(out / runs.LAST).weights)


def test_best_checkpoint_scores_the_lowest_logged_validation_epe(data, tmp_path) -> None:
    """Real validations: evaluating best.safetensors on the validation split gives the minimum of metrics.csv's
    val_hand3d_mm, at the step best.json names. (At this lr the EPEs went 82.6, 58.8, 77.4, 85.3, 84.7 mm when
    written: the minimum inside the run; the scripted test above does not depend on that.)"""
    from handdg.evaluation.evaluate import evaluate

    out = loop.train(tiny_config(data, tmp_path / "run", steps=5, val_every=1, checkpoint_every=5, workers=0,
                                 lr=6e-3, lr_schedule="constant"))
    logged = {int(r["step"]): r["val_hand3d_mm"] for r in runs.read_metrics(out)}
    assert sorted(logged) == [1, 2, 3, 4, 5]
    lowest = min(logged, key=logged.get)
    best = runs.load_weights(out / runs.BEST)
    assert best.step == lowest == json.loads((out / validate.BEST_JSON).read_text())["step"]
    result = evaluate(out / runs.BEST, "freihand", data, split="evaluation", device="cpu", workers=0,
                      show_progress=False)
    assert result["protocols"]["hand3d"]["epe_mean_mm"] == pytest.approx(logged[lowest], rel=1e-6)
