"""`handdg reproduce` at toy sizes: tiny datasets, the tiny network, 2 steps, 2 seeds."""

from __future__ import annotations

import csv
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from handdg.cli import main
from handdg.reproduce.plan import VARIANTS
from train_helpers import tiny_freihand, tiny_rhd, tiny_stb, tiny_store

T_975_1 = 12.706204736174698
"""Student t quantile 0.975 with 1 degree of freedom (two seeds -> one paired difference d.o.f.)."""
TINY = ["--preset", "tiny", "--steps", "2", "--batch-size", "4", "--set", "heatmap_size=16", "--device", "cpu"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Tiny FreiHAND + its feature store (tiny random CLIP), tiny STB and RHD test sets."""
    folder = tmp_path_factory.mktemp("inputs")
    root = tiny_freihand(folder / "fh")
    return {"--data": root, "--store": tiny_store(root, folder / "fh.zarr"), "--stb": tiny_stb(folder / "stb"),
            "--rhd": tiny_rhd(folder / "rhd")}


def _args(table: str, inputs: dict, out: Path, *extra: str, seeds: int = 2) -> list[str]:
    args = ["reproduce", table, "--out", str(out), "--seeds", str(seeds), *TINY, *extra]
    for option, path in inputs.items():
        args += [option, str(path)]
    return args


@pytest.fixture(scope="module")
def reproduced(inputs, tmp_path_factory):
    """One `handdg reproduce all` call: 13 variants x 2 seeds, trained and evaluated."""
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("all")
    result = CliRunner().invoke(main, _args("all", inputs, out))
    assert result.exit_code == 0, result.output
    return out, result.output


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _epe(out: Path, run: str, dataset: str, protocol: str = "official") -> float:
    data = json.loads((out / "runs" / run / f"eval_{dataset}.json").read_text())
    return data["protocols"][protocol]["epe_mean_mm"]


@pytest.mark.slow
def test_all_trains_each_variant_and_seed_once_and_fills_every_measured_cell(reproduced):
    out, output = reproduced
    runs = sorted(p.parent.relative_to(out / "runs") for p in (out / "runs").glob("*/seed*/eval_rhd.json"))
    assert runs == sorted(Path(v.name) / f"seed{s}" for v in VARIANTS for s in (0, 1))
    assert "26 runs: 26 done, 0 running, 0 failed, 0 interrupted, 0 to do" in output
    assert output.count("training 2 steps") == 26  # the shared runs (baseline, r 0.6) once, not per table
    for name in ("table3", "table4a", "table4b", "table5", "table6"):
        for row in _csv(out / "tables" / f"{name}.csv"):
            measured = row["method"] != "Zhang et al. [60]" and row["setting"] != "printed row 2"
            assert (row["runs"] == "2") == measured, row
    assert (out / "tables" / "tables.md").is_file()


@pytest.mark.slow
def test_a_cell_is_the_mean_of_its_runs_and_the_difference_is_paired_by_seed(reproduced):
    out, _ = reproduced
    rows = _csv(out / "tables" / "table4a.csv")
    row = next(r for r in rows if r["setting"] == "0.8" and r["dataset"] == "rhd" and r["protocol"] == "official")
    a = [_epe(out, f"ie-te-r0.8/seed{s}", "rhd") for s in (0, 1)]
    base = [_epe(out, f"baseline/seed{s}", "rhd") for s in (0, 1)]
    assert float(row["mean_epe_mm"]) == pytest.approx((a[0] + a[1]) / 2, abs=1e-4)
    assert float(row["std_epe_mm"]) == pytest.approx(abs(a[0] - a[1]) / math.sqrt(2), abs=1e-4)
    d = [a[0] - base[0], a[1] - base[1]]
    half = T_975_1 * (abs(d[0] - d[1]) / math.sqrt(2)) / math.sqrt(2)
    assert float(row["diff_vs_baseline_mm"]) == pytest.approx((d[0] + d[1]) / 2, abs=1e-4)
    assert float(row["diff_ci95_low_mm"]) == pytest.approx((d[0] + d[1]) / 2 - half, abs=1e-4)
    assert float(row["diff_ci95_high_mm"]) == pytest.approx((d[0] + d[1]) / 2 + half, abs=1e-4)
    assert row["paper_epe_mm"] == "49.43"
    hand3d = next(r for r in rows if r["setting"] == "0.8" and r["dataset"] == "rhd" and r["protocol"] == "hand3d")
    assert float(hand3d["mean_epe_mm"]) == pytest.approx(
        sum(_epe(out, f"ie-te-r0.8/seed{s}", "rhd", "hand3d") for s in (0, 1)) / 2, abs=1e-4)
    # Table 3's "Ours" takes the paper's preset ratio per target: r 0.6 on STB, r 0.9 on RHD.
    ours = {r["dataset"]: r for r in _csv(out / "tables" / "table3.csv") if r["method"] == "Ours" and r["protocol"] == "official"}
    assert float(ours["stb"]["mean_epe_mm"]) == pytest.approx(sum(_epe(out, f"ie-te-r0.6/seed{s}", "stb") for s in (0, 1)) / 2, abs=1e-4)
    assert float(ours["rhd"]["mean_epe_mm"]) == pytest.approx(sum(_epe(out, f"ie-te-r0.9/seed{s}", "rhd") for s in (0, 1)) / 2, abs=1e-4)
    markdown = (out / "tables" / "table4a.md").read_text()
    mean, std = (a[0] + a[1]) / 2, abs(a[0] - a[1]) / math.sqrt(2)
    assert f"| IE+TE | 0.8 |" in markdown and f"{mean:.2f} ± {std:.2f} (n=2)" in markdown


@pytest.mark.slow
def test_list_then_each_run_index_then_collect_gives_the_tables_of_one_call(reproduced, inputs, tmp_path, runner):
    out_all, _ = reproduced
    out = tmp_path / "cluster"
    listed = runner.invoke(main, _args("3", inputs, out, "--list"))
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert len(lines) == 6 and all(line.endswith(f"--run-index {i}") for i, line in enumerate(lines))
    assert not out.exists()  # listing writes nothing
    for line in lines:
        args = shlex.split(line)
        assert args[:3] == [sys.executable, "-m", "handdg"]
        result = runner.invoke(main, args[3:])
        assert result.exit_code == 0, result.output
    collected = runner.invoke(main, _args("3", inputs, out, "--collect"))
    assert collected.exit_code == 0, collected.output
    assert (out / "tables" / "table3.csv").read_text() == (out_all / "tables" / "table3.csv").read_text()
    body = lambda path: path.read_text().split("\n", 2)[2]  # noqa: E731 - after the preamble naming the command
    assert body(out / "tables" / "table3.md") == body(out_all / "tables" / "table3.md")


def test_a_run_locked_by_another_process_is_skipped_and_shown_running(inputs, tmp_path, runner):
    out = tmp_path / "locked"
    variant_dir = out / "runs" / "baseline"
    variant_dir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(variant_dir / '.writers.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.lockf(fd, fcntl.LOCK_EX, 1, 1)\nprint('held', flush=True)\ntime.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        index = 3  # seed-major: baseline/seed1 is the first run of seed 1 in table 3's 3 variants
        result = runner.invoke(main, _args("3", inputs, out, "--run-index", str(index)))
        assert result.exit_code == 0, result.output
        assert "another process is running it" in result.output
        assert not (variant_dir / "seed1").exists()
        dry = runner.invoke(main, _args("3", inputs, out, "--dry-run"))
        assert "running in another process" in dry.output and "1 running" in dry.output
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_kill_9_midway_then_rerun_finishes_without_redoing_finished_runs(inputs, tmp_path, runner, subprocess_env):
    out = tmp_path / "killed"
    args = _args("3", inputs, out, "--set", "checkpoint_every=1", seeds=1)
    args[args.index("--steps") + 1] = "6"
    assert runner.invoke(main, [*args, "--run-index", "0"]).exit_code == 0  # the baseline, finished before the kill
    finished = out / "runs" / "baseline" / "seed0"
    kept = {p: p.stat().st_mtime_ns for p in finished.rglob("*") if p.is_file()}
    assert (finished / "eval_rhd.json") in kept
    proc = subprocess.Popen([sys.executable, "-m", "handdg", *args], env=subprocess_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = out / "runs" / "ie-te-r0.9" / "seed0" / "checkpoints"
    deadline = time.monotonic() + 120
    while not list(second.glob("step_*.safetensors")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    dry = runner.invoke(main, [*args, "--dry-run"])
    assert "3 runs: 1 done" in dry.output and "interrupted  ie-te-r0.9/seed0" in dry.output, dry.output
    again = runner.invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "baseline/seed0: training" not in again.output and "ie-te-r0.9/seed0: resuming at step" in again.output
    assert {p: p.stat().st_mtime_ns for p in finished.rglob("*") if p.is_file()} == kept
    assert "3 runs: 3 done" in again.output


def test_paired_difference_t_interval_by_hand():
    from handdg.reproduce.summary import Cell, paired_difference

    row = Cell({0: 11.0, 1: 12.0, 2: 13.0, 3: 99.0}, {})
    base = Cell({0: 10.0, 1: 10.0, 2: 10.0}, {})
    d = paired_difference(row, base)  # seed 3 has no baseline: pairs 1, 2, 3 -> mean 2, sd 1
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2 d.o.f.) · sd / sqrt(n)
    assert (d.pairs, d.mean) == (3, 2.0)
    assert d.low == pytest.approx(2.0 - half) and d.high == pytest.approx(2.0 + half)
    single = paired_difference(Cell({1: 12.0}, {}), base)
    assert (single.mean, single.low, single.pairs) == (2.0, None, 1)
    assert paired_difference(Cell({5: 1.0}, {}), base) is None


def _error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_bad_inputs_are_one_line_and_exit_2_before_anything_is_written(inputs, tmp_path, runner):
    out = tmp_path / "bad"
    assert "unknown table '7'" in _error_line(runner.invoke(main, _args("7", inputs, out)))
    missing = dict(inputs, **{"--rhd": tmp_path / "nowhere"})
    assert "--rhd" in _error_line(runner.invoke(main, _args("3", missing, out))) and "does not exist" in \
        _error_line(runner.invoke(main, _args("3", missing, out)))
    other = tiny_freihand(tmp_path / "other", unique=2)
    wrong_store = _error_line(runner.invoke(main, _args("3", dict(inputs, **{"--data": other}), out)))
    assert "feature store" in wrong_store and "not from freihand/train" in wrong_store
    not_stb = _error_line(runner.invoke(main, _args("3", dict(inputs, **{"--stb": inputs["--rhd"]}), out)))
    assert "not an STB root" in not_stb
    assert "--set seed" in _error_line(runner.invoke(main, _args("3", inputs, out, "--set", "seed=4")))
    assert "--set nonsense" in _error_line(runner.invoke(main, _args("3", inputs, out, "--set", "nonsense=1")))
    assert not out.exists()


@pytest.mark.slow
def test_a_run_dir_made_with_other_settings_is_refused_and_left_alone(reproduced, inputs, runner):
    out, _ = reproduced
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    args = _args("4a", inputs, out)
    args[args.index("--steps") + 1] = "3"
    line = _error_line(runner.invoke(main, args))
    assert "runs/baseline/seed0 holds a run made with other settings (steps 2 there, 3 here)" in line
    assert _error_line(runner.invoke(main, [*args, "--collect"])) == line
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_a_failing_run_is_recorded_with_its_last_line_and_retried_without_retraining(inputs, tmp_path, runner,
                                                                                    monkeypatch):
    from handdg.evaluation import evaluate

    real = evaluate.evaluate

    def out_of_memory(checkpoint, layout, *args, **kwargs):
        if layout == "rhd":
            raise RuntimeError("CUDA error\nCUDA out of memory. Tried to allocate 2.00 GiB")
        return real(checkpoint, layout, *args, **kwargs)

    out = tmp_path / "failing"
    args = _args("3", inputs, out, "--run-index", "0", seeds=1)
    monkeypatch.setattr(evaluate, "evaluate", out_of_memory)
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: 1 run(s) failed, first baseline/seed0 (eval rhd: RuntimeError: CUDA out of memory. Tried to allocate "
        "2.00 GiB); fix the cause and run the same command again (finished runs are kept)")
    dry = runner.invoke(main, _args("3", inputs, out, "--dry-run", seeds=1))
    assert "failed       baseline/seed0 (eval rhd: RuntimeError: CUDA out of memory" in dry.output
    assert "1 evaluation(s) (failed before" in dry.output
    monkeypatch.setattr(evaluate, "evaluate", real)
    again = runner.invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "training" not in again.output and "evaluating on rhd" in again.output and "evaluating on stb" not in again.output
    assert not (out / "runs" / "baseline" / "seed0" / "failed.json").exists()


def test_variants_runs_only_those_and_the_baseline_and_other_rows_read_not_run(inputs, tmp_path, runner):
    out = tmp_path / "some"
    listed = runner.invoke(main, _args("4a", inputs, out, "--variants", "ie", "--list", seeds=1))
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert len(lines) == 2 and all("--variants ie --run-index" in line for line in lines)
    dry = runner.invoke(main, _args("4a", inputs, out, "--variants", "ie,ie", "--dry-run", seeds=1))
    assert "2 runs: 0 done" in dry.output and "baseline/seed0" in dry.output and "ie/seed0" in dry.output
    for index, line in enumerate(lines):  # each listed command rebuilds the same two-run plan
        result = runner.invoke(main, shlex.split(line)[3:])
        assert result.exit_code == 0, result.output
    assert sorted(p.parent.name for p in (out / "runs").glob("*/seed0")) == ["baseline", "ie"]
    collected = runner.invoke(main, _args("4a", inputs, out, "--variants", "ie", "--collect", seeds=1))
    assert collected.exit_code == 0, collected.output
    rows = {(r["method"], r["setting"], r["dataset"], r["protocol"]): r
            for r in _csv(out / "tables" / "table4a.csv")}
    for dataset in ("stb", "rhd"):
        ie = rows["IE", "", dataset, "official"]
        assert ie["runs"] == "1" and float(ie["mean_epe_mm"]) == pytest.approx(_epe(out, "ie/seed0", dataset), abs=1e-4)
        assert float(ie["diff_vs_baseline_mm"]) == pytest.approx(
            _epe(out, "ie/seed0", dataset) - _epe(out, "baseline/seed0", dataset), abs=2e-4)
        assert all(rows["IE+TE", r, dataset, "hand3d"]["runs"] == "0" for r in ("0.9", "0.8", "0.6", "0.4"))
    markdown = (out / "tables" / "table4a.md").read_text()
    assert "only the variants baseline, ie (--variants" in markdown.splitlines()[0]
    assert markdown.count("| IE+TE | 0.9 | not run |") == 2  # one block per protocol
    assert "| Baseline |  | not run" not in markdown and "| IE |  | not run" not in markdown


def test_unknown_or_unneeded_variant_is_one_line_and_exit_2(inputs, tmp_path, runner):
    out = tmp_path / "bad-variants"
    unknown = _error_line(runner.invoke(main, _args("4a", inputs, out, "--variants", "baseline,ie-te-r0.7")))
    assert "--variants ie-te-r0.7: no such variant; choose from baseline, ie, ie-te-r0.9" in unknown
    unneeded = _error_line(runner.invoke(main, _args("4a", inputs, out, "--variants", "te-sum", "--list")))
    assert "--variants te-sum: fills no row" in unneeded and "ie-te-r0.4" in unneeded
    assert not out.exists()
