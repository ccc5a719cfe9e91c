"""Claim 7: how handdg's costs grow with dataset size and with processes.

Size: handdg stores of 1k, 10k and 100k synthetic images (512-d), each written with handdg's
writer, loaded with `FeatureStore`, indexed with handdg.stores.index (flat, exact) and searched
with 1,000 queries; reported as cost per row at the largest size relative to the smallest
(1.0 = linear; below 1 = fixed costs amortised).

Usage: python benchmarks/bench_scaling.py [--quick] [--threads N] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness import Claim, parse_args, print_table, time_calls, write_result
from synthetic import disk_bytes, unit_vectors, write_store

QUERIES = 1000
K = 10


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sizes", default="1000,10000,100000", help="store sizes in rows, comma-separated")


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


def main() -> None:
    """Measure each size and write one claim per cost: per-row cost at the largest size vs the smallest."""
    args = parse_args(__doc__, _options)
    sizes = [200, 2000] if args.quick else [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="handdg-bench-") as tmp:
        table = [store_costs(Path(tmp), rows) for rows in sizes]
    print_table(f"store and index cost by size ({args.threads} threads)", ["rows", *COSTS.values()],
                [[c["rows"], *(c[key] for key in COSTS)] for c in table])
    small, large = table[0], table[-1]
    claims = []
    for key, name in COSTS.items():
        per_row = (large[key] / large["rows"]) / (small[key] / small["rows"])
        unit = "MiB" if key == "disk_bytes" else "s"
        scale = 2**20 if key == "disk_bytes" else 1.0
        figures = ", ".join(f"{c['rows']:,}: {c[key] / scale:.3g} {unit}" for c in table)
        claims.append(Claim("7", f"scaling: {name}, per-row cost at {large['rows']:,} vs {small['rows']:,} rows",
                            per_row, figures, limit="1.0 = linear in rows"))
    write_result("scaling", args, claims, {"sizes": table, "queries": QUERIES, "k": K})


if __name__ == "__main__":
    main()
