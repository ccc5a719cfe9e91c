"""kill -9 at several moments of `featurize`, `train` and `synth`, then the same command again (train: --resume).

For each command an uninterrupted reference is made first. Each kill point starts the command in
a subprocess, waits for a moment of its progress (chunks written, checkpoints saved, files
rendered) plus a random delay, sends SIGKILL, checks that nothing looks complete (the store is
not complete, last.safetensors is short of the planned steps, the synth folder does not exist),
runs the same command to the end and checks its artefacts equal the reference's. Train's first
kill point falls before its first checkpoint.

    OMP_NUM_THREADS=1 python benchmarks/kill_resume.py            # 5 kill points each (~10 min, 2 cores)
    OMP_NUM_THREADS=1 python benchmarks/kill_resume.py --quick    # toy sizes

Prints one line per kill and writes benchmarks/results/kill_resume.json; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from handdg.cli import main  # noqa: E402

TINY_CLIP = ["--clip-model", "handdg-tiny", "--clip-weights", "random:3"]
POLL = 0.005


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _invoke(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    if result.exit_code != 0:
        raise RuntimeError(f"handdg {' '.join(args)} failed: {result.output}")


def _count(folder: Path) -> int:
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def kill_at(args: list[str], reached: Callable[[], bool], rng: random.Random, timeout: float = 600) -> bool:
    """Start `handdg args`, SIGKILL it once `reached()` (plus a random 0-50 ms); False if it finished first."""
    process = subprocess.Popen([sys.executable, "-m", "handdg", *args], env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not reached() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(POLL)
    time.sleep(rng.uniform(0, 0.05))
    finished = process.poll() is not None
    process.send_signal(signal.SIGKILL)
    process.wait()
    return not finished


def featurize_case(work: Path, points: list[int], rng: random.Random, images: int) -> list[dict]:
    """Kill featurize after `p` image chunks are done (0 = while encoding prompts)."""
    from featurize_fixtures import write_folder
    from handdg.stores import FeatureStore
    from handdg.stores.verify import verify_store

    root = write_folder(work / "imgs", images)
    base = ["featurize", str(root), "--layout", "folder", *TINY_CLIP, "--chunk-rows", "4", "--batch-size", "4",
            "--workers", "0", "--quiet"]
    _invoke([*base, "--store", str(work / "ref.zarr")])
    reference = FeatureStore.open(work / "ref.zarr")
    rows = []
    for point in points:
        store = work / f"killed-{point}.zarr"
        args = [*base, "--store", str(store)]
        killed = kill_at(args, lambda: (store / "zarr.json").exists() and _count(store / "images/done/c") >= point, rng)
        looked_complete = killed and store.exists() and FeatureStore.open(store).complete
        _invoke(args)
        resumed = FeatureStore.open(store)
        same = (np.array_equal(resumed.image_features(), reference.image_features())
                and np.array_equal(resumed.prompt_features(), reference.prompt_features())
                and np.array_equal(resumed.ids, reference.ids) and verify_store(store, progress=False) == [])
        rows.append({"command": "featurize", "kill_after_chunks": point, "killed": killed,
                     "looked_complete": looked_complete, "same_as_uninterrupted": bool(same)})
    return rows


def train_case(work: Path, points: list[int], rng: random.Random, steps: int) -> list[dict]:
    """Kill train after `p` checkpoints (0 = after config.json, before the first checkpoint)."""
    from handdg.run import runs
    from handdg.synth import make_dataset

    data = make_dataset(work / "fh", "freihand", count=4, seed=0)
    base = ["train", "--data", str(data), "--preset", "tiny", "--branch2", "none", "--batch-size", "4",
            "--steps", str(steps), "--checkpoint-every", "2", "--heatmap-size", "16", "--device", "cpu",
            "--augment", "normal"]
    _invoke([*base, "--out", str(work / "ref")])
    reference = runs.read_metrics(work / "ref")
    rows = []
    for point in points:
        out = work / f"killed-{point}"
        killed = kill_at([*base, "--out", str(out)],
                         lambda: (out / "config.json").exists() and (runs.latest_checkpoint(out) or 0) >= 2 * point, rng)
        kept = runs.latest_checkpoint(out)
        last = out / runs.LAST
        looked_complete = killed and last.exists() and runs.load_weights(last).step >= steps
        if killed:
            _invoke(["train", "--out", str(out), "--resume"])
        mine, theirs = runs.load_weights(out / runs.LAST), runs.load_weights(work / "ref" / runs.LAST)
        same = (runs.read_metrics(out) == reference and mine.step == theirs.step
                and all(torch.equal(mine.weights[k], theirs.weights[k]) for k in theirs.weights))
        rows.append({"command": "train", "kill_after_checkpoints": point, "checkpoint_at_kill": kept,
                     "killed": killed, "looked_complete": looked_complete, "same_as_uninterrupted": bool(same)})
    return rows


def _same_tree(a: Path, b: Path) -> bool:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def synth_case(work: Path, fractions: list[float], rng: random.Random, count: int) -> list[dict]:
    """Kill synth once each fraction of the reference's files is staged in OUT.tmp-<pid>."""
    base = ["synth", "--layout", "freihand", "--count", str(count), "--seed", "0"]
    _invoke([*base, str(work / "ref")])
    total = sum(1 for p in (work / "ref").rglob("*") if p.is_file())
    rows = []
    for point in [max(1, int(f * total)) for f in fractions]:
        out = work / f"killed-{point}"

        def staged() -> bool:
            return sum(1 for tmp in work.glob(f"{out.name}.tmp-*") for p in tmp.rglob("*") if p.is_file()) >= point

        killed = kill_at([*base, str(out)], staged, rng)
        looked_complete = killed and out.exists()
        if killed:
            _invoke([*base, str(out)])
        rows.append({"command": "synth", "kill_after_files": point, "killed": killed,
                     "looked_complete": looked_complete, "same_as_uninterrupted": _same_tree(out, work / "ref")})
    return rows


def main_script() -> int:
    """Run every case and write the result file; exit status 1 if any kill looked complete or resumed differently."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes (proves the script works)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random delays")
    parser.add_argument("--only", choices=["featurize", "train", "synth"], default=None)
    options = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    torch.set_num_threads(1)  # as the subprocesses (OMP_NUM_THREADS=1): same kernels, same sums
    rng = random.Random(options.seed)
    images, steps, count = (40, 10, 6) if options.quick else (120, 20, 24)
    cases = {
        "featurize": lambda w: featurize_case(w, [0, 1, 3, 5, 7], rng, images),
        "train": lambda w: train_case(w, [0, 1, 2, 3, 4], rng, steps),
        "synth": lambda w: synth_case(w, [0.05, 0.25, 0.5, 0.7, 0.85], rng, count),
    }
    rows = []
    for name, case in cases.items():
        if options.only not in (None, name):
            continue
        work = Path(tempfile.mkdtemp(prefix=f"kill-{name}-"))
        try:
            for row in case(work):
                print(json.dumps(row), flush=True)
                rows.append(row)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in rows if r["looked_complete"] or not r["same_as_uninterrupted"]]
    result = {"benchmark": "kill_resume", "quick": options.quick, "kills": rows, "failed": len(failed)}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "kill_resume.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(rows)} kills, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main_script())
