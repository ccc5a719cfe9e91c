"""Every GPU path of handdg, measured in one run (< 8 minutes on one GPU): prints one table last and
writes benchmarks/results/gpu_check.json (or --out).

Stages, each on handdg's own code (the functions the CLI commands call):

1. synth: a synthetic FreiHAND set (`handdg.synth`, 224 px JPEGs);
2. featurize: CLIP ViT-B/32 with random weights (fp16 autocast on CUDA) over the set, into a
   feature store: images/s of the whole pipeline (decode, encode, write) vs the bare forward;
3. train: the `paper` preset from the cached store, in fp32 and bf16 (on CUDA also bf16 under
   `--compile`, whose compile time the warm-up steps hold): samples/s, the fraction of
   the GPU's bf16 FLOP ceiling (`--peak-tflops`, FLOPs per sample counted by torch's
   FlopCounterMode) and each step split into waiting for data vs the rest (forward, backward,
   update);
4. ddp: the same training under `torchrun --nproc-per-node 1` (a process group of one: NCCL on
   GPUs, gloo on CPU, DistributedDataParallel + SyncBatchNorm);
5. eval: the bf16 checkpoint over the set's evaluation split;
6. retrieval: 1 and 1,000 queries over 130,240 CLIP-like vectors, through faiss-gpu when it
   imports and sees the GPU, else handdg's CPU index.

Without CUDA (or with --quick) it runs the same stages at toy sizes in well under a minute, so
the test suite keeps it working. On a GPU machine without open_clip/zarr/faiss, run it through
benchmarks/gpu_check.sh, which installs them from a folder of wheels first.

Usage: python benchmarks/gpu_check.py [--quick] [--out DIR] [--device auto] [--batch 64] [--steps 30]
       [--unique 256] [--peak-tflops 790] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO, RESULTS, machine_info, print_table

FREIHAND_IMAGES = 130_240
RETRIEVAL_QUERIES = 1000
WARMUP_STEPS = 5
"""Steps whose times are left out (cuDNN autotuning, worker start-up, allocator growth)."""


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Options; sizes default to the GPU run's, --quick (or no CUDA) shrinks them to a toy run."""
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="toy sizes (automatic without CUDA)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for gpu_check.json")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument("--batch", type=int, default=64, help="training batch size")
    ap.add_argument("--steps", type=int, default=30, help="training steps per precision")
    ap.add_argument("--unique", type=int, default=256, help="synthetic FreiHAND samples (x4 images)")
    ap.add_argument("--peak-tflops", type=float, default=790.0, help="the GPU's dense bf16 TFLOP/s (H200: ~790)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = ap.parse_args(argv)
    args.cuda = torch.cuda.is_available() and args.device != "cpu"
    args.quick = args.quick or not args.cuda
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.batch, args.steps, args.unique = 4, 3, 3
    args.preset = "tiny" if args.quick else "paper"
    args.clip_model = "handdg-tiny" if args.quick else "ViT-B-32"
    args.rows = 2000 if args.quick else FREIHAND_IMAGES
    return args


def _sync(cuda: bool) -> None:
    import torch

    if cuda:
        torch.cuda.synchronize()


def synth(work: Path, unique: int) -> tuple[Path, float]:
    """A synthetic FreiHAND set and the seconds it took."""
    from handdg.loading import usable_cores
    from handdg.synth import make_dataset

    start = time.perf_counter()
    root = make_dataset(work / "freihand", "freihand", unique, seed=0, workers=usable_cores())
    return root, time.perf_counter() - start


def featurize(root: Path, work: Path, args: argparse.Namespace) -> tuple[Path, dict]:
    """Fill a store with random-weight CLIP features; pipeline images/s vs the bare forward."""
    import torch

    from handdg.data import open_dataset
    from handdg.featurize import featurize_dataset, load_clip

    encoder = load_clip(args.clip_model, "random", args.device)
    batch = torch.rand(args.batch, 3, encoder.image_size, encoder.image_size)
    with torch.inference_mode():
        for _ in range(2):
            encoder.encode_images(batch)
        _sync(args.cuda)
        start, repeats = time.perf_counter(), 3 if args.quick else 10
        for _ in range(repeats):
            encoder.encode_images(batch)
        _sync(args.cuda)
    bare = repeats * args.batch / (time.perf_counter() - start)
    store = work / "freihand.zarr"
    report = featurize_dataset(open_dataset(root, "freihand", "train"), store, encoder, batch_size=args.batch,
                               progress=False)
    return store, {"model": args.clip_model, "bare_img_s": bare, "pipeline_img_s": report.images_per_second,
                   "images": report.images_written, "seconds": report.seconds,
                   "clip_dim": encoder.embed_dim, "encoder": encoder}


def base_config(root: Path, store: Path, args: argparse.Namespace, **changes):
    """The training run every train stage starts from: cached IE+TE features, the chosen preset."""
    from handdg.run.config import TrainConfig

    values = dict(data=str(root), store=str(store), preset=args.preset, ratio=0.6, batch_size=args.batch,
                  steps=args.steps, checkpoint_every=args.steps, log_every=1, device=args.device)
    return TrainConfig(**{**values, **changes})


def train(root: Path, store: Path, work: Path, precision: str, args: argparse.Namespace, flops: float,
          compile: bool = False) -> dict:
    """One training run: median step time after warm-up, split into data wait and the rest (the loop's StepTimer)."""
    from handdg.run import runs
    from handdg.train import loop
    from handdg.train.timing import StepTimer

    name = f"train-{precision}" + ("-compiled" if compile else "")
    config = base_config(root, store, args, precision=precision, compile=compile, out=str(work / name))
    timer = StepTimer(warm_up=min(WARMUP_STEPS, max(0, args.steps - 3)))
    start = time.perf_counter()
    loop.train(config, timer=timer)
    wall = time.perf_counter() - start
    summary = timer.summary()
    step_s, wait_s = summary["step_s"], summary["wait_s"]
    samples_s = args.batch / step_s
    ran = runs.read_run(work / name)[0]  # what the run settled on (precision and layout resolved for the device)
    return {"precision": ran.precision, "memory_format": ran.memory_format, "workers": ran.workers,
            "compile": compile,
            "step_s": step_s, "data_wait_s": wait_s, "compute_s": max(0.0, step_s - wait_s),
            "samples_per_s": samples_s, "flops_per_sample": flops,
            "fraction_of_peak": samples_s * flops / (args.peak_tflops * 1e12), "wall_s": wall,
            "out": str(work / name), "epoch_minutes": FREIHAND_IMAGES / samples_s / 60}


def ddp(root: Path, store: Path, work: Path, args: argparse.Namespace) -> dict:
    """`torchrun --nproc-per-node 1 -m handdg train` (NCCL on CUDA, gloo on CPU): exit status and seconds."""
    out = work / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "handdg",
           "train", "--out", str(out), "--data", str(root), "--store", str(store), "--preset", args.preset,
           "--ratio", "0.6", "--batch-size", str(args.batch), "--steps", str(args.steps),
           "--checkpoint-every", str(args.steps), "--log-every", "1", "--device", args.device]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    config = json.loads((out / "config.json").read_text()) if (out / "config.json").exists() else {}
    rows = (out / "metrics.csv").read_text().count("\n") - 1 if (out / "metrics.csv").exists() else 0
    return {"ok": done.returncode == 0 and rows == args.steps, "returncode": done.returncode, "seconds": seconds,
            "backend": "nccl" if args.cuda else "gloo", "world_size": config.get("world_size"), "logged_steps": rows,
            "stderr_tail": done.stderr[-2000:] if done.returncode else ""}


def evaluate(root: Path, run: str, args: argparse.Namespace) -> dict:
    """Score the run's last checkpoint on the evaluation split: samples/s and the mean EPE."""
    from handdg.evaluation.evaluate import evaluate as score

    _sync(args.cuda)
    start = time.perf_counter()
    result = score(Path(run) / "last.safetensors", "freihand", root, "evaluation", batch_size=args.batch,
                   device=args.device, show_progress=False)
    seconds = time.perf_counter() - start
    return {"count": result["count"], "seconds": seconds, "samples_per_s": result["count"] / seconds,
            "precision": result["precision"], "epe_mean_mm": result["protocols"]["official"]["epe_mean_mm"]}


def retrieval(rows: int) -> dict:
    """1 and 1,000 top-10 queries over `rows` vectors: faiss-gpu when it sees a GPU, else the CPU index."""
    import faiss
    import numpy as np

    from handdg.stores import index as faiss_index
    from synthetic import unit_vectors

    vectors = unit_vectors("clustered", rows)
    queries = unit_vectors("clustered", RETRIEVAL_QUERIES, seed=2)
    flat, _ = faiss_index.build(vectors, np.arange(rows))
    on_gpu = faiss_index.gpu_available()
    index = faiss.index_cpu_to_all_gpus(flat) if on_gpu else flat
    timings = {}
    for count in (1, RETRIEVAL_QUERIES):
        faiss_index.search(index, queries[:count], 10)
        start = time.perf_counter()
        repeats = 5
        for _ in range(repeats):
            faiss_index.search(index, queries[:count], 10)
        timings[count] = (time.perf_counter() - start) / repeats
    same = np.array_equal(faiss_index.search(index, queries, 10)[1], faiss_index.search(flat, queries, 10)[1])
    return {"faiss_gpu": on_gpu, "rows": rows, "one_query_ms": 1e3 * timings[1],
            "queries_per_s": RETRIEVAL_QUERIES / timings[RETRIEVAL_QUERIES], "same_as_cpu": bool(same)}


def table_rows(r: dict) -> list[list[object]]:
    """The summary table: stage, what, value, unit."""
    rows = [["synth", f"{r['featurize']['images']} images", r["synth_s"], "s"],
            ["featurize", f"bare {r['featurize']['model']} forward", r["featurize"]["bare_img_s"], "img/s"],
            ["featurize", "whole pipeline (decode, encode, write)", r["featurize"]["pipeline_img_s"], "img/s"],
            ["featurize", "pipeline / bare", r["featurize"]["pipeline_img_s"] / r["featurize"]["bare_img_s"], ""]]
    for t in r["train"]:
        where = (f"{r['preset']} {t['precision']}{' compiled' if t.get('compile') else ''} "
                 f"({t['memory_format']}, {t['workers']} workers)")
        rows += [["train", f"{where} samples/s", t["samples_per_s"], "samples/s"],
                 ["train", f"{where} fraction of bf16 peak", t["fraction_of_peak"], ""],
                 ["train", f"{where} step: data wait / rest", f"{1e3 * t['data_wait_s']:.1f} / {1e3 * t['compute_s']:.1f}", "ms"],
                 ["train", f"{where} FreiHAND epoch", t["epoch_minutes"], "min"]]
    d = r["ddp"]
    rows.append(["ddp", f"torchrun 1 process, {d['backend']}: {'ok' if d['ok'] else 'FAILED'}", d["seconds"], "s"])
    e = r["eval"]
    rows += [["eval", f"{e['count']} samples, {e['precision']}", e["samples_per_s"], "samples/s"]]
    q = r["retrieval"]
    where = "faiss-gpu" if q["faiss_gpu"] else "CPU index"
    rows += [["retrieval", f"1 query over {q['rows']:,} ({where})", q["one_query_ms"], "ms"],
             ["retrieval", f"{RETRIEVAL_QUERIES:,} queries ({where}), same as CPU: {q['same_as_cpu']}",
              q["queries_per_s"], "queries/s"]]
    return rows


def run(args: argparse.Namespace) -> dict:
    """Every stage in order; returns the JSON payload's details."""
    from bench_train import flops_per_image

    result: dict = {"preset": args.preset, "batch": args.batch, "steps": args.steps, "peak_tflops": args.peak_tflops}
    clock = StageClock()
    with tempfile.TemporaryDirectory(prefix="handdg-gpu-check-") as tmp:
        work = Path(tmp)
        root, result["synth_s"] = clock("synth", synth, work, args.unique)
        store, result["featurize"] = clock("featurize", featurize, root, work, args)
        encoder = result["featurize"].pop("encoder")
        flops = clock("flops", flops_per_image, base_config(root, store, args), encoder, encoder.embed_dim)
        del encoder
        variants = [("fp32", False), ("bf16", False)]
        if args.cuda and not args.quick:  # a compile at toy size on CPU would only cost the test suite a minute
            variants.append(("bf16", True))
        result["train"] = [clock(f"train {p}" + " compiled" * c, train, root, store, work, p, args,
                                 flops["train_branch2"], c) for p, c in variants]
        result["ddp"] = clock("ddp", ddp, root, store, work, args)
        result["eval"] = clock("eval", evaluate, root, result["train"][-1]["out"], args)
    result["retrieval"] = clock("retrieval", retrieval, args.rows)
    result["stage_s"] = clock.seconds
    return result


class StageClock:
    """Calls a stage, noting its wall seconds under its name (the check's own time budget)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, fn, *args):
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 2)
            print(f"gpu_check: {name} took {self.seconds[name]:.1f} s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> Path:
    """Run the check, write the JSON, print the table last; returns the JSON's path."""
    args = parse(argv)
    start = time.perf_counter()
    details = run(args)
    details["total_s"] = time.perf_counter() - start
    payload = {"benchmark": "gpu_check", "quick": args.quick, "machine": machine_info(), "claims": [],
               "details": details}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gpu_check.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)
    print(f"wrote {path}")
    machine = payload["machine"]
    print_table(f"gpu_check ({machine['gpu'] or machine['cpu']}, {machine['date_utc']}, "
                f"{details['total_s']:.0f} s in all{', toy sizes' if args.quick else ''})",
                ["stage", "what", "value", "unit"], table_rows(details))
    return path


if __name__ == "__main__":
    main()
