"""Claim 13: how close training runs to this machine's limit, per preset, and what the input pipeline costs.

For each preset (tiny, small, paper) and each place the input pipeline's costly half runs
(`--augment-on workers`: every sample cut, heat-mapped and jittered in a DataLoader worker; `device`:
workers only decode and draw, the batch is warped, heat-mapped and jittered on the training device,
handdg.inputs.batch_augment), on a synthetic FreiHAND set (`handdg.synth`, 224 px JPEGs), in one run:

Modes: input in the workers or on the device (fp32), and in the workers with `--precision bf16
--memory-format channels_last` (fast only where the CPU has bf16 matrix units, e.g. AMX).

- full step: `handdg.train.loop.train` with the default workers, timed by the loop's own hook
  (handdg.train.timing.StepTimer): samples/s, and the share of step time spent waiting for data;
- step on ready batches: the same with `workers=0`, where each batch is made in-process before the
  timed part, so its compute time is the step alone (no input pipeline, no worker competing for cores);
- input pipeline alone: CPU milliseconds per sample of the worker's job (this process, one thread), and
  samples/s per core;
- FLOPs per sample of a training step (torch's FlopCounterMode, forward + backward) and the fraction of
  the fp32 matmul bound measured here in the same run (a 1024² matmul at the training thread count);
- where a step's CPU time goes: the share of each kind of op (convolutions forward and backward, matmuls,
  batch norm, pooling and resampling, the optimiser, the rest) in a torch.profiler trace of the step;
- cores an H200 needs on the paper preset: (its samples/s at `--utilisation` of `--gpu-tflops` / the
  worker's samples/s per core) + 1 for the training process;
- before and after: the default mode measured again under the code of commit `--before` (a git worktree run
  in a child process, same data, same machine, same run of this script), and the speed-up of today's code.

Usage: python benchmarks/bench_throughput.py [--quick] [--threads N] [--presets tiny,small,paper]
       [--steps 30] [--paper-steps 6] [--paper-batch 8] [--unique 64] [--gpu-tflops 790] [--utilisation 0.4]
       [--before REV|none]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from harness import Claim, count_flops, imported_from_library, parse_args, print_table, run_at_commit, write_result

MODES = {"workers": {"augment_on": "workers"}, "device": {"augment_on": "device"},
         "bf16": {"augment_on": "workers", "precision": "bf16", "memory_format": "channels_last"}}
"""Input pipeline in the workers or on the device (fp32), and in the workers with bf16 autocast + channels_last."""
BATCH = 32
BEFORE = "d1760c1"
"""The code before the input cache, the fused Adam and the allocator setting (2026-12-03)."""


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--presets", default="tiny,small,paper", help="network presets, comma-separated")
    ap.add_argument("--steps", type=int, default=30, help="timed training steps per run (tiny, small)")
    ap.add_argument("--paper-steps", type=int, default=6, help="timed training steps per run (paper)")
    ap.add_argument("--paper-batch", type=int, default=8, help="batch of the paper preset (CPU time)")
    ap.add_argument("--unique", type=int, default=64, help="synthetic FreiHAND hands (x4 images)")
    ap.add_argument("--samples", type=int, default=96, help="samples timed for the input pipeline's CPU cost")
    ap.add_argument("--gpu-tflops", type=float, default=790.0, help="the GPU's dense bf16 TFLOP/s (H200: ~790)")
    ap.add_argument("--utilisation", type=float, default=0.4, help="fraction of --gpu-tflops training reaches")
    ap.add_argument("--before", default=BEFORE, help="commit whose code is measured too, in the default mode (none: skip)")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)


def matmul_bound(threads: int, size: int = 1024, repeats: int = 10) -> float:
    """fp32 matmul GFLOP/s of this machine at the training thread count (best of `repeats`)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.rand(size, size), torch.rand(size, size)
    a @ b
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def base_config(root: Path, preset: str, batch: int, steps: int, mode: str):
    """A baseline run of `preset` with the official augmentation, in `mode` (MODES)."""
    from handdg.run.config import TrainConfig

    return TrainConfig(data=str(root), preset=preset, branch2="none", batch_size=batch, steps=steps,
                       checkpoint_every=10 * steps, log_every=10 * steps, device="cpu", val_data=None, val_limit=0,
                       **MODES[mode])


def timed_run(config, out: Path) -> dict[str, float]:
    """`train` with the loop's StepTimer: median wait / compute / step seconds and the waiting share."""
    from handdg.train.loop import train
    from handdg.train.timing import StepTimer

    timer = StepTimer(warm_up=3)
    train(replace(config, out=str(out)), timer=timer)
    return timer.summary()


def network_step(config, batch: int, optimise: bool = False):
    """One training step of `config`'s network on fixed random tensors (forward + losses + backward, and Adam)."""
    import torch

    from handdg.model.losses import total_loss
    from handdg.model.network import HandPoseNet
    from handdg.train import loop

    net = HandPoseNet(loop.model_config(config, 512)).train()
    for module in (net.branch2, net.projection):
        module.requires_grad_(False)
    trained = [p for p in net.parameters() if p.requires_grad]
    optimiser = loop.adam(trained, 1e-3) if hasattr(loop, "adam") else torch.optim.Adam(trained, 1e-3)
    size = net.config.input_size
    x, side = torch.rand(batch, 3, size, size), torch.ones(batch)
    gt = torch.rand(batch, 21, config.heatmap_size, config.heatmap_size)
    coords, rot = torch.randn(batch, 21, 3), torch.eye(3).expand(batch, 3, 3).contiguous()

    def step() -> None:
        out = net(x, side, None, gt_heatmaps=gt if config.gt_lifting else None)
        total_loss(out, gt, coords, rot, loop.loss_config(config)).total.backward()
        if optimise:
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)

    return step


def flops_per_sample(config) -> float:
    """Training FLOPs per sample of one step of `config`'s network (forward + losses + backward)."""
    return count_flops(network_step(config, 4)) / 4


PROFILE_KINDS = [
    ("convolution backward", ("convolution_backward",)),
    ("convolution forward", ("mkldnn_convolution", "_convolution", "conv2d", "thnn_conv")),
    ("matmul (lifting FCs, losses)", ("addmm", "aten::mm", "bmm", "matmul", "linear")),
    ("batch norm", ("batch_norm",)),
    ("pooling and resampling", ("pool", "upsample", "interpolate", "pad")),
    ("optimiser", ("adam", "optimizer", "_foreach", "lerp", "addcdiv", "addcmul", "sqrt")),
]
"""What each share of a profiled step is, by the names of the ATen ops (first match wins); the rest is elementwise."""


def profile_shares(config, batch: int, steps: int = 4) -> dict[str, float]:
    """Share of one network step's self CPU time per kind of op (torch.profiler, on ready tensors)."""
    from torch.profiler import ProfilerActivity, profile

    step = network_step(config, batch, optimise=True)
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    totals: dict[str, float] = {}
    for event in prof.key_averages():
        if not event.key.startswith("aten::") and "Optimizer" not in event.key:
            continue
        name = event.key.lower()
        kind = next((k for k, names in PROFILE_KINDS if any(n in name for n in names)),
                    "elementwise, copies and the rest")
        totals[kind] = totals.get(kind, 0.0) + event.self_cpu_time_total
    whole = sum(totals.values()) or 1.0
    return {kind: time / whole for kind, time in sorted(totals.items(), key=lambda kv: -kv[1])}


def worker_cpu_ms(config, samples: int) -> float:
    """CPU milliseconds per sample of a DataLoader worker's job for `config` (this process, one thread)."""
    import torch

    from handdg.data import open_dataset
    from handdg.inputs.batches import HandCrops
    from handdg.train.loop import crop_spec, model_config

    from handdg.train import loop

    dataset = open_dataset(config.data, "freihand", "train")
    spec = crop_spec(config, model_config(config, 512))
    if hasattr(loop, "training_crops"):
        crops = loop.training_crops(config, dataset, spec, keep_clean=False)
    else:  # code from before the decoded-image cache (--before)
        crops = HandCrops(dataset, spec, config.augment, on_device=config.augment_on == "device")
    keys = [(i % len(crops), 1000 + i) for i in range(samples)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        crops[keys[0]]
        start = time.process_time()
        for key in keys:
            crops[key]
        return 1e3 * (time.process_time() - start) / samples
    finally:
        torch.set_num_threads(threads)


def measure_mode(root: Path, work: Path, preset: str, mode: str, args: argparse.Namespace) -> dict:
    """Full step, step on ready batches and the worker's CPU cost of one preset in one mode."""
    batch = args.paper_batch if preset == "paper" else BATCH
    steps = args.paper_steps if preset == "paper" else args.steps
    config = base_config(root, preset, batch, steps + 3, mode)
    full = timed_run(config, work / f"{preset}-{mode}-full")
    ready = timed_run(replace(config, workers=0), work / f"{preset}-{mode}-ready")
    return {"full": full, "ready": ready, "worker_cpu_ms": worker_cpu_ms(config, args.samples), "workers": config.workers}


def measure_before(root: Path, work: Path, presets: list[str], args: argparse.Namespace) -> dict | None:
    """The default mode of each preset under commit `args.before`'s code: a worktree, measured by a child
    process of this script that imports handdg from it (same data, same machine, same run)."""
    if args.before == "none":
        return None
    out = work / "before.json"
    argv = ["--child", str(out), "--presets", ",".join(presets), "--threads", str(args.threads),
            "--steps", str(args.steps), "--paper-steps", str(args.paper_steps), "--paper-batch",
            str(args.paper_batch), "--samples", str(args.samples), "--out", str(work)] + (["--quick"] * args.quick)
    commit = run_at_commit(args.before, work / "before", __file__, argv, {"HANDDG_BENCH_DATA": str(root)})
    return {"commit": commit, "presets": json.loads(out.read_text())}


def child_main(args: argparse.Namespace) -> None:
    """--child: measure the default mode of each preset with the handdg on PYTHONPATH (another commit's)."""
    imported_from_library()
    root, work = Path(os.environ["HANDDG_BENCH_DATA"]), args.child.parent / "before-runs"
    found = {}
    for preset in [p for p in args.presets.split(",") if p]:
        found[preset] = measure_mode(root, work, preset, "workers", args)
        batch = args.paper_batch if preset == "paper" else BATCH
        found[preset]["device_worker_cpu_ms"] = worker_cpu_ms(base_config(root, preset, batch, 1, "device"), args.samples)
    args.child.write_text(json.dumps(found))


def measure(root: Path, work: Path, preset: str, args: argparse.Namespace, bound: float,
            before: dict | None) -> dict:
    """Every figure of one preset, every mode (and the default mode under `before`'s code)."""
    batch = args.paper_batch if preset == "paper" else BATCH
    found = {"preset": preset, "batch": batch, "steps": args.paper_steps if preset == "paper" else args.steps}
    modes = list(MODES)
    for mode in MODES:
        found[mode] = measure_mode(root, work, preset, mode, args)
    if before is not None:
        found["before"], found["before_commit"] = before["presets"][preset], before["commit"]
        modes.append("before")
    flops = flops_per_sample(base_config(root, preset, batch, found["steps"], "workers"))
    found["flops_per_sample"] = flops
    found["profile"] = profile_shares(base_config(root, preset, batch, found["steps"], "workers"), batch)
    for mode in modes:
        m = found[mode]
        m["samples_per_s"] = batch / m["full"]["step_s"]
        m["ready_samples_per_s"] = batch / m["ready"]["compute_s"]
        m["bound_fraction"] = flops * m["samples_per_s"] / (bound * 1e9)
        m["ready_bound_fraction"] = flops * m["ready_samples_per_s"] / (bound * 1e9)
        m["input_samples_per_core"] = 1e3 / m["worker_cpu_ms"]
    return found


def h200_cores(paper: dict, tflops: float, utilisation: float) -> dict[str, dict[str, float]]:
    """Cores an H200 needs on the paper preset in each mode, from the measured worker rate per core."""
    rate = tflops * 1e12 * utilisation / paper["flops_per_sample"]
    return {mode: {"gpu_samples_per_s": rate, "cores": math.ceil(rate / paper[mode]["input_samples_per_core"]) + 1}
            for mode in ("workers", "device")}


def _before_cores(paper: dict, need: dict, mode: str) -> str:
    """`need`'s core count under the --before code's worker cost, as a clause ("" without a before run)."""
    if "before" not in paper:
        return ""
    ms = paper["before"]["worker_cpu_ms" if mode == "workers" else "device_worker_cpu_ms"]
    cores = math.ceil(need[mode]["gpu_samples_per_s"] * ms / 1e3) + 1
    return f" (commit {paper['before_commit']}: {cores} cores, {ms:.2f} ms/sample)"


def main() -> None:
    """Measure each preset in both modes, print the tables and write the claims."""
    args = parse_args(__doc__, _options)
    if args.child is not None:
        global BATCH
        BATCH = 4 if args.quick else BATCH
        return child_main(args)
    from handdg.synth import make_dataset

    presets = [p for p in args.presets.split(",") if p]
    if args.quick:
        args.unique, args.steps, args.paper_steps, args.samples, presets = 4, 4, 4, 8, ["tiny"]
        BATCH = 4
    bound = matmul_bound(args.threads)
    with tempfile.TemporaryDirectory(prefix="handdg-bench-throughput-") as tmp:
        root = make_dataset(Path(tmp) / "freihand", "freihand", args.unique, seed=0)
        os.environ["HANDDG_CACHE"] = str(Path(tmp) / "cache")  # decoded images of this run's data only
        before = measure_before(root, Path(tmp), presets, args)
        measured = [measure(root, Path(tmp), preset, args, bound, before) for preset in presets]
    shown = list(MODES) + (["before"] if before else [])
    rows = [[m["preset"], mode if mode != "before" else f"workers @ {before['commit']}", m[mode]["samples_per_s"],
             m[mode]["full"]["wait_share"], m[mode]["ready_samples_per_s"], m[mode]["worker_cpu_ms"],
             m["flops_per_sample"] / 1e9, m[mode]["bound_fraction"], m[mode]["ready_bound_fraction"]]
            for m in measured for mode in shown]
    print_table(f"training throughput, {args.threads} threads (fp32 matmul bound {bound:.0f} GFLOP/s)",
                ["preset", "augment on", "samples/s", "data wait", "ready samples/s", "worker ms/sample",
                 "GFLOP/sample", "of bound", "ready of bound"], rows)
    for m in measured:
        print_table(f"where a {m['preset']} step's CPU time goes (fp32, ready tensors, torch.profiler)",
                    ["kind of op", "share"], [[kind, f"{share:.0%}"] for kind, share in m["profile"].items()])
    claims = []
    for m in measured:
        for mode in MODES:
            r = m[mode]
            claims.append(Claim("13", f"training throughput, {m['preset']} preset, input on {mode}: fraction of the "
                                      "fp32 matmul bound", r["bound_fraction"],
                                f"{r['samples_per_s']:.0f} samples/s ({r['full']['wait_share']:.0%} waiting for data); "
                                f"{r['ready_samples_per_s']:.0f} samples/s on ready batches "
                                f"({r['ready_bound_fraction']:.2f} of {bound:.0f} GFLOP/s); "
                                f"{m['flops_per_sample'] / 1e9:.2f} GFLOP/sample; worker {r['worker_cpu_ms']:.2f} "
                                "CPU ms/sample", limit="the network step on this CPU (small convolutions run far "
                                                        "below the matmul rate)"))
        if before:
            claims.append(Claim("13", f"training throughput, {m['preset']} preset: today's default vs commit "
                                      f"{before['commit']}", m["workers"]["samples_per_s"] / m["before"]["samples_per_s"],
                                f"{m['workers']['samples_per_s']:.0f} vs {m['before']['samples_per_s']:.0f} samples/s "
                                f"(ready batches {m['workers']['ready_samples_per_s']:.0f} vs "
                                f"{m['before']['ready_samples_per_s']:.0f}; worker {m['workers']['worker_cpu_ms']:.2f} vs "
                                f"{m['before']['worker_cpu_ms']:.2f} CPU ms/sample)", unit="×",
                                target=2.0 if m["preset"] == "tiny" else None,
                                limit="the network step: small convolutions far below the matmul rate"))
        for mode in ("device", "bf16"):
            claims.append(Claim("13", f"training throughput, {m['preset']} preset: {mode} vs workers fp32",
                                m[mode]["samples_per_s"] / m["workers"]["samples_per_s"],
                                f"{m[mode]['samples_per_s']:.0f} vs {m['workers']['samples_per_s']:.0f} samples/s",
                                unit="×", limit="on a CPU both halves of the pipeline share the same cores"))
    paper = next((m for m in measured if m["preset"] == "paper"), None)
    cores = {f"{u:g}": h200_cores(paper, args.gpu_tflops, u) for u in (args.utilisation, 1.0)} if paper else None
    for utilisation, need in (cores or {}).items():
        for mode in ("workers", "device"):
            claims.append(Claim("13", f"CPU cores to feed an H200 with the paper preset at {float(utilisation):.0%} of "
                                      f"its bf16 peak, input on {mode}", need[mode]["cores"],
                                f"{need[mode]['gpu_samples_per_s']:,.0f} samples/s at {float(utilisation):.0%} of "
                                f"{args.gpu_tflops:g} TFLOP/s; worker {paper[mode]['worker_cpu_ms']:.2f} CPU ms/sample "
                                f"on this CPU{_before_cores(paper, need, mode)}", target=4 if mode == "device" else None, higher_is_better=False,
                                unit=" cores", limit="samples/s per core of this CPU; a faster core needs fewer"))
    write_result("throughput", args, claims, {"batch": BATCH, "matmul_bound_gflops": bound, "presets": measured,
                                              "h200": cores, "unique_samples": args.unique,
                                              "before": before["commit"] if before else None})


if __name__ == "__main__":
    main()
