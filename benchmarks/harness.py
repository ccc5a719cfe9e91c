"""Plumbing shared by the benchmark scripts: options, machine description, timing, result files.

Every `bench_*.py` script measures one claim as a ratio of two timings taken in the same run
(interleaved, so drift on a shared machine hits both sides alike), prints a table and writes
`benchmarks/results/<name>.json`:

    {"benchmark": name, "quick": bool, "machine": {...}, "claims": [Claim...], "details": {...}}

`run_all.py` turns the "claims" of every result file into the Performance table of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@dataclass
class Claim:
    """One row of the Performance table: what was measured, against what target, and what limits it.

    `value` is the ratio (or fraction) the claim is about; `target` None means "report only".
    `higher_is_better` says which side of the target passes. `summary` is the human-readable
    figure ("11.8 vs 12.4 img/s"), `limit` what bounds the figure (shown when a target is missed),
    `unit` what follows the value when shown ("×" for speed-ups, "" for fractions).
    """

    id: str
    claim: str
    value: float
    summary: str
    target: float | None = None
    higher_is_better: bool = True
    limit: str = ""
    unit: str = ""

    @property
    def met(self) -> bool | None:
        """True/False against the target; None when the claim has no target."""
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def to_dict(self) -> dict:
        """JSON form, with `met` resolved."""
        return {**asdict(self), "met": self.met}

    def value_text(self) -> str:
        """The value as shown in tables: 3 significant digits and the unit."""
        return f"{self.value:.3g}{self.unit}"


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The options every benchmark takes (--quick, --threads, --out) plus the script's own."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the script runs end to end, in seconds")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="torch / FAISS / BLAS threads (default: every core)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON result")
    if extra is not None:
        extra(ap)
    args = ap.parse_args()
    set_threads(args.threads)
    return args


def set_threads(threads: int) -> None:
    """Use `threads` threads in torch, FAISS and numpy's BLAS alike, so both sides of a ratio get the same."""
    import faiss
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    threadpool_limits(limits=threads)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(*distributions: str) -> str | None:
    """Installed version of the first of `distributions` present (read from package metadata, no import)."""
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def machine_info() -> dict:
    """What the numbers depend on: CPU, cores, load at start, library versions, threads."""
    import torch

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "faiss": _version("faiss-cpu", "faiss-gpu-cu12", "faiss-gpu", "faiss"),
        "zarr": _version("zarr"),
        "numpy": _version("numpy"),
        "open_clip": _version("open_clip_torch"),
        "threads": torch.get_num_threads(),
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


@dataclass
class Timing:
    """Seconds per call over the timed repeats (warm-up calls excluded)."""

    median_s: float
    min_s: float
    runs: list[float]

    def to_dict(self) -> dict:
        """JSON form."""
        return asdict(self)


def run_at_commit(rev: str, tree: Path, script: str, argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run benchmark `script` (today's file) with `argv` in a child process whose handdg is imported from a git
    worktree of commit `rev` at `tree` (removed afterwards): a before/after of the code in one run. Returns the
    short commit. The child sees HANDDG_BENCH_LIBRARY=tree, so it can check where its handdg came from."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(tree), rev],
                   check=True, capture_output=True)
    try:
        commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        # handdg is imported from the worktree before the script, whose harness puts today's checkout on sys.path
        start = (f"import sys, runpy; sys.path.insert(0, {str(tree)!r}); import handdg; "
                 f"sys.path.insert(0, {str(HERE)!r}); sys.argv = {[script, *argv]!r}; "
                 f"runpy.run_path({script!r}, run_name='__main__')")
        subprocess.run([sys.executable, "-c", start], check=True,
                       env={**os.environ, **(env or {}), "HANDDG_BENCH_LIBRARY": str(tree)})
        return commit
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)


def imported_from_library() -> None:
    """In a run_at_commit child: exit unless handdg was imported from the worktree it was given."""
    import handdg

    library = os.environ.get("HANDDG_BENCH_LIBRARY", "")
    if not library or not handdg.__file__.startswith(library):
        raise SystemExit(f"the child imported handdg from {handdg.__file__}, not from {library or '(none given)'}")


def time_calls(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, Timing]:
    """Time each callable `repeats` times, round-robin so every side sees the same machine load."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            runs[name].append(time.perf_counter() - start)
    return {name: Timing(statistics.median(r), min(r), r) for name, r in runs.items()}


def print_table(title: str, headers: list[str], rows: list[list[object]]) -> None:
    """A plain aligned text table on stdout."""
    cells = [headers] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * width for width in widths))


def _cell(value: object) -> str:
    """Floats with 4 significant digits, everything else as str."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_result(name: str, args: argparse.Namespace, claims: list[Claim], details: dict) -> Path:
    """Write results/<name>.json (via a temp file, so a killed run never leaves half a file) and print the claims."""
    payload = {"benchmark": name, "quick": bool(args.quick), "machine": machine_info(),
               "claims": [c.to_dict() for c in claims], "details": details}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)
    print_table(f"{name}: claims", ["#", "claim", "value", "target", "met", "figures"],
                [[c.id, c.claim, c.value_text(), "-" if c.target is None else c.target,
                  {True: "yes", False: "NO", None: "-"}[c.met], c.summary] for c in claims])
    print(f"\nwrote {path}")
    return path


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of `fn` (2 per multiply-add), counted by torch's FlopCounterMode.

    The counter only sees ops it knows: PyTorch's fused MultiheadAttention fast path and the
    fused CPU attention kernel are switched off while counting, so attention shows up as the
    matmuls it is made of. Elementwise ops (norms, activations) are not counted: they are
    memory-bound and a few percent of a ViT's work.
    """
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
            fn()
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return int(counter.get_total_flops())


class StepClock:
    """Timestamps of every optimiser step taken while active (a global torch optimiser post-step hook).

    The interval between two consecutive steps is one whole training step of the loop being
    measured (data, CLIP features, forward, backward, update), with no change to that loop.
    """

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self._handle = None

    def __enter__(self) -> "StepClock":
        from torch.optim.optimizer import register_optimizer_step_post_hook

        self._handle = register_optimizer_step_post_hook(lambda *_: self.stamps.append(time.perf_counter()))
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()

    def step_seconds(self) -> float:
        """Median seconds between consecutive steps (the first step, with its warm-up, only starts the clock)."""
        return median_interval(self.stamps)

    def mean_step_seconds(self, warm_up: int) -> float:
        """Mean seconds per step after the first `warm_up` steps: stalls count, unlike in the median."""
        gaps = [b - a for a, b in zip(self.stamps, self.stamps[1:])][warm_up:]
        if not gaps:
            raise RuntimeError(f"a mean step time after {warm_up} warm-up steps needs more steps, got {len(self.stamps)}")
        return sum(gaps) / len(gaps)


def median_interval(stamps: list[float]) -> float:
    """Median gap between consecutive timestamps."""
    if len(stamps) < 2:
        raise RuntimeError(f"a step time needs at least 2 optimiser steps, got {len(stamps)}")
    return statistics.median(b - a for a, b in zip(stamps, stamps[1:]))
