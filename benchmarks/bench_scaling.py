"""Claim 7: how handdg's costs grow with dataset size and with processes.

Size: handdg stores of 1k, 10k and 100k synthetic images (512-d), each written with handdg's
writer, loaded with `FeatureStore`, indexed with handdg.stores.index (flat, exact) and searched
with 1,000 queries; reported as cost per row at the largest size relative to the smallest
(1.0 = linear; below 1 = fixed costs amortised).

Processes: the same work on the same cores by 1 process with all threads vs 2 processes with
half each (gloo on CPU), through the real commands:
- `handdg featurize` of a synthetic FreiHAND set (ViT-B/32, random weights) vs two
  `handdg featurize --shard i/2` writing one store; wall time of the whole command(s), with the
  prompts already in the store (claim 4 covers them), so the work is the images;
- `handdg train` (small preset, cached IE+TE) vs `torchrun --nproc-per-node 2 -m handdg train`
  at half the batch per process (same global batch); time per step = median interval between
  rank 0's optimiser steps (benchmarks/timed_cli.py runs the CLI with a StepClock).

Usage: python benchmarks/bench_scaling.py [--quick] [--threads N] [--sizes 1000,10000,100000]
       [--images 128] [--steps 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO, Claim, median_interval, parse_args, print_table, time_calls, write_result
from synthetic import disk_bytes, freihand_with_store, unit_vectors, write_store

QUERIES = 1000
K = 10


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sizes", default="1000,10000,100000", help="store sizes in rows, comma-separated")
    ap.add_argument("--images", type=int, default=128, help="images featurized (a multiple of 8)")
    ap.add_argument("--batch", type=int, default=32, help="global training batch (split over processes)")
    ap.add_argument("--steps", type=int, default=5, help="training steps per run (the first only starts the clock)")


def run_together(commands: list[list[str]], threads: int, **env_extra: str) -> float:
    """Start every command at once, each with `threads` threads; wall seconds until all have finished."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", **env_extra,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for cmd in commands]
    errors = [(cmd, proc.communicate()[1]) for cmd, proc in zip(commands, procs)]
    seconds = time.perf_counter() - start
    for (cmd, err), proc in zip(errors, procs):
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[2:6])} ... failed ({proc.returncode}): {err.strip()[-800:]}")
    return seconds


def featurize_processes(work: Path, images: int, clip_model: str, threads: int) -> dict[int, float]:
    """Wall seconds of featurizing `images` synthetic FreiHAND images by 1 process and by 2 shards."""
    from handdg.featurize.clip import load_clip

    chunk = images // 8
    root, template = freihand_with_store(work / "featurize", images // 4, load_clip(clip_model, "random", "cpu"),
                                         chunk_rows=chunk, tables=("prompts",))
    seconds = {}
    for procs in (1, 2):
        store = work / f"featurize-{procs}.zarr"
        shutil.copytree(template, store)
        cmd = [sys.executable, "-m", "handdg", "featurize", str(root), "--layout", "freihand", "--store", str(store),
               "--clip-model", clip_model, "--clip-weights", "random", "--batch-size", str(chunk),
               "--chunk-rows", str(chunk), "--quiet"]
        shards = [cmd + ["--shard", f"{i}/{procs}"] for i in range(procs)] if procs > 1 else [cmd]
        seconds[procs] = run_together(shards, max(1, threads // procs))
    return seconds


def train_processes(work: Path, preset: str, clip_model: str, batch: int, steps: int, threads: int) -> dict[int, float]:
    """Seconds per training step (global batch `batch`) of 1 process and of 2 under torchrun (gloo), rank 0's clock."""
    from handdg.featurize.clip import load_clip

    root, store = freihand_with_store(work / "train", 16, load_clip(clip_model, "random", "cpu"))
    timed_cli = str(Path(__file__).with_name("timed_cli.py"))
    per_step = {}
    for procs in (1, 2):
        launcher = [sys.executable, timed_cli] if procs == 1 else [
            sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}", timed_cli]
        clock = work / f"train-{procs}.clock"
        run_together([launcher + [
            "train", "--data", str(root), "--store", str(store), "--out", str(work / f"train-{procs}"),
            "--preset", preset, "--batch-size", str(batch // procs), "--steps", str(steps), "--ratio", "0.6",
            "--checkpoint-every", "10000", "--log-every", "10000", "--device", "cpu"]], max(1, threads // procs),
            HANDDG_STEP_CLOCK=str(clock))
        stamps = [float(line) for line in Path(f"{clock}.rank0").read_text().split()]
        per_step[procs] = median_interval(stamps)
    return per_step


def store_costs(tmp: Path, rows: int) -> dict:
    """Write, load, index and search a store of `rows` synthetic images; seconds and bytes of each."""
    import numpy as np

    from handdg.stores import FeatureStore
    from handdg.stores import index as faiss_index

    path = tmp / f"store-{rows}.zarr"
    start = time.perf_counter()
    write_store(path, rows)
    costs = {"rows": rows, "write_s": time.perf_counter() - start}
    vectors = faiss_index.normalised(FeatureStore.open(path).image_features())
    ids = np.arange(rows)
    index, _ = faiss_index.build(vectors, ids, "flat")
    queries = unit_vectors("clustered", QUERIES, seed=5)
    timings = time_calls({"load_s": lambda: FeatureStore.open(path).image_features(),
                          "index_build_s": lambda: faiss_index.build(vectors, ids, "flat"),
                          "search_1000_s": lambda: faiss_index.search(index, queries, K)}, repeats=3)
    costs.update({key: t.median_s for key, t in timings.items()})
    costs["disk_bytes"] = disk_bytes(path / "images")
    return costs


COSTS = {"write_s": "store write", "load_s": "store load into memory", "index_build_s": "flat index build",
         "search_1000_s": f"{QUERIES:,}-query search", "disk_bytes": "image features on disk"}


def process_claims(featurize: dict[int, float], train: dict[int, float], images: int, batch: int) -> list[Claim]:
    """Speed-up of 2 processes over 1 for featurize and for a training step."""
    limit = "2 cores: the second process only takes the threads the first gave up"
    return [
        Claim("7", "scaling: featurize, 2 shard processes vs 1 process (speed-up)", featurize[1] / featurize[2],
              f"{images / featurize[1]:.1f} vs {images / featurize[2]:.1f} img/s for {images} images, whole command",
              unit="×", limit=limit),
        Claim("7", "scaling: training step, 2 processes (DDP, gloo) vs 1 (speed-up)", train[1] / train[2],
              f"{batch / train[1]:.1f} vs {batch / train[2]:.1f} samples/s at global batch {batch}", unit="×",
              limit=limit + "; gloo all-reduces the gradients on the CPU"),
    ]


def main() -> None:
    """Measure each size, then 1 vs 2 processes; write one claim per cost."""
    args = parse_args(__doc__, _options)
    sizes = [200, 2000] if args.quick else [int(s) for s in args.sizes.split(",")]
    clip_model, preset, images, batch = "ViT-B-32", "small", args.images, args.batch
    if args.quick:
        clip_model, preset, images, batch = "handdg-tiny", "tiny", 16, 4
    steps = 3 if args.quick else args.steps
    with tempfile.TemporaryDirectory(prefix="handdg-bench-") as tmp:
        table = [store_costs(Path(tmp), rows) for rows in sizes]
        featurize = featurize_processes(Path(tmp), images, clip_model, args.threads)
        train = train_processes(Path(tmp), preset, clip_model, batch, steps, args.threads)
    print_table(f"store and index cost by size ({args.threads} threads)", ["rows", *COSTS.values()],
                [[c["rows"], *(c[key] for key in COSTS)] for c in table])
    print_table(f"1 vs 2 processes on {args.threads} threads", ["work", "1 process, s", "2 processes, s"],
                [[f"featurize {images} images ({clip_model})", featurize[1], featurize[2]],
                 [f"training step, {preset} preset, global batch {batch}", train[1], train[2]]])
    small, large = table[0], table[-1]
    claims = []
    for key, name in COSTS.items():
        per_row = (large[key] / large["rows"]) / (small[key] / small["rows"])
        unit = "MiB" if key == "disk_bytes" else "s"
        scale = 2**20 if key == "disk_bytes" else 1.0
        figures = ", ".join(f"{c['rows']:,}: {c[key] / scale:.3g} {unit}" for c in table)
        claims.append(Claim("7", f"scaling: {name}, per-row cost at {large['rows']:,} vs {small['rows']:,} rows",
                            per_row, figures, limit="1.0 = linear in rows"))
    claims += process_claims(featurize, train, images, batch)
    write_result("scaling", args, claims, {
        "sizes": table, "queries": QUERIES, "k": K,
        "processes": {"clip_model": clip_model, "images": images, "featurize_s": featurize, "preset": preset,
                      "global_batch": batch, "steps": steps, "train_step_s": train}})


if __name__ == "__main__":
    main()
