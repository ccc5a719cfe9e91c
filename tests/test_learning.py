"""Training learns: the default recipe overfits a few synthetic hands, far past a constant pose.

Before the learning fix the heatmap loss sat at the all-zero level (the maps collapsed to zero)
and the network output the mean pose; this test fails on that code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from handdg.data import open_dataset
from handdg.evaluation.evaluate import evaluate
from handdg.inputs.batches import CropSpec, HandCrops
from handdg.model.network import ModelConfig
from handdg.run import runs
from handdg.run.config import TrainConfig
from handdg.run.runs import read_metrics
from handdg.synth import make_dataset
from handdg.train.loop import train

STEPS = 150


@pytest.fixture(scope="module")
def overfit(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainConfig, Path]:
    """8 synthetic FreiHAND hands (32 images), the tiny preset trained on them without augmentation."""
    base = tmp_path_factory.mktemp("learning")
    root = make_dataset(base / "fh", "freihand", 8, seed=0)
    config = TrainConfig(data=str(root), out=str(base / "run"), preset="tiny", branch2="none", augment=(),
                         batch_size=16, steps=STEPS, checkpoint_every=STEPS, workers=0, val_limit=0)
    train(config)
    return config, base / "run"


def _constant_pose_hand3d_mm(run: Path, root: str) -> float:
    """hand3d EPE of predicting the run's mean pose on FreiHAND's evaluation hands (right hands, wrist root,
    all joints visible): mean pose (bone-normalised) x each hand's middle MCP->PIP bone against the hand
    made relative to its wrist; per-joint mean over hands, then mean over joints."""
    normed = np.asarray(runs.read_run(run)[1]["reference"]["normed"])
    dataset = open_dataset(root, "freihand", "evaluation")
    gt = np.stack([dataset[i].xyz_mm for i in range(len(dataset))])
    bone = np.linalg.norm(gt[:, 10] - gt[:, 9], axis=-1)
    errors = np.linalg.norm(normed[None] * bone[:, None, None] - (gt - gt[:, :1]), axis=-1)
    return float(errors.mean(axis=0).mean())


def _all_zero_heat_loss(config: TrainConfig, root: str) -> float:
    """L_heat of predicting all-zero maps: per sample Σ GT² over the maps, x 3 supervised stages."""
    spec = CropSpec.for_run(config, ModelConfig.from_preset(config.preset))
    crops = HandCrops(open_dataset(root, "freihand", "train"), spec)
    return 3 * float(np.mean([(crops[i]["heatmaps"].numpy() ** 2).sum() for i in range(len(crops))]))


@pytest.mark.slow
def test_the_heatmap_loss_falls_far_below_the_all_zero_level(overfit) -> None:
    config, run = overfit
    rows = read_metrics(run)
    zero = _all_zero_heat_loss(config, config.data)
    assert rows[0]["heat"] > 0.7 * zero  # it starts near the flat-map level...
    assert rows[-1]["heat"] < 0.4 * zero, (rows[-1]["heat"], zero)  # ...and leaves it far behind


@pytest.mark.slow
def test_the_heatmap_maxima_find_the_joints_and_the_pose_beats_a_constant_pose(overfit) -> None:
    config, run = overfit
    result = evaluate(run / "last.safetensors", "freihand", config.data, split="train", workers=0,
                      show_progress=False)
    # FreiHAND's 224-pixel images: a flat map's maximum lands tens of pixels from the joints
    assert result["keypoints_2d"]["mean_px"] < 20.0, result["keypoints_2d"]
    hand3d = result["constant_pose"]["hand3d"]
    assert hand3d["skill_ratio"] < 0.8, hand3d


@pytest.mark.slow
def test_validation_is_logged_and_drawn_beside_the_constant_pose(overfit, tmp_path) -> None:
    from PIL import Image

    from handdg.analysis.curves import curves_report

    config, run = overfit
    last = read_metrics(run)[-1]
    # the synthetic root has labelled evaluation images: they are the default validation set, which the run
    # settles on its own copy of the config (config.json), leaving the caller's as given
    saved = runs.read_run(run)[0]
    assert saved.val_data == config.data and saved.val_split == "evaluation" and config.val_data is None
    assert last["step"] == STEPS
    # the logged validation is the eval command's hand3d EPE of the step's weights on the validation split...
    scored = evaluate(run / "last.safetensors", "freihand", config.data, split="evaluation", workers=0,
                      show_progress=False)
    assert last["val_hand3d_mm"] == pytest.approx(scored["protocols"]["hand3d"]["epe_mean_mm"], rel=1e-6)
    # ...and val_constant_mm the run's mean pose scored on those hands, recomputed here by hand
    assert last["val_constant_mm"] == pytest.approx(_constant_pose_hand3d_mm(run, config.data), rel=1e-5)
    # held-out hands too are found far better than by the constant pose (41.0 vs 103.5 mm when written)
    assert last["val_hand3d_mm"] < 0.8 * last["val_constant_mm"], last
    # best.safetensors holds the lowest validation of the run
    best = runs.load_weights(run / "best.safetensors")
    lowest = min((r for r in read_metrics(run) if "val_hand3d_mm" in r), key=lambda r: r["val_hand3d_mm"])
    assert best.step == lowest["step"]
    png, pdf = curves_report([run], tmp_path / "curves")
    assert Image.open(png).size == (1200, 500) and pdf.stat().st_size > 0


def test_curves_of_a_folder_that_is_not_a_run_is_one_clear_error(tmp_path) -> None:
    from handdg.analysis.curves import curves_report
    from handdg.errors import HanddgError

    with pytest.raises(HanddgError, match="is not a training run"):
        curves_report([tmp_path], tmp_path / "curves")


def test_curves_title_names_the_shared_clip_or_several(tmp_path) -> None:
    from handdg.analysis.curves import _context

    base, clip = {"dataset": {"name": "freihand"}}, {"model": "handdg-synth", "weights": "builtin"}
    assert _context([base, base]).model == "none"
    assert _context([{**base, "clip": clip}] * 2).model == "handdg-synth"
    assert _context([{**base, "clip": clip}, base]).model == "several"
