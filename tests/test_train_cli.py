import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from handdg.cli import main
from handdg.run import runs
from handdg.train import loop
from train_helpers import tiny_config, tiny_freihand

TINY = ["--preset", "tiny", "--branch2", "none", "--batch-size", "4", "--heatmap-size", "16", "--log-every", "1",
        "--device", "cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_freihand(tmp_path_factory.mktemp("fh"))


def test_bad_train_options_are_one_line_errors(data, tmp_path, runner):
    result = runner.invoke(main, ["train", "--data", str(data), "--out", str(tmp_path / "a"), "--target", "stb"])
    assert result.exit_code == 2 and "give --store STORE" in result.output
    result = runner.invoke(main, ["train", "--out", str(tmp_path / "a"), "--resume", "--lr", "0.1"])
    assert result.exit_code == 2 and "--lr cannot change" in result.output
    result = runner.invoke(main, ["train", "--out", str(tmp_path / "a"), "--resume"])
    assert result.exit_code == 2 and "no run to resume" in result.output
    result = runner.invoke(main, ["train", "--data", str(data), "--out", str(tmp_path / "a"), "--augment", "mixup"])
    assert result.exit_code == 2 and "augmentation must be one of" in result.output


def _run(args, env, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "handdg", "train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.mark.slow
def test_kill_minus_nine_then_resume_gives_the_uninterrupted_losses(data, tmp_path, subprocess_env):
    env = {**subprocess_env, "OMP_NUM_THREADS": "1"}
    args = ["--data", str(data), *TINY, "--steps", "12", "--checkpoint-every", "3", "--augment", "normal"]
    killed = _run([*args, "--out", str(tmp_path / "killed")], env)
    while runs.latest_checkpoint(tmp_path / "killed") is None or runs.latest_checkpoint(tmp_path / "killed") < 3:
        assert killed.poll() is None, killed.stderr.read().decode()
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    torch.set_num_threads(1)  # as OMP_NUM_THREADS=1 in the subprocesses: same kernels, same sums
    loop.train(tiny_config(data, tmp_path / "whole", steps=12, checkpoint_every=3,
                           augment=("geometric", "jitter", "cutout", "noise", "sobel", "drop", "blur")))
    kept = runs.latest_checkpoint(tmp_path / "killed")
    assert kept < 12
    resumed = _run(["--out", str(tmp_path / "killed"), "--resume"], env)
    assert resumed.wait() == 0, resumed.stderr.read().decode()
    assert runs.read_metrics(tmp_path / "killed") == runs.read_metrics(tmp_path / "whole")
    assert len(runs.read_metrics(tmp_path / "whole")) == 12


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_process_with_twice_the_batch(data, tmp_path, subprocess_env):
    """Baseline without BatchNorm (on CPU each gloo process normalises its own batch), no negatives:
    DDP 2 x 2 sees the same samples per step as 1 x 4 and averages the same gradients, so the
    logged losses agree up to float summation order."""
    env = {**subprocess_env, "OMP_NUM_THREADS": "1"}
    common = ["--data", str(data), *TINY, "--steps", "3", "--norm", "none"]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "handdg", "train", *common, "--batch-size", "2", "--out", str(tmp_path / "ddp")],
                         env=env, capture_output=True, text=True)
    assert ddp.returncode == 0, ddp.stderr
    assert ddp.stdout.count("run:") == 1
    torch.set_num_threads(1)
    loop.train(tiny_config(data, tmp_path / "one", steps=3, batch_size=4, norm="none"))
    two, one = runs.read_metrics(tmp_path / "ddp"), runs.read_metrics(tmp_path / "one")
    assert [r["step"] for r in two] == [1, 2, 3]
    for a, b in zip(two, one):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["pose"] == pytest.approx(b["pose"], rel=1e-5)
    assert runs.checkpoint_steps(tmp_path / "ddp") == [3]
