"""Do the speed levers keep the learning? Each lever against the reference recipe at equal steps, on several
training seeds: validation hand3d EPE (in-domain held-out hands) at every validation, and the step time.

Levers (each a set of `handdg train` options): `bf16` = `--precision bf16 --memory-format channels_last`
(fast only on CPUs with AMX or GPUs), `device` = `--augment-on device` (handdg.inputs.batch_augment). The
reference is fp32 with the input pipeline in the workers. Every run trains the same steps on synthetic
FreiHAND (`--data-seed`, 1,000 hands) and validates on its evaluation split; step time is the median of
the loop's StepTimer (wait + compute), so the speed-up and the EPE difference come from the same runs.

Usage: python benchmarks/bench_levers.py [--quick] [--preset tiny] [--steps 600] [--seeds 0,1]
       [--levers bf16,device] [--data-seed 0] [--work DIR]
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

from harness import Claim, parse_args, print_table, write_result

LEVERS = {"reference": {}, "bf16": {"precision": "bf16", "memory_format": "channels_last"},
          "device": {"augment_on": "device"}}


def _extra(ap) -> None:
    ap.add_argument("--preset", default="tiny", help="network preset")
    ap.add_argument("--steps", type=int, default=600, help="training steps of every run")
    ap.add_argument("--seeds", default="0,1", help="training seeds (comma list); the data keep --data-seed")
    ap.add_argument("--levers", default="bf16,device", help=f"levers to compare with the reference: {', '.join(LEVERS)}")
    ap.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic FreiHAND set")
    ap.add_argument("--work", type=Path, default=Path("/tmp/handdg-bench-levers"), help="dataset and runs")


def run(root: Path, out: Path, preset: str, steps: int, seed: int, changes: dict) -> dict:
    """One run (kept in `out`, resumed if there): validation EPEs by step and the median step seconds."""
    from handdg.run.config import TrainConfig
    from handdg.run.runs import read_metrics
    from handdg.train import loop
    from handdg.train.timing import StepTimer

    every = max(1, steps // 3)
    config = TrainConfig(data=str(root), out=str(out), preset=preset, branch2="none", steps=steps, seed=seed,
                         checkpoint_every=every, val_every=every, val_limit=125, device="cpu", **changes)
    timer = StepTimer(warm_up=5)
    if not (out / "last.safetensors").exists():
        if out.exists():
            import shutil

            shutil.rmtree(out)
        loop.train(config, timer=timer)
    rows = [r for r in read_metrics(out) if "val_hand3d_mm" in r]
    return {"val_mm": {int(r["step"]): r["val_hand3d_mm"] for r in rows},
            "step_s": timer.summary()["step_s"] if len(timer.compute_s) > 5 else None}


def main() -> None:
    """Train the reference and each lever on every seed, print and write the comparison."""
    args = parse_args(__doc__, _extra)
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
    final = max(found["reference"][seeds[0]]["val_mm"])
    rows, claims = [], []
    for lever in levers:
        epe = [found[lever][s]["val_mm"][final] for s in seeds]
        times = [found[lever][s]["step_s"] for s in seeds if found[lever][s]["step_s"] is not None]
        rows.append([lever, *epe, statistics.mean(epe), statistics.median(times) if times else None])
    print_table(f"{args.preset}, {args.steps} steps, validation hand3d EPE (mm) by seed, step seconds",
                ["lever", *(f"seed {s}" for s in seeds), "mean", "step s"], rows)
    reference = {s: found["reference"][s] for s in seeds}
    for lever in levers[1:]:
        diffs = [found[lever][s]["val_mm"][final] - reference[s]["val_mm"][final] for s in seeds]
        speed = [reference[s]["step_s"] / found[lever][s]["step_s"] for s in seeds
                 if reference[s]["step_s"] and found[lever][s]["step_s"]]
        claims.append(Claim("13", f"{lever} vs reference, {args.preset}: training speed-up at equal steps",
                            statistics.median(speed) if speed else float("nan"),
                            f"validation EPE difference at step {final}: "
                            + ", ".join(f"{d:+.1f} mm (seed {s})" for d, s in zip(diffs, seeds)),
                            unit="×", limit="the network step itself"))
    write_result("levers", args, claims, {"preset": args.preset, "steps": args.steps, "seeds": seeds,
                                          "data_seed": args.data_seed, "levers": {k: LEVERS[k] for k in levers},
                                          "runs": {lever: {str(s): v for s, v in runs.items()}
                                                   for lever, runs in found.items()}})


if __name__ == "__main__":
    main()
