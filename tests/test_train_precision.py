"""Mixed precision and data loading: auto choices per device, autocast in the step, fp16 loss
scaling, exact resume in every precision, recorded choices, worker defaults."""

import json

import pytest
import torch

from handdg import loading
from handdg.device.precision import Precision, resolve_memory_format, resolve_precision
from handdg.errors import HanddgError
from handdg.evaluation.evaluate import evaluate
from handdg.run import runs
from handdg.train import lifecycle, loop
from train_helpers import tiny_config, tiny_freihand

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    torch.set_num_threads(1)
    return tiny_freihand(tmp_path_factory.mktemp("fh"))


def _losses(out):
    return [(r["step"], r["loss"], r["heat"], r["pose"]) for r in runs.read_metrics(out)]


def test_auto_is_fp32_contiguous_on_cpu_and_channels_last_only_for_reduced_precision_on_cuda():
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("fp16", CPU) == "fp16"
    assert resolve_memory_format("auto", CPU, "bf16") == "contiguous"
    assert resolve_memory_format("auto", CUDA, "bf16") == "channels_last"
    assert resolve_memory_format("auto", CUDA, "fp32") == "contiguous"
    assert resolve_memory_format("channels_last", CPU, "fp32") == "channels_last"
    with pytest.raises(HanddgError, match="--precision must be one of auto, fp32, bf16, fp16"):
        resolve_precision("fp8", CPU)


def test_autocast_runs_convolutions_in_the_chosen_format():
    conv, x = torch.nn.Conv2d(3, 4, 3), torch.rand(1, 3, 8, 8)
    for name, dtype in [("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)]:
        with Precision(name, CPU).autocast():
            assert conv(x).dtype == dtype


def test_fp16_loss_scaling_skips_a_step_whose_gradients_overflow_and_lowers_the_scale():
    weight = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([weight], lr=0.5)
    amp = Precision("fp16", CPU)
    start = amp.scaler.get_scale()
    amp.step((weight * torch.tensor([float("inf"), 1.0])).sum(), optimizer)
    assert weight.tolist() == [1.0, 1.0] and amp.scaler.get_scale() == start / 2
    optimizer.zero_grad()
    amp.step(weight.sum(), optimizer)
    assert weight.tolist() == [0.5, 0.5]  # the unscaled gradient (1, 1) times lr
    assert amp.state_dict()["grad_scaler"]["scale"] == start / 2
    assert Precision("bf16", CPU).state_dict() == {}


def test_a_bf16_run_records_its_precision_and_tracks_the_fp32_losses(data, tmp_path):
    fp32 = loop.train(tiny_config(data, tmp_path / "fp32", steps=2, workers=0))
    bf16 = loop.train(tiny_config(data, tmp_path / "bf16", steps=2, workers=0, precision="bf16"))
    saved = json.loads((bf16 / "config.json").read_text())["config"]
    assert saved["precision"] == "bf16" and saved["memory_format"] == "contiguous"
    assert json.loads((fp32 / "config.json").read_text())["config"]["precision"] == "fp32"  # auto on CPU
    reduced, full = _losses(bf16), _losses(fp32)
    assert reduced != full, "bf16 autocast should change the arithmetic"
    for (_, a, *_), (_, b, *_) in zip(reduced, full):
        assert a == pytest.approx(b, rel=0.05)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_resume_is_exact_in_every_precision(data, tmp_path, precision):
    options = dict(steps=4, checkpoint_every=2, precision=precision, augment=("geometric", "jitter"),
                   lr_schedule="constant")
    whole = loop.train(tiny_config(data, tmp_path / "whole", **options))
    loop.train(tiny_config(data, tmp_path / "cut", **{**options, "steps": 2}))
    lifecycle.resume(tmp_path / "cut", steps=4)
    assert _losses(tmp_path / "cut") == _losses(whole) and len(_losses(whole)) == 4
    state = runs.load_state(whole, 4)
    assert ("grad_scaler" in state) == (precision == "fp16")


def test_eval_in_bf16_records_it_and_stays_close_to_fp32(data, tmp_path):
    ckpt = loop.train(tiny_config(data, tmp_path / "run", steps=1, checkpoint_every=1)) / "last.safetensors"
    full = evaluate(ckpt, "freihand", data, "evaluation", show_progress=False, device="cpu", workers=0)
    reduced = evaluate(ckpt, "freihand", data, "evaluation", show_progress=False, device="cpu", workers=1,
                       precision="bf16")
    assert (full["precision"], reduced["precision"]) == ("fp32", "bf16")
    a, b = full["protocols"]["official"]["epe_mean_mm"], reduced["protocols"]["official"]["epe_mean_mm"]
    assert b == pytest.approx(a, rel=0.05)


@pytest.mark.parametrize("cores, local_world, workers", [(1, None, 0), (2, None, 1), (16, None, 15),
                                                         (16, "4", 3), (128, None, 32)])
def test_default_workers_leave_a_core_per_process(monkeypatch, cores, local_world, workers):
    monkeypatch.setattr(loading, "usable_cores", lambda: cores)
    if local_world is None:
        monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("LOCAL_WORLD_SIZE", local_world)
    assert loading.default_workers() == workers


def test_loader_options_pin_memory_only_for_cuda_and_keep_workers_alive():
    assert loading.loader_options(0, CPU) == {"num_workers": 0, "pin_memory": False,
                                              "persistent_workers": False, "prefetch_factor": None,
                                              "worker_init_fn": None}
    on_gpu = loading.loader_options(3, CUDA)
    assert on_gpu["pin_memory"] and on_gpu["persistent_workers"] and on_gpu["prefetch_factor"] == 4
    assert on_gpu["worker_init_fn"] is None  # a GPU's workers are what it waits for
    assert loading.loader_options(1, CPU)["worker_init_fn"] is loading.yield_to_the_model


def test_a_cpu_runs_worker_runs_at_lower_priority_than_the_model():
    import os

    from torch.utils.data import DataLoader

    class Niceness(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return os.nice(0)

    seen = {int(n) for n in DataLoader(Niceness(), batch_size=1, **loading.loader_options(1, CPU))}
    assert seen == {min(19, os.nice(0) + loading.WORKER_NICENESS)}  # the kernel caps niceness at 19


def test_channels_last_runs_the_whole_network_and_matches_contiguous(data, tmp_path):
    plain = loop.train(tiny_config(data, tmp_path / "plain", steps=2, workers=0))
    last = loop.train(tiny_config(data, tmp_path / "last", steps=2, workers=0, memory_format="channels_last"))
    assert json.loads((last / "config.json").read_text())["config"]["memory_format"] == "channels_last"
    for (_, a, *_), (_, b, *_) in zip(_losses(last), _losses(plain)):
        assert a == pytest.approx(b, rel=1e-4)


def test_precision_flags_on_the_command_line(data, tmp_path, runner):
    from handdg.cli import main

    out = tmp_path / "cli"
    args = ["train", "--data", str(data), "--out", str(out), "--preset", "tiny", "--branch2", "none",
            "--batch-size", "4", "--heatmap-size", "16", "--steps", "1", "--device", "cpu", "--workers", "0"]
    result = runner.invoke(main, [*args, "--precision", "bf16"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["config"]["precision"] == "bf16"
    result = runner.invoke(main, ["train", "--out", str(out), "--resume", "--precision", "fp32"])
    assert result.exit_code == 2 and "--precision cannot change" in result.output
    result = runner.invoke(main, [*args, "--precision", "fp8"])
    assert result.exit_code == 2 and "fp8" in result.output
    result = runner.invoke(main, ["eval", str(out / "last.safetensors"), "--dataset", "freihand", "--root", str(data),
                                  "--split", "evaluation", "--device", "cpu", "--workers", "0", "--precision", "bf16",
                                  "--out", str(tmp_path / "eval.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "eval.json").read_text())["precision"] == "bf16"


@pytest.mark.slow
def test_compile_trains_the_same_losses_as_eager_and_saves_plain_weights(data, tmp_path):
    from safetensors.torch import load_file

    eager = loop.train(tiny_config(data, tmp_path / "eager", steps=3, workers=0))
    compiled = loop.train(tiny_config(data, tmp_path / "compiled", steps=3, workers=0, compile=True))
    assert json.loads((compiled / "config.json").read_text())["config"]["compile"] is True
    assert [s for s, *_ in _losses(compiled)] == [1, 2, 3]
    for (_, a, *_), (_, b, *_) in zip(_losses(compiled), _losses(eager)):
        assert a == pytest.approx(b, rel=1e-4)
    assert sorted(load_file(compiled / "last.safetensors")) == sorted(load_file(eager / "last.safetensors"))


def test_compile_without_a_cpu_compiler_is_one_line_and_starts_no_run(data, tmp_path, runner, monkeypatch):
    import shutil

    from handdg.cli import main

    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = tmp_path / "compiled"
    result = runner.invoke(main, ["train", "--data", str(data), "--out", str(out), "--preset", "tiny",
                                  "--branch2", "none", "--batch-size", "4", "--heatmap-size", "16", "--steps", "1",
                                  "--device", "cpu", "--workers", "0", "--compile"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--compile needs a C++ compiler" in lines[0] and "--eager" in lines[0]
    assert not (out / "config.json").exists()
