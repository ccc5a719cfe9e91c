"""Claim 6: reading training batches from handdg's Zarr feature store vs from memory, and its size on disk.

A complete store of FreiHAND's size (130,240 images × 512, float16) is written with handdg's
writer, then opened with `FeatureStore`. Timed, interleaved: random batches of 32 rows read
straight from the Zarr array (what a loader that streams from disk would do) vs
`FeatureStore.image_features(rows)`, which serves rows from the array it loads into memory once
(training's path). The one-time load is timed too, and the store's bytes on disk per 100k images.

Usage: python benchmarks/bench_store_io.py [--quick] [--threads N] [--rows 130240] [--batches 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import Claim, parse_args, print_table, time_calls, write_result
from synthetic import DIM, disk_bytes, write_store

BATCH = 32


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--rows", type=int, default=130_240, help="images in the store (FreiHAND training set: 130,240)")
    ap.add_argument("--batches", type=int, default=200, help="random 32-row batches timed per side")


def measure(path: Path, rows: int, batches: int) -> dict:
    """Write the store, then time its load, Zarr random-batch reads and in-memory random-batch reads."""
    from handdg.stores import FeatureStore, schema

    start = time.perf_counter()
    written = write_store(path, rows)
    write_s = time.perf_counter() - start
    store = FeatureStore.open(path)
    array = store.group[schema.IMAGE_FEATURES]
    start = time.perf_counter()
    in_memory = store.image_features()
    load_s = time.perf_counter() - start
    assert np.array_equal(in_memory, written), "store returned other features than were written"

    picks = iter(np.random.default_rng(0).integers(0, rows, size=(2 * batches + 4, BATCH)))
    timings = time_calls({"zarr": lambda: array.get_orthogonal_selection((np.sort(next(picks)), slice(None))),
                          "memory": lambda: store.image_features(next(picks))}, repeats=batches)
    size, image_size = disk_bytes(path), disk_bytes(path / "images")
    return {"rows": rows, "dim": DIM, "batch": BATCH, "chunk_rows": int(array.chunks[0]),
            "compressors": [str(c) for c in array.compressors], "write_s": write_s, "load_s": load_s,
            "zarr_batch": timings["zarr"].to_dict(), "memory_batch": timings["memory"].to_dict(),
            "disk_bytes": size, "bytes_per_100k_images": image_size * 100_000 / rows,
            "raw_bytes_per_100k_images": 100_000 * DIM * 2}


def main() -> None:
    """Measure a FreiHAND-sized store and write the claims."""
    args = parse_args(__doc__, _options)
    rows, batches = (1000, 10) if args.quick else (args.rows, args.batches)
    with tempfile.TemporaryDirectory(prefix="handdg-bench-") as tmp:
        result = measure(Path(tmp) / "store.zarr", rows, batches)
    zarr_s, memory_s = result["zarr_batch"]["median_s"], result["memory_batch"]["median_s"]
    per_100k = result["bytes_per_100k_images"] / 2**20
    print_table(f"store of {rows:,} x {DIM} float16 ({args.threads} threads)", ["quantity", "value"],
                [["write store, s", result["write_s"]], ["load all features into memory, s", result["load_s"]],
                 [f"random {BATCH}-row batch from Zarr, ms", 1e3 * zarr_s],
                 [f"random {BATCH}-row batch from memory, ms", 1e3 * memory_s],
                 ["speed-up of memory", zarr_s / memory_s],
                 ["MiB on disk per 100k images", per_100k],
                 ["MiB raw float16 per 100k images", result["raw_bytes_per_100k_images"] / 2**20]])
    claims = [
        Claim("6", f"store I/O: random {BATCH}-row batch, in memory vs Zarr (speed-up)", zarr_s / memory_s,
              f"{1e6 * memory_s:.0f} µs vs {1e3 * zarr_s:.1f} ms; loading all {rows:,} rows once takes "
              f"{result['load_s']:.2f} s (= {result['load_s'] / zarr_s:.0f} Zarr batches)", unit="×",
              limit=f"a Zarr read decompresses every {result['chunk_rows']}-row chunk it touches; "
                    "32 random rows touch most chunks"),
        Claim("6", "store size on disk per 100k images", per_100k,
              f"{per_100k / (result['raw_bytes_per_100k_images'] / 2**20):.2f} of raw float16 "
              f"(whole store {result['disk_bytes'] / 2**20:.0f} MiB for {rows:,} images + 3,920 prompts)", unit=" MiB",
              limit="CLIP features are near-random float16: zstd finds little to compress"),
    ]
    write_result("store_io", args, claims, result)


if __name__ == "__main__":
    main()
