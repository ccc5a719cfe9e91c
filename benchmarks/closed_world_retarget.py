"""Closed world, design check: score the source-trained runs of bench_closed_world on targets of another look,
and train that look's oracle, to see whether a target shows a baseline→oracle gap.

A target look changes only the test sets and the oracle's training data, so every source-trained run is kept
and scored again (its scores go to eval_<dataset>_<look>.json in its folder). Run after (or beside)
`bench_closed_world.py --work DIR --data-seed N`; the datasets of the new look are made here if missing.

Usage: python benchmarks/closed_world_retarget.py --work DIR --data-seed 0 --look extreme-hands --seeds 2
       [--arms baseline,text-regions,random-regions,text-global] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import bench_closed_world as cw
from closed_world_stats import paired_difference
from harness import set_threads


def _options() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="bench_closed_world's --work")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--look", default="extreme-hands", help="the targets' and the oracle's look")
    ap.add_argument("--seeds", type=int, default=2, help="training seeds 0..N-1")
    ap.add_argument("--only-seed", type=int, default=None, help="work on this seed alone (one process per seed)")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--source", type=int, default=500)
    ap.add_argument("--targets", type=int, default=200, help="the bench's --targets (and the new look's test size)")
    ap.add_argument("--source-look", default=cw.SOURCE_LOOK, help="the bench's --source-look")
    ap.add_argument("--arms", default="baseline,text-regions,random-regions,text-global")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-oracle", action=argparse.BooleanOptionalAction, default=True)
    return ap.parse_args()


def _roots(args) -> dict[str, Path]:
    folder = args.work / "full" / f"data-seed{args.data_seed}"
    n, t, look, seed = args.source, args.targets, args.look, args.data_seed
    return {"stb": cw._make(folder / f"stb-{look}-{t}", "stb", max(1, t // 2), seed, ("test",), look),
            "rhd": cw._make(folder / f"rhd-{look}-{t}", "rhd", 8 * t, seed, ("test",), look),
            "oracle": cw._make(folder / f"freihand-{look}-{n}", "freihand", n, seed, ("train",), look),
            "validation": cw.validation_root(args.work / "full", args)}


def _oracle(args, roots: dict[str, Path], seed: int, say) -> Path:
    """The baseline trained on the new look's source poses (resumed or left as it is when done)."""
    from handdg.run.config import TrainConfig
    from handdg.train import lifecycle

    out = cw.runs_root(args.work / "full", args) / f"oracle-{args.look}" / f"seed{seed}"
    config = TrainConfig(data=str(roots["oracle"]), preset="tiny", branch2="none", steps=args.steps,
                         batch_size=args.batch_size, checkpoint_every=max(1, args.steps // 3),
                         val_data=str(roots["validation"]), val_split="evaluation", seed=seed, device="cpu",
                         workers=1, out=str(out))
    if args.train_oracle:
        lifecycle.ensure_trained(config, say=say)
    return out


def _score(run: Path, dataset: str, root: Path, args) -> float | None:
    """hand3d EPE of the run's final checkpoint on one target of the new look (cached in the run folder)."""
    from handdg.evaluation.evaluate import evaluate
    from handdg.run.runs import write_json

    checkpoint = run / "checkpoints" / f"step_{args.steps}.safetensors"
    if not checkpoint.is_file():
        return None
    path = run / f"eval_{dataset}_{args.look}.json"
    if not path.is_file():
        write_json(path, evaluate(checkpoint, dataset, root, "test", device="cpu", workers=0, show_progress=False))
    return json.loads(path.read_text())["protocols"]["hand3d"]["epe_mean_mm"]


def main() -> None:
    args = _options()
    set_threads(args.threads)
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    roots = _roots(args)
    runs = cw.runs_root(args.work / "full", args)
    epe: dict[tuple[str, str], dict[int, float]] = {}
    for seed in range(args.seeds) if args.only_seed is None else (args.only_seed,):
        folders = {arm: runs / arm / "runs" / cw.ARMS[arm][1] / f"seed{seed}" for arm in args.arms.split(",")}
        folders["oracle"] = _oracle(args, roots, seed, say)
        for arm, folder in folders.items():
            for dataset in ("stb", "rhd"):
                value = _score(folder, dataset, roots[dataset], args)
                if value is not None:
                    epe.setdefault((arm, dataset), {})[seed] = value
    print(f"closed world, targets in the {args.look} look (data seed {args.data_seed}; hand3d EPE, mm, by seed)")
    for (arm, dataset), values in sorted(epe.items()):
        diff = paired_difference(values, epe.get(("baseline", dataset), {})) if arm != "baseline" else None
        shown = "" if diff is None else f"  vs baseline {diff.mean:+.1f}" + (
            f" [{diff.low:+.1f}, {diff.high:+.1f}]" if diff.low is not None else f" ({diff.pairs} pair)")
        print(f"{arm:16s} {dataset}: mean {statistics.fmean(values.values()):.1f}  "
              f"{ {s: round(v, 1) for s, v in sorted(values.items())} }{shown}")


if __name__ == "__main__":
    main()
