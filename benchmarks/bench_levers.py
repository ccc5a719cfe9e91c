"""Do the speed levers keep the learning? Each lever against the reference recipe at equal steps, on several
training seeds: validation hand3d EPE (in-domain held-out hands) at every validation, and the step time.

Levers (each a set of `handdg train` options): `bf16` = `--precision bf16 --memory-format channels_last`
(fast only on CPUs with AMX or GPUs), `device` = `--augment-on device` (handdg.inputs.batch_augment). The
reference is fp32 with the input pipeline in the workers. Every run trains the same steps on synthetic
FreiHAND (`--data-seed`, 1,000 hands) and validates on its evaluation split; step time is the median of
the loop's StepTimer (wait + compute), so the speed-up and the EPE difference come from the same runs.

`--before REV` adds the reference under commit REV's code (a git worktree trained by a child process of
this script on the same data): whether a change to the code kept the learning. Every difference is paired
by seed, with its 95 % t-interval over the seeds (handdg.analysis.paired).

Usage: python benchmarks/bench_levers.py [--quick] [--preset tiny] [--steps 600] [--seeds 0,1]
       [--levers bf16,device] [--data-seed 0] [--work DIR] [--before REV]
"""

from __future__ import annotations

import statistics
import argparse
import json
import os
from pathlib import Path

from harness import Claim, imported_from_library, parse_args, print_table, run_at_commit, write_result

LEVERS = {"reference": {}, "bf16": {"precision": "bf16", "memory_format": "channels_last"},
          "device": {"augment_on": "device"}}


def _extra(ap) -> None:
    ap.add_argument("--preset", default="tiny", help="network preset")
    ap.add_argument("--steps", type=int, default=600, help="training steps of every run")
    ap.add_argument("--seeds", default="0,1", help="training seeds (comma list); the data keep --data-seed")
    ap.add_argument("--levers", default="bf16,device", help=f"levers to compare with the reference: {', '.join(LEVERS)}")
    ap.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic FreiHAND set")
    ap.add_argument("--work", type=Path, default=Path("/tmp/handdg-bench-levers"), help="dataset and runs")
    ap.add_argument("--before", default=None, help="also the reference under this commit's code (a git revision)")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)


def run(root: Path, out: Path, preset: str, steps: int, seed: int, changes: dict) -> dict:
    """One run (kept in `out`; a finished one is read, a killed one resumed from its newest checkpoint):
    validation EPEs by step and the median step seconds of the steps trained now."""
    from handdg.run.config import TrainConfig
    from handdg.run.runs import read_metrics
    from handdg.train import loop
    from handdg.train.lifecycle import progress
    from handdg.train.timing import StepTimer

    every = max(1, steps // 3)
    config = TrainConfig(data=str(root), out=str(out), preset=preset, branch2="none", steps=steps, seed=seed,
                         checkpoint_every=every, val_every=every, val_limit=125, device="cpu", **changes)
    timer = StepTimer(warm_up=5)
    done = progress(out).step
    if done is None or done < steps:
        if done is None and out.exists():
            import shutil

            shutil.rmtree(out)
        loop.train(config, resume=done is not None, timer=timer)
    rows = [r for r in read_metrics(out) if "val_hand3d_mm" in r]
    return {"val_mm": {int(r["step"]): r["val_hand3d_mm"] for r in rows},
            "step_s": timer.summary()["step_s"] if len(timer.compute_s) > 5 else None}


def before_runs(root: Path, args: argparse.Namespace, seeds: list[int]) -> tuple[str, dict]:
    """The reference on every seed under commit `args.before`'s code (run_at_commit): (short commit, runs by seed)."""
    out = args.work / f"before-{args.before}.json"
    argv = ["--child", str(out), "--before", args.before, "--preset", args.preset, "--steps", str(args.steps), "--seeds",
            ",".join(map(str, seeds)), "--data-seed", str(args.data_seed), "--work", str(args.work),
            "--threads", str(args.threads), "--out", str(args.work)]
    commit = run_at_commit(args.before, args.work / "before-tree", __file__, argv, {"HANDDG_BENCH_DATA": str(root)})
    runs = json.loads(out.read_text())  # JSON keys are strings: the seeds and steps become ints again
    return commit, {int(seed): {**found, "val_mm": {int(step): mm for step, mm in found["val_mm"].items()}}
                    for seed, found in runs.items()}


def child_main(args: argparse.Namespace) -> None:
    """--child: the reference on every seed with the handdg of another commit (its runs named by --before)."""
    imported_from_library()
    root = Path(os.environ["HANDDG_BENCH_DATA"])
    found = {seed: run(root, args.work / f"{args.preset}-before-{args.before}-seed{seed}", args.preset,
                       args.steps, seed, {}) for seed in (int(s) for s in args.seeds.split(",") if s)}
    args.child.write_text(json.dumps(found))


def _difference(row: dict, reference: dict, step: int) -> tuple[float, str]:
    """row − reference validation EPE at `step`, paired by seed: (the mean, it with its 95 % interval and per seed)."""
    from handdg.analysis.paired import paired_difference

    seeds = sorted(set(row) & set(reference))
    per_seed = ", ".join(f"{row[s]['val_mm'][step] - reference[s]['val_mm'][step]:+.1f} mm (seed {s})" for s in seeds)
    diff = paired_difference({s: row[s]["val_mm"][step] for s in seeds},
                             {s: reference[s]["val_mm"][step] for s in seeds})
    interval = f" [{diff.low:+.1f}, {diff.high:+.1f}]" if diff.low is not None else ""
    return diff.mean, (f"validation EPE difference at step {step}: mean {diff.mean:+.2f} mm{interval} over "
                       f"{diff.pairs} seeds; {per_seed}")


def main() -> None:
    """Train the reference and each lever on every seed, print and write the comparison."""
    args = parse_args(__doc__, _extra)
    if args.child is not None:
        return child_main(args)
    from handdg.synth import make_dataset

    seeds = [int(s) for s in args.seeds.split(",") if s]
    levers = ["reference", *(name for name in args.levers.split(",") if name)]
    count = 1000
    if args.quick:
        args.steps, seeds, count = 6, seeds[:1], 12
    root = args.work / f"freihand-{count}-seed{args.data_seed}"
    if not root.exists():
        make_dataset(root, "freihand", count, seed=args.data_seed)
    found = {lever: {seed: run(root, args.work / f"{args.preset}-{lever}-seed{seed}", args.preset, args.steps,
                               seed, LEVERS[lever]) for seed in seeds} for lever in levers}
    before = None
    if args.before:
        before, found[f"reference @ {args.before}"] = before_runs(root, args, seeds)
    final = max(found["reference"][seeds[0]]["val_mm"])
    rows, claims = [], []
    for lever, runs in found.items():
        epe = [runs[s]["val_mm"][final] for s in seeds]
        times = [runs[s]["step_s"] for s in seeds if runs[s]["step_s"] is not None]
        rows.append([lever, *epe, statistics.mean(epe), statistics.median(times) if times else None])
    print_table(f"{args.preset}, {args.steps} steps, validation hand3d EPE (mm) by seed, step seconds",
                ["lever", *(f"seed {s}" for s in seeds), "mean", "step s"], rows)
    reference = found["reference"]
    for lever in levers[1:]:
        speed = [reference[s]["step_s"] / found[lever][s]["step_s"] for s in seeds
                 if reference[s]["step_s"] and found[lever][s]["step_s"]]
        claims.append(Claim("13", f"{lever} vs reference, {args.preset}: training speed-up at equal steps",
                            statistics.median(speed) if speed else float("nan"),
                            _difference(found[lever], reference, final)[1], unit="×", limit="the network step itself"))
    if before is not None:
        old = found[f"reference @ {args.before}"]
        mean, text = _difference(reference, old, final)
        claims.append(Claim("13", f"today's reference vs commit {before}'s, {args.preset}: EPE difference at equal steps",
                            mean, text, unit=" mm"))
    write_result("levers", args, claims, {"preset": args.preset, "steps": args.steps, "seeds": seeds,
                                          "data_seed": args.data_seed, "levers": {k: LEVERS[k] for k in levers},
                                          "before": before,
                                          "runs": {lever: {str(s): v for s, v in runs.items()}
                                                   for lever, runs in found.items()}})


if __name__ == "__main__":
    main()
