import pytest
import torch

from handdg.errors import HanddgError
from handdg.run import runs
from handdg.run.config import TrainConfig


def test_a_run_directory_holds_its_config_and_provenance(tmp_path):
    config = TrainConfig(data="d", branch2="none", out=str(tmp_path))
    runs.create_run(tmp_path, config, {"clip": {"model": "ViT-B-32"}})
    again, provenance = runs.read_run(tmp_path)
    assert again == config and provenance["clip"] == {"model": "ViT-B-32"}
    with pytest.raises(HanddgError, match="without --resume"):
        runs.read_run(tmp_path / "elsewhere")


def test_checkpoints_round_trip_and_prune(tmp_path):
    config = TrainConfig(data="d", branch2="none", preset="tiny")
    runs.create_run(tmp_path, config, {})
    for step in (2, 4, 6):
        weights = {"w": torch.full((2, 2), float(step)), "bn.num_batches_tracked": torch.tensor(step)}
        runs.save_checkpoint(tmp_path, step, weights, {"optimizer": {"lr": step}}, config, keep=2,
                             model={"input_size": 64})
    assert runs.checkpoint_steps(tmp_path) == [4, 6] and runs.latest_checkpoint(tmp_path) == 6
    assert not (tmp_path / "checkpoints" / "step_2.opt.pt").exists()
    last = runs.load_weights(tmp_path / "last.safetensors")
    assert last.step == 6 and last.config == config and last.model == {"input_size": 64}
    assert torch.equal(last.weights["w"], torch.full((2, 2), 6.0))
    assert runs.load_state(tmp_path, 4) == {"optimizer": {"lr": 4}, "step": 4}


def test_an_interrupted_save_leaves_the_previous_checkpoint_newest(tmp_path):
    config = TrainConfig(data="d", branch2="none")
    runs.create_run(tmp_path, config, {})
    runs.save_checkpoint(tmp_path, 3, {"w": torch.ones(1)}, {}, config, keep=5)
    (tmp_path / "checkpoints" / "step_9.opt.pt").write_bytes(b"state written, weights not yet")
    (tmp_path / "checkpoints" / "step_9.safetensors.tmp").write_bytes(b"partial")
    assert runs.latest_checkpoint(tmp_path) == 3


def test_bad_checkpoint_files_are_one_line_errors(tmp_path):
    with pytest.raises(HanddgError, match="not found"):
        runs.load_weights(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(HanddgError, match="cannot read checkpoint"):
        runs.load_weights(bad)


def test_metrics_resume_drops_rows_after_the_checkpoint(tmp_path):
    log = runs.MetricsLog(tmp_path, ["loss"], resume_step=None)
    for step in range(1, 6):
        log.log(step, {"loss": 1.0 / step})
    log.close()
    log = runs.MetricsLog(tmp_path, ["loss"], resume_step=3)
    log.log(4, {"loss": 9.0})
    log.close()
    rows = runs.read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and rows[3]["loss"] == 9.0 and rows[1]["loss"] == 0.5
