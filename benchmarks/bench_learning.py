"""Learning quality: does `handdg train` learn hands within a fixed wall-clock budget on this CPU?

On synthetic FreiHAND (1,000 unique samples = 4,000 images, seed 0) each run trains for a fixed
budget of wall-clock minutes (its step count is set from a short calibration run, so the cosine
schedule ends when the budget does), then is scored on the in-domain FreiHAND evaluation split
and on the synthetic STB and RHD test sets under both protocols, beside the constant-pose
reference (the training set's mean pose). Baseline (no Branch2) and IE+TE (r 0.6, handdg's
built-in synthetic CLIP) on the tiny and small presets.

Claims: in-domain hand3d EPE / constant-pose EPE <= 0.4 for tiny within 10 minutes and <= 0.3
for small within 30; the target domains score worse than in-domain (the gap is visible).

Tune on one data seed, report on another: the recipe was chosen on data seed 0 (TUNING_DATA_SEED), so
`--data-seed` (default 1) makes the datasets every reported number comes from, and validation during
training (which picks best.safetensors) runs on the FreiHAND evaluation split of another data seed
(the tuning seed's; seed 1's when reporting on seed 0), never on the split reported as in-domain.
Both seeds are named in the JSON.

Usage: python benchmarks/bench_learning.py [--quick] [--presets tiny,small] [--modes baseline,ie+te]
       [--minutes tiny=10,small=30] [--rotation axis-angle|6d] [--seed N] [--data-seed N] [--work DIR]
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from harness import Claim, StepClock, parse_args, print_table, write_result

TARGETS = {"tiny": 0.4, "small": 0.3}
MINUTES = {"tiny": 10.0, "small": 30.0}
BATCH = 32
CALIBRATION_STEPS = 40
WARM_UP_STEPS = 5
TUNING_DATA_SEED = 0
"""The data seed every recipe choice (chooser runs, learning-rate sweep, 6-D) was made on."""
BUDGET_FILL = 0.9
"""Share of a budget planned as calibrated steps; validations, checkpoints and the data worker's start
take the rest (the 2026-12-01 tiny runs planned on all of it took 6-11 % longer than their budget)."""


def _extra(ap) -> None:
    ap.add_argument("--presets", default="tiny,small", help="network presets to train (comma list)")
    ap.add_argument("--modes", default="baseline,ie+te", help="baseline and/or ie+te")
    ap.add_argument("--minutes", default="", help="wall-clock budget per run, e.g. tiny=10,small=30")
    ap.add_argument("--work", type=Path, default=Path("/tmp/handdg-bench-learning"), help="datasets, stores, runs")
    ap.add_argument("--rotation", default=None, choices=("axis-angle", "6d"),
                    help="ViewPoint rotation form of every run (default: handdg train's); the runs' folders get it as a suffix")
    ap.add_argument("--data-seed", type=int, default=1,
                    help=f"seed of the synthetic datasets reported on (the recipe was tuned on {TUNING_DATA_SEED})")
    ap.add_argument("--seed", type=int, default=None,
                    help="training seed of every run (default: handdg train's; the data stay seed 0); folders get seedN")


def _datasets(work: Path, quick: bool, data_seed: int) -> dict[str, Path]:
    """Synthetic FreiHAND (source) and STB / RHD test sets of `data_seed`, made once and kept in `work`."""
    from handdg.synth import make_dataset

    counts = {"freihand": 12, "stb": 4, "rhd": 16} if quick else {"freihand": 1000, "stb": 100, "rhd": 400}
    roots = {}
    for layout, count in counts.items():
        root = work / f"{layout}-{count}" if data_seed == 0 else work / f"{layout}-{count}-seed{data_seed}"
        if not root.is_dir():
            make_dataset(root, layout, count, seed=data_seed, workers=2)
        roots[layout] = root
    return roots


def validation_seed(data_seed: int) -> int:
    """The data seed whose FreiHAND evaluation split validates (and selects) during training: not the reported one."""
    return TUNING_DATA_SEED if data_seed != TUNING_DATA_SEED else TUNING_DATA_SEED + 1


def _store(work: Path, freihand: Path, quick: bool) -> Path:
    """The FreiHAND store, encoded by the built-in synthetic CLIP (or the tiny random one when quick)."""
    from handdg.featurize.run import featurize

    model, weights = ("handdg-tiny", "random") if quick else ("handdg-synth", "builtin")
    store = work / f"{freihand.name}-{model}.zarr"
    featurize(freihand, "freihand", "train", store, model=model, weights=weights, device="cpu", workers=1,
              progress=False)
    return store


def _variant(args) -> dict:
    """The TrainConfig fields set on the command line (--rotation, --seed); the defaults are handdg train's."""
    return {k: v for k, v in (("rotation", args.rotation), ("seed", args.seed)) if v is not None}


def _run_name(preset: str, mode: str, variant: dict) -> str:
    """A run's folder: preset-mode, then each variant value (seed N as seedN), so variants never overwrite."""
    parts = [preset, mode] + [f"{k.replace('_', '')}{v}" if k in ("seed", "data_seed") else str(v)
                              for k, v in variant.items()]
    return "-".join(parts)


def _config(roots: dict[str, Path], store: Path, out: Path, preset: str, mode: str, steps: int,
            variant: dict | None = None):
    from handdg.run.config import TrainConfig

    extra = {} if mode == "baseline" else {"store": str(store), "ratio": 0.6}
    extra.update(val_data=str(roots["validation"]), val_layout="freihand", val_split="evaluation")
    extra.update(variant or {})
    return TrainConfig(data=str(roots["freihand"]), out=str(out), preset=preset, branch2="none" if mode == "baseline"
                       else "ie+te", batch_size=BATCH, steps=steps, checkpoint_every=max(steps, 1), workers=1,
                       device="cpu", val_every=max(steps // 4, 1), **extra)


def _steps_for(budget_s: float, roots, store, work: Path, preset: str, mode: str,
               variant: dict) -> tuple[int, float]:
    """Steps that fill BUDGET_FILL of `budget_s`, from the mean step time of a short calibration run.

    The mean, not the median: the data worker stalls the loop now and then, and a median of 15 steps
    (before 2026-12-01) left those stalls out and overran a 10-minute budget by a third."""
    from handdg.train.lifecycle import start

    out = work / "calibration"
    config = _config(roots, store, out, preset, mode, CALIBRATION_STEPS, variant)
    config.val_every, config.val_limit = CALIBRATION_STEPS, 1  # one validation of one sample, at the end
    with StepClock() as clock:
        start(config, fresh=True)
    shutil.rmtree(out, ignore_errors=True)
    per_step = clock.mean_step_seconds(WARM_UP_STEPS)
    return max(int(BUDGET_FILL * budget_s / per_step), 1), per_step


def _scores(run: Path, roots: dict[str, Path]) -> dict[str, dict]:
    from handdg.evaluation.evaluate import evaluate

    sets = {"freihand": ("freihand", roots["freihand"], "evaluation"), "stb": ("stb", roots["stb"], "test"),
            "rhd": ("rhd", roots["rhd"], "test")}
    out = {}
    for name, (layout, root, split) in sets.items():
        result = evaluate(run / "last.safetensors", layout, root, split=split, device="cpu", workers=1,
                          show_progress=False)
        out[name] = {"count": result["count"],
                     **{p: result["protocols"][p]["epe_mean_mm"] for p in ("hand3d", "official")},
                     **{f"constant_{p}": result["constant_pose"][p]["epe_mean_mm"] for p in ("hand3d", "official")},
                     **{f"ratio_{p}": result["constant_pose"][p]["skill_ratio"] for p in ("hand3d", "official")},
                     "px_2d": result["keypoints_2d"]["mean_px"],
                     "pa_mpjpe": result.get("freihand", {}).get("aligned", {}).get("epe_mean_mm")}
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _extra)
    minutes = dict(MINUTES)
    minutes.update({k: float(v) for k, v in (p.split("=") for p in args.minutes.split(",") if p)})
    if args.quick:
        minutes = {k: 0.1 for k in minutes}
    work = args.work / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    roots = _datasets(work, args.quick, args.data_seed)
    roots["validation"] = _datasets(work, args.quick, validation_seed(args.data_seed))["freihand"]
    modes = [m for m in args.modes.split(",") if m]
    store = _store(work, roots["freihand"], args.quick) if "ie+te" in modes else None
    variant = {**_variant(args), "data_seed": args.data_seed}
    seeds = {"tuning_data_seed": TUNING_DATA_SEED, "report_data_seed": args.data_seed,
             "validation": {"data_seed": validation_seed(args.data_seed), "split": "evaluation"}}
    details, claims, rows = {"batch_size": BATCH, "minutes": minutes, **variant, **seeds, "runs": {}}, [], []
    from handdg.train.lifecycle import start

    for preset in [p for p in args.presets.split(",") if p]:
        for mode in modes:
            steps, per_step = _steps_for(minutes[preset] * 60, roots, store, work, preset, mode,
                                         {k: v for k, v in variant.items() if k != "data_seed"})
            run = work / _run_name(preset, mode, variant)
            config_variant = {k: v for k, v in variant.items() if k != "data_seed"}
            began = time.perf_counter()
            start(_config(roots, store, run, preset, mode, steps, config_variant), fresh=True)
            seconds = time.perf_counter() - began
            scores = _scores(run, roots)
            details["runs"][f"{preset}/{mode}"] = {"steps": steps, "step_s": per_step, "train_s": seconds,
                                                   "scores": scores}
            for name, s in scores.items():
                rows.append([preset, mode, steps, f"{seconds / 60:.1f}", name, f"{s['hand3d']:.1f}",
                             f"{s['official']:.1f}", f"{s['constant_hand3d']:.1f}", f"{s['ratio_hand3d']:.2f}",
                             f"{s['px_2d']:.1f}"])
            fh, stb, rhd = scores["freihand"], scores["stb"], scores["rhd"]
            claims.append(Claim(f"L-{preset}-{mode}", f"learning, {preset} {mode}: in-domain hand3d EPE / constant-pose EPE "
                                f"({minutes[preset]:g} min, data seed {args.data_seed}, tuned on {TUNING_DATA_SEED})", fh["ratio_hand3d"],
                                f"{fh['hand3d']:.1f} vs {fh['constant_hand3d']:.1f} mm in {steps} steps "
                                f"({seconds / 60:.1f} min); PA-MPJPE {fh['pa_mpjpe']:.1f} mm; 2D {fh['px_2d']:.1f} px",
                                target=TARGETS[preset], higher_is_better=False,
                                limit="CPU steps: a from-scratch CPM needs many thousands of steps"))
            claims.append(Claim(f"G-{preset}-{mode}", f"domain gap, {preset} {mode}: target skill ratio (STB / RHD) vs in-domain",
                                min(stb["ratio_hand3d"], rhd["ratio_hand3d"]) / fh["ratio_hand3d"],
                                f"STB {stb['ratio_hand3d']:.2f}, RHD {rhd['ratio_hand3d']:.2f}, "
                                f"FreiHAND {fh['ratio_hand3d']:.2f} (hand3d EPE / constant pose)",
                                target=1.0, higher_is_better=True))
    print_table(f"learning on data seed {args.data_seed} (tuned on {TUNING_DATA_SEED}; hand3d / official EPE in mm; "
                "ratio = hand3d / constant pose)",
                ["preset", "mode", "steps", "min", "test set", "hand3d", "official", "constant", "ratio", "2D px"], rows)
    write_result("learning", args, claims, details)


if __name__ == "__main__":
    main()
