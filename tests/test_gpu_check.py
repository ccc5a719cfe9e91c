"""benchmarks/gpu_check.py at toy size on CPU: every stage runs and the JSON and table say what ran."""

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import gpu_check  # noqa: E402


@pytest.mark.slow
def test_the_gpu_check_runs_every_stage_at_toy_size_on_cpu(tmp_path, capsys):
    path = gpu_check.main(["--device", "cpu", "--out", str(tmp_path)])
    result = json.loads(path.read_text())
    details = result["details"]
    assert result["quick"] is True and details["preset"] == "tiny"
    assert details["featurize"]["images"] == 12 and details["featurize"]["bare_img_s"] > 0
    runs = details["train"]
    assert [(t["precision"], t["memory_format"]) for t in runs] == [("fp32", "contiguous"), ("bf16", "contiguous")]
    for t in runs:
        assert 0 < t["data_wait_s"] < t["step_s"] and t["compute_s"] == pytest.approx(t["step_s"] - t["data_wait_s"])
        assert t["samples_per_s"] == pytest.approx(details["batch"] / t["step_s"])
        assert 0 < t["fraction_of_peak"] < 1
    assert details["ddp"]["ok"] and details["ddp"]["backend"] == "gloo" and details["ddp"]["world_size"] == 1
    assert details["eval"]["precision"] == "fp32" and details["eval"]["count"] >= 1
    assert details["retrieval"]["faiss_gpu"] is False and details["retrieval"]["same_as_cpu"] is True
    assert set(details["stage_s"]) == {"synth", "featurize", "styles", "flops", "train fp32", "train bf16", "ddp",
                                       "eval", "retrieval"}
    assert details["styles"]["prompts"] == 2 and details["styles"]["s_per_prompt"] > 0
    last = capsys.readouterr().out.rstrip().splitlines()
    assert last[-1].startswith("retrieval") and any(line.startswith("gpu_check (") for line in last[-24:])
