"""Synthetic data generation speed: images written per second by `handdg synth`, per layout.

Each layout is generated end to end (render, composite, encode, write files and annotations)
into a temporary folder with 1 and with 2 worker processes, alternating, and the images it
wrote are counted. The target is thousands of images per minute on 2 cores
(2,000 / min = 33.3 img/s) for the FreiHAND layout; RHD and STB (640x480, three cameras per
frame) are reported. CPU time (this process + worker processes) is measured too: images per
CPU-second x 120 is what 2 otherwise idle cores would give, whatever else shares the machine now.

Usage: python benchmarks/bench_synth.py [--quick] [--repeats 2]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from harness import Claim, parse_args, print_table, time_calls, write_result

COUNTS = {"freihand": 48, "rhd": 96, "stb": 12}  # freihand: unique samples (x4 images); stb: frames per sequence
QUICK_COUNTS = {"freihand": 2, "rhd": 4, "stb": 1}
TARGET_PER_MIN = 2000.0


def _options(ap: argparse.ArgumentParser) -> None:
    """This benchmark's own option."""
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per layout and worker count")


def cpu_seconds() -> float:
    """CPU time used so far by this process and its finished children (worker processes)."""
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


def images_written(root: Path) -> int:
    """Image files of a generated dataset (jpg/png; masks and depth maps excluded)."""
    return sum(1 for p in root.rglob("*") if p.suffix in (".jpg", ".png") and p.parent.name not in ("mask", "depth"))


def main() -> None:
    """Time make_dataset per layout with 1 and 2 workers; write images/s and the 2-core claim."""
    args = parse_args(__doc__, _options)
    from handdg.synth import make_dataset

    counts = QUICK_COUNTS if args.quick else COUNTS
    repeats = 1 if args.quick else args.repeats
    rows, details, claims = [], {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for layout, count in counts.items():
            out = {w: Path(tmp) / f"{layout}-{w}" for w in (1, 2)}
            calls = {w: (lambda w=w: make_dataset(out[w], layout, count, seed=0, overwrite=True, workers=w))
                     for w in (1, 2)}
            cpu_start = cpu_seconds()
            timings = time_calls(calls, repeats=repeats, warmup=0)
            cpu = (cpu_seconds() - cpu_start) / (2 * repeats)  # per dataset, averaged over both worker counts
            images = images_written(out[1])
            rate = {w: images / timings[w].median_s for w in (1, 2)}
            per_cpu_s = images / cpu
            rows.append([layout, count, images, rate[1], rate[2], per_cpu_s, per_cpu_s * 120])
            details[layout] = {"count": count, "images": images,
                               "seconds": {str(w): timings[w].to_dict() for w in (1, 2)},
                               "images_per_s": {str(w): rate[w] for w in (1, 2)},
                               "images_per_cpu_s": per_cpu_s}
            target = TARGET_PER_MIN / 60 if layout == "freihand" else None
            claims.append(Claim(
                id=f"S{len(claims) + 1}", claim=f"synth {layout}: images/s on 2 idle cores (from CPU time)",
                value=per_cpu_s * 2,
                summary=f"{per_cpu_s * 120:.0f}/min on 2 idle cores ({per_cpu_s:.1f} img per CPU-second); wall clock "
                        f"on the shared machine: {rate[2]:.1f} img/s with 2 workers, {rate[1]:.1f} with 1; "
                        f"{images} images of {'224²' if layout == 'freihand' else '320²' if layout == 'rhd' else '640×480'}",
                target=target, limit="numpy per-primitive ray casting + PNG/JPEG encoding, 2 shared cores",
                unit=" img/s"))
            shutil.rmtree(out[1], ignore_errors=True)
            shutil.rmtree(out[2], ignore_errors=True)
    print_table("synth: images written per second (wall clock) and per CPU-second",
                ["layout", "count", "images", "1 worker", "2 workers", "per CPU-s", "per min, 2 idle cores"], rows)
    write_result("synth", args, claims, details)


if __name__ == "__main__":
    main()
