"""How fast the command line answers when it computes nothing: help, prompts, data check, store info, option errors.

Every path runs as a fresh `python -m handdg ...` subprocess (interpreter start-up included, as a
user sees it), `--repeats` times round-robin; the median wall time is reported. One more run per
path under `python -X importtime` says which heavy libraries it imported (torch, torchvision,
open_clip, faiss, zarr, numpy, ...). Inputs are tiny: a 2-sample synthetic FreiHAND install for
`data check` and a 16-image synthetic store for `store info`.

`--source DIR` times another handdg checkout (DIR holds its `handdg/` package), e.g. an older
commit unpacked with `git archive COMMIT handdg | tar -x -C DIR`, for before/after figures.

Usage: python benchmarks/bench_cli.py [--quick] [--repeats 5] [--source DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO, Claim, parse_args, print_table, write_result

HEAVY = ("torch", "torchvision", "open_clip", "faiss", "zarr", "scipy", "PIL", "numpy")
"""Libraries whose import the table reports (top-level module names)."""
TARGET_S = 1.0
"""Each of these paths should finish in well under a second."""


def _options(ap: argparse.ArgumentParser) -> None:
    """This benchmark's own options."""
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per path (the median is reported)")
    ap.add_argument("--source", type=Path, default=REPO,
                    help="checkout whose handdg package is timed (default: this one)")


def command_names(source: Path) -> list[str]:
    """Every top-level command of the checkout in `source`, as `handdg --help` lists them."""
    out = _run(source, [sys.executable, "-m", "handdg", "--help"], timeout=300).stdout
    names, listing = [], False
    for line in out.splitlines():
        if line.startswith("Commands:"):
            listing = True
        elif listing and line.startswith("  ") and not line.startswith("   "):
            names.append(line.split()[0])
    return names


def paths(source: Path, data_root: Path, store: Path) -> dict[str, tuple[list[str], int]]:
    """label -> (handdg arguments, expected exit status)."""
    found = {"--help": (["--help"], 0)}
    for name in command_names(source):
        found[f"{name} --help"] = ([name, "--help"], 0)
    found["prompts"] = (["prompts"], 0)
    found["data check"] = (["data", "check", str(data_root), "--layout", "freihand"], 0)
    found["store info"] = (["store", "info", str(store)], 0)
    found["train --lr abc"] = (["train", "--lr", "abc"], 2)
    return found


def _env(source: Path) -> dict[str, str]:
    """Import handdg from `source` (ahead of any installed copy); no network for CLIP weights."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")])),
            "HF_HUB_OFFLINE": "1"}


def _run(source: Path, cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=source, env=_env(source), capture_output=True, text=True, timeout=timeout)


def imported(source: Path, args: list[str]) -> dict[str, float]:
    """Heavy libraries one run of `python -m handdg ARGS` imports -> their cumulative import time in s
    (from -X importtime)."""
    done = _run(source, [sys.executable, "-X", "importtime", "-m", "handdg", *args], timeout=300)
    seen: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        name = name.strip()
        if name in HEAVY and cumulative.strip().isdigit():
            seen[name] = int(cumulative) / 1e6
    return seen


def handdg_file(source: Path) -> str:
    """The file `import handdg` finds with `source` first on the path (to check which copy is timed)."""
    return _run(source, [sys.executable, "-c", "import handdg; print(handdg.__file__)"], timeout=60).stdout.strip()


def measure(source: Path, cases: dict[str, tuple[list[str], int]], repeats: int) -> dict[str, dict]:
    """Wall times of fresh `python -m handdg ARGS` runs (round-robin over the paths) and what each imports."""
    runs: dict[str, list[float]] = {label: [] for label in cases}
    statuses: dict[str, set[int]] = {label: set() for label in cases}
    for _ in range(repeats):
        for label, (args, _) in cases.items():
            start = time.perf_counter()
            done = _run(source, [sys.executable, "-m", "handdg", *args], timeout=300)
            runs[label].append(time.perf_counter() - start)
            statuses[label].add(done.returncode)
    results = {}
    for label, (args, expected) in cases.items():
        heavy = imported(source, args)
        results[label] = {"args": args, "median_s": statistics.median(runs[label]), "min_s": min(runs[label]),
                          "runs": runs[label], "exit": sorted(statuses[label]), "expected_exit": expected,
                          "torch": "torch" in heavy, "imports": heavy}
    return results


def inputs(work: Path) -> tuple[Path, Path]:
    """A tiny synthetic FreiHAND install and a complete 16-image synthetic feature store."""
    from handdg.synth import make_dataset
    from synthetic import write_store

    root = make_dataset(work / "freihand", "freihand", 2, seed=0)
    store = work / "synthetic.zarr"
    write_store(store, 16)
    return root, store


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _options)
    repeats = 1 if args.quick else args.repeats
    source = args.source.resolve()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        data_root, store = inputs(Path(tmp))
        cases = paths(source, data_root, store)
        where = handdg_file(source)
        results = measure(source, cases, repeats)

    rows = [[label, r["median_s"], r["min_s"], "yes" if r["torch"] else "no",
             ", ".join(name for name in HEAVY if name in r["imports"]) or "-",
             ",".join(map(str, r["exit"]))
             + ("" if r["exit"] == [r["expected_exit"]] else f" (expected {r['expected_exit']})")]
            for label, r in results.items()]
    print_table(f"handdg CLI, fresh processes, median of {repeats} (handdg from {where})",
                ["path", "median s", "min s", "torch", "heavy imports", "exit"], rows)

    slowest = max(results, key=lambda label: results[label]["median_s"])
    with_torch = [label for label, r in results.items() if r["torch"]]
    wrong_exit = [label for label, r in results.items() if r["exit"] != [r["expected_exit"]]]
    claims = [
        Claim("22", "CLI: `handdg --help`, fresh process", results["--help"]["median_s"],
              f"median of {repeats}", target=TARGET_S, higher_is_better=False, unit=" s",
              limit="interpreter start-up + imports"),
        Claim("22", "CLI: slowest path that computes nothing (help, prompts, data check, store info, option error)",
              results[slowest]["median_s"], f"{slowest}; {len(results)} paths, median of {repeats}",
              target=TARGET_S, higher_is_better=False, unit=" s", limit="imports at start-up"),
        Claim("22", "CLI: paths that compute nothing yet import torch", float(len(with_torch)),
              (", ".join(with_torch[:3]) + (f" and {len(with_torch) - 3} more" if len(with_torch) > 3 else ""))
              or "none", target=0.0, higher_is_better=False),
    ]
    details = {"source": str(source), "handdg_file": where, "repeats": repeats, "paths": results,
               "wrong_exit": wrong_exit}
    write_result("cli", args, claims, details)
    if wrong_exit:
        sys.exit(f"bench_cli: unexpected exit status for {', '.join(wrong_exit)}")


if __name__ == "__main__":
    main()
