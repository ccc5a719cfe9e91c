"""Claims 1 and 4: featurize does not starve CLIP, and short-context prompt encoding pays.

Claim 1: images/s of `featurize_dataset`'s image phase (JPEG decode + preprocessing in
DataLoader workers, CLIP forward, Zarr chunk writes) over images/s of the bare
`ClipEncoder.encode_images` on the same images already decoded and preprocessed into tensors,
same batch size and threads. Target ≥ 0.9. The store's prompt chunks are pre-filled through
the writer API so the timed run is image work only.

Claim 4: prompt encoding at the shortest context that holds every prompt vs the full 77-token
context, on every 8th prompt (490 of 3,920; --all-prompts for all). Random weights: speed does
not depend on the values.

Usage: python benchmarks/bench_featurize.py [--quick] [--threads N] [--images 256] [--batch 64]
       [--workers W] [--repeats 2] [--all-prompts]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness import Claim, parse_args, print_table, time_calls, write_result
from synthetic import fill_store


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--model", default="ViT-B-32", help="open_clip model name")
    ap.add_argument("--images", type=int, default=256, help="images in the benchmark folder (224x224 JPEG)")
    ap.add_argument("--batch", type=int, default=64, help="images per forward, both sides")
    ap.add_argument("--workers", type=int, default=None, help="featurize decoding workers (default: featurize's)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per side, interleaved")
    ap.add_argument("--all-prompts", action="store_true", help="time all 3,920 prompts instead of every 8th")


def write_images(root: Path, count: int, size: int) -> None:
    """`count` random-noise JPEGs of size x size (FreiHAND's images are 224x224 JPEGs)."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"{i:08d}.jpg", quality=90)


def bench_images(args: argparse.Namespace, encoder, work: Path, count: int, batch: int) -> tuple[Claim, dict]:
    """Claim 1: end-to-end image phase vs bare forward on pre-decoded tensors, interleaved runs."""
    from handdg.data import open_dataset
    from handdg.featurize.run import default_workers, featurize_dataset, store_spec

    write_images(work / "images", count, 224)
    dataset = open_dataset(work / "images", "folder")
    template = work / "template.zarr"
    fill_store(template, store_spec(dataset, encoder, image_chunk_rows=count), tables=("prompts",))
    pixels = torch.stack([encoder.image_transform(Image.open(dataset.image_path(i)).convert("RGB"))
                          for i in range(count)])
    workers = default_workers() if args.workers is None else args.workers

    def bare() -> float:
        start = time.perf_counter()
        for first in range(0, count, batch):
            encoder.encode_images(pixels[first:first + batch])
        return count / (time.perf_counter() - start)

    def end_to_end(run: int) -> float:
        store = work / f"run{run}.zarr"
        shutil.copytree(template, store)
        report = featurize_dataset(dataset, store, encoder, batch_size=batch, workers=workers,
                                   image_chunk_rows=count, progress=False)
        return report.images_per_second

    encoder.encode_images(pixels[:batch])
    rates: dict[str, list[float]] = {"bare": [], "featurize": []}
    for run in range(args.repeats):
        rates["bare"].append(bare())
        rates["featurize"].append(end_to_end(run))
    best = {side: max(values) for side, values in rates.items()}
    ratio = best["featurize"] / best["bare"]
    print_table(f"{args.model} images: featurize vs bare forward (batch {batch}, {args.threads} threads, "
                f"{workers} workers)", ["side", "img/s per run", "best img/s"],
                [[side, ", ".join(f"{r:.2f}" for r in values), best[side]] for side, values in rates.items()])
    claim = Claim("1", f"featurize image phase vs bare {args.model} forward", ratio,
                  f"{best['featurize']:.2f} vs {best['bare']:.2f} img/s (batch {batch}, {workers} workers)",
                  target=0.9, limit="decoding shares the CPU cores with the model when there is no GPU")
    return claim, {"images": count, "batch": batch, "workers": workers, "images_per_s": rates}


def bench_prompts(args: argparse.Namespace, encoder) -> tuple[Claim, dict]:
    """Claim 4: short-context vs 77-token prompt encoding, interleaved, same prompts."""
    from handdg import prompts
    from handdg.featurize.clip import shortest_context

    texts = prompts.all_prompts() if args.all_prompts else prompts.all_prompts()[::8]
    if args.quick:
        texts = texts[:64]
    tokens = encoder.tokenize(texts)
    timings = time_calls({"short": lambda: encoder.encode_tokens(tokens, short=True),
                          "full": lambda: encoder.encode_tokens(tokens, short=False)}, args.repeats, warmup=0)
    gap = float((encoder.encode_tokens(tokens, short=True) - encoder.encode_tokens(tokens, short=False)).abs().max())
    speedup = timings["full"].median_s / timings["short"].median_s
    context = shortest_context(tokens)
    print_table(f"{args.model} prompts: {len(texts)} prompts, context {context} vs 77",
                ["side", "median s", "prompts/s"],
                [[side, t.median_s, len(texts) / t.median_s] for side, t in timings.items()])
    claim = Claim("4", "prompt encoding at the shortest context vs 77 tokens", speedup,
                  f"{len(texts) / timings['short'].median_s:.0f} vs {len(texts) / timings['full'].median_s:.0f} "
                  f"prompts/s (context {context}; max |difference| {gap:.1e})", unit="×")
    return claim, {"prompts": len(texts), "context": context, "max_abs_difference": gap,
                   "timings": {side: t.to_dict() for side, t in timings.items()}}


def main() -> None:
    """Run both measurements and write benchmarks/results/featurize.json."""
    args = parse_args(__doc__, _options)
    from handdg.featurize.clip import load_clip

    count, batch = args.images, args.batch
    if args.quick:
        args.model, count, batch, args.repeats = "handdg-tiny", 32, 8, 1
    encoder = load_clip(args.model, "random", "cpu")
    with tempfile.TemporaryDirectory(prefix="bench_featurize_") as tmp:
        image_claim, image_details = bench_images(args, encoder, Path(tmp), count, batch)
    prompt_claim, prompt_details = bench_prompts(args, encoder)
    write_result("featurize", args, [image_claim, prompt_claim],
                 {"model": args.model, "images": image_details, "prompts": prompt_details})


if __name__ == "__main__":
    main()
