"""The training input pipeline alone: samples/s per worker for the `paper` preset's crops, and how
many cores keep a GPU fed.

On a synthetic FreiHAND set (`handdg.synth`, 224 px JPEGs as FreiHAND's), `HandCrops` (the code
`handdg train` runs in its DataLoader workers) makes the `paper` preset's 256 px crops with 32 px
heatmaps, under the `official` (geometric + jitter) and `normal` (all seven) augmentations:

- profile: seconds per sample of each stage in this process (read + JPEG decode, mirror + warp,
  heatmaps + tensors, photometric ops), so the hot path is visible, as CPU time of this process
  (one torch thread), which is what a sample costs one idle core even on a loaded machine;
- throughput: samples/s through a DataLoader with W workers (collated batches of 32, as training
  reads them) and per worker.

A GPU consumes samples at (its FLOP rate × utilisation) / (training FLOPs per sample); the
`paper` preset's FLOPs per sample come from benchmarks/results/train.json (torch's FlopCounterMode,
forward + backward). Cores needed = that rate / samples/s per core (from the CPU time of a whole
sample), plus one for the training process. `--gpu-tflops` is the dense bf16 rate of the GPU (an H200 measured ~790), `--utilisation`
the fraction of it training reaches (benchmarks/gpu_check.py measures it on a real GPU).

Usage: python benchmarks/bench_input.py [--quick] [--threads N] [--workers 1,2,...] [--unique 32]
       [--batches 8] [--gpu-tflops 790] [--utilisation 0.4]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from harness import RESULTS, Claim, parse_args, print_table, write_result

AUGMENTATIONS = ("official", "normal")
PAPER_FLOPS_FALLBACK = 181.8e9
"""Training FLOPs per sample of the paper preset (benchmarks/results/train.json, 2026-11-24)."""
BATCH = 32


def _options(ap: argparse.ArgumentParser) -> None:
    from handdg.loading import usable_cores

    ap.add_argument("--workers", default=",".join(str(w) for w in _worker_counts(usable_cores())),
                    help="DataLoader worker counts to measure, comma-separated")
    ap.add_argument("--unique", type=int, default=32, help="synthetic FreiHAND samples (x4 images)")
    ap.add_argument("--batches", type=int, default=8, help="batches of 32 read per throughput measurement")
    ap.add_argument("--samples", type=int, default=64, help="samples timed per stage in the profile")
    ap.add_argument("--gpu-tflops", type=float, default=790.0, help="the GPU's dense bf16 TFLOP/s (H200: ~790)")
    ap.add_argument("--utilisation", type=float, default=0.4, help="fraction of --gpu-tflops training reaches")


def _worker_counts(cores: int) -> list[int]:
    """1, 2, 4, ... up to the cores less one (at least 1)."""
    top = max(1, cores - 1)
    return sorted({min(top, 2**i) for i in range(int(math.log2(top)) + 1)} | {top})


def paper_flops() -> tuple[float, str]:
    """Training FLOPs per sample of the paper preset and where the figure comes from."""
    path = RESULTS / "train.json"
    try:
        presets = json.loads(path.read_text())["details"]["presets"]
        return next(p["flops_per_image"]["train_branch2"] for p in presets if p["preset"] == "paper"), str(path.name)
    except (OSError, KeyError, StopIteration, ValueError):
        return PAPER_FLOPS_FALLBACK, "fallback constant"


def crops(root: Path, augment: str):
    """HandCrops of the synthetic set with the paper preset's geometry and `augment`."""
    from handdg.data import open_dataset
    from handdg.inputs.batches import HandCrops
    from handdg.run.config import TrainConfig, parse_augment
    from handdg.train.loop import crop_spec, model_config

    config = TrainConfig(data=str(root), preset="paper", branch2="none")
    return HandCrops(open_dataset(root, "freihand", "train"), crop_spec(config, model_config(config, 512)),
                     parse_augment(augment))


def cpu_seconds(fn, repeats: int = 3) -> float:
    """Median CPU seconds of this process per call of `fn` (after one warm-up call)."""
    fn()
    runs = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        runs.append(time.process_time() - start)
    return sorted(runs)[len(runs) // 2]


def profile(dataset, samples: int) -> dict[str, float]:
    """CPU seconds per sample of each stage of HandCrops.__getitem__, and of the whole call."""
    import torch

    from handdg.inputs import augment
    from handdg.inputs.batches import crop_sample, to_tensors
    from handdg.inputs.seeds import keyed_generator

    keys = [(i % len(dataset), 1000 + i) for i in range(samples)]
    raw = [dataset.dataset[i] for i, _ in keys]
    geometry = [augment.draw_geometry(keyed_generator(seed)) for _, seed in keys]
    cut = [crop_sample(s, dataset.spec, g) for s, g in zip(raw, geometry)]
    images = [to_tensors(c, dataset.spec)["image"] for c in cut]

    def each(fn):
        return lambda: [fn(n) for n in range(samples)]

    stages = {
        "read + decode": each(lambda n: dataset.dataset[keys[n][0]]),
        "mirror + warp": each(lambda n: crop_sample(raw[n], dataset.spec, geometry[n])),
        "heatmaps + tensors": each(lambda n: to_tensors(cut[n], dataset.spec)),
        "photometric": each(lambda n: augment.photometric(images[n], dataset.augmentations,
                                                          keyed_generator(keys[n][1]))),
        "whole sample": each(lambda n: dataset[keys[n]]),
    }
    with torch.inference_mode():
        return {name: cpu_seconds(fn) / samples for name, fn in stages.items()}


def throughput(dataset, workers: int, batches: int) -> float:
    """Samples/s of a DataLoader with `workers` workers over `batches` batches (start-up excluded)."""
    import torch
    from torch.utils.data import DataLoader

    from handdg.loading import loader_options

    keys = [[(i % len(dataset), 7 * b + i) for i in range(BATCH)] for b in range(batches + workers)]
    loader = DataLoader(dataset, batch_sampler=keys, **loader_options(workers, torch.device("cpu")))
    stream = iter(loader)
    for _ in range(workers):  # each worker's first batch pays its start-up
        next(stream)
    start = time.perf_counter()
    count = sum(len(batch["image"]) for batch in stream)
    return count / (time.perf_counter() - start)


def gpu_demand(flops: float, tflops: float, utilisation: float) -> dict[str, float]:
    """Samples/s a GPU trains at its ceiling and at `utilisation` of it."""
    ceiling = tflops * 1e12 / flops
    return {"ceiling": ceiling, "expected": ceiling * utilisation}


def cores_needed(samples_per_s: float, per_worker: float) -> int:
    """Workers for `samples_per_s` at `per_worker` each, plus the training process's own core."""
    return math.ceil(samples_per_s / per_worker) + 1


def main() -> None:
    """Profile and measure each augmentation; compare with the GPU's consumption; write the claims."""
    args = parse_args(__doc__, _options)
    from handdg.synth import make_dataset

    workers = [int(w) for w in args.workers.split(",") if w]
    if args.quick:
        args.unique, args.batches, args.samples, workers = 2, 1, 4, [1]
    flops, flops_source = paper_flops()
    demand = gpu_demand(flops, args.gpu_tflops, args.utilisation)
    measured = {}
    with tempfile.TemporaryDirectory(prefix="handdg-bench-input-") as tmp:
        root = make_dataset(Path(tmp) / "freihand", "freihand", args.unique, seed=0)
        for augment in AUGMENTATIONS:
            dataset = crops(root, augment)
            stages = profile(dataset, args.samples)
            rates = {w: throughput(dataset, w, args.batches) for w in workers}
            measured[augment] = {"profile_s": stages, "samples_per_s": rates,
                                 "per_worker": max(rate / w for w, rate in rates.items()),
                                 "per_core": 1.0 / stages["whole sample"]}
    print_table("CPU milliseconds per sample by stage (paper preset crops)", ["stage", *AUGMENTATIONS],
                [[stage, *(1e3 * measured[a]["profile_s"][stage] for a in AUGMENTATIONS)]
                 for stage in measured["official"]["profile_s"]])
    print_table("DataLoader samples/s", ["workers", *AUGMENTATIONS],
                [[w, *(measured[a]["samples_per_s"][w] for a in AUGMENTATIONS)] for w in workers])
    claims = []
    for augment in AUGMENTATIONS:
        m = measured[augment]
        hot = max((s for s in m["profile_s"] if s != "whole sample"), key=m["profile_s"].get)
        claims.append(Claim("12", f"input pipeline, paper preset crops, {augment} augmentation: samples/s per core",
                            m["per_core"], f"{1e3 * m['profile_s']['whole sample']:.1f} CPU ms/sample; slowest "
                            f"stage: {hot} {1e3 * m['profile_s'][hot]:.1f} ms; DataLoader on this machine: "
                            f"{m['per_worker']:.0f} samples/s per worker (wall clock)",
                            limit="one core per worker: JPEG decode, PIL warp, heatmaps, photometric ops"))
        m["cores_at_ceiling"] = cores_needed(demand["ceiling"], m["per_core"])
        m["cores_expected"] = cores_needed(demand["expected"], m["per_core"])
        claims.append(Claim("12", f"input pipeline: CPU cores to feed an H200 with the paper preset ({augment})",
                            m["cores_expected"],
                            f"{demand['expected']:,.0f} samples/s at {args.utilisation:.0%} of {args.gpu_tflops:g} "
                            f"TFLOP/s ({m['cores_at_ceiling']} cores at 100%); {flops / 1e9:.0f} GFLOP/sample",
                            higher_is_better=False, unit=" cores",
                            limit="samples/s per core of this CPU; a faster core needs fewer"))
    write_result("input", args, claims, {
        "preset": "paper", "batch": BATCH, "unique_samples": args.unique, "batches": args.batches,
        "flops_per_sample": flops, "flops_source": flops_source, "gpu_tflops": args.gpu_tflops,
        "utilisation": args.utilisation, "gpu_samples_per_s": demand, "workers": workers,
        "augmentations": {a: {**m, "samples_per_s": {str(w): r for w, r in m["samples_per_s"].items()}}
                          for a, m in measured.items()},
    })


if __name__ == "__main__":
    main()
