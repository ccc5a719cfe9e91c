"""`make_dataset`: write a synthetic dataset in a real dataset's on-disk layout, atomically and deterministically.

Every sample draws from its own generator seeded by (seed, layout, split, index), so the output
depends only on the seed, never on the number of worker processes. The dataset is written into
a sibling folder `OUT.tmp-<pid>` and renamed to OUT only when complete, so a killed run never
leaves a folder that looks like a finished dataset.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from handdg import __version__
from handdg.errors import HanddgError
from handdg.synth.people import Subject, sample_subject

LAYOUTS = ("freihand", "rhd", "stb")
MANIFEST = "handdg_synth.json"


def sample_rng(seed: int, layout: str, split: str, index: int) -> np.random.Generator:
    """The generator of one sample: a pure function of (seed, layout, split, index)."""
    return np.random.default_rng([seed, LAYOUTS.index(layout), ("train", "test").index(split), index])


# Distinct people per split, as in the real datasets: FreiHAND 32 training subjects (a disjoint
# pool of 8 for evaluation here), RHD 16 training and 4 evaluation characters, STB one subject.
SUBJECTS = {("freihand", "train"): 32, ("freihand", "test"): 8, ("rhd", "train"): 16, ("rhd", "test"): 4,
            ("stb", "train"): 1, ("stb", "test"): 1}
_SLEEVES = {"freihand": 0.5, "rhd": 0.7, "stb": 1.0}


def subject_for(seed: int, layout: str, split: str, index: int) -> Subject:
    """The person in sample `index`: member index % pool of the split's subject pool (STB: the same one in both)."""
    split_key = 0 if layout == "stb" else ("train", "test").index(split)
    member = index % SUBJECTS[layout, split]
    rng = np.random.default_rng([seed, LAYOUTS.index(layout), split_key, member, 1])  # 5 words: not a sample stream
    return sample_subject(rng, sleeve_probability=_SLEEVES[layout])


def eval_count(count: int) -> int:
    """Size of the small held-out split written next to `count` training samples (one in eight, at least 1)."""
    return max(1, -(-count // 8))


def _remove_stale_staging(out: Path) -> None:
    """Delete `OUT.tmp-<pid>` folders left by runs that were killed (their process no longer exists)."""
    for tmp in out.parent.glob(f"{out.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[1]
        if not pid.isdigit() or not tmp.is_dir():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:
            pass  # alive, owned by someone else


_DISK_ERRORS = {errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT}


@contextmanager
def staged_folder(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a fresh temporary sibling of `out`; on success replace `out` by it, on failure remove it.

    Disk problems (full, read-only, no permission) become a HanddgError naming the folder.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise HanddgError(f"{out} exists and is not a folder; choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise HanddgError(f"{out} is not empty; pass --overwrite (overwrite=True) to replace it, or choose an empty folder")
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(out)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno in _DISK_ERRORS:
            raise HanddgError(f"cannot write {out}: {exc.strerror}; free space or choose a writable folder") from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def run_tasks(fn: Callable, tasks: Sequence[tuple], workers: int, desc: str) -> list:
    """fn(*task) for every task, in order, on `workers` processes, with a progress bar on stderr."""
    bar = dict(total=len(tasks), desc=desc, unit="img", leave=False, disable=None)
    if workers <= 1 or len(tasks) < 2:
        return [fn(*task) for task in tqdm(tasks, **bar)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results: Iterable = pool.map(fn, *zip(*tasks), chunksize=max(1, len(tasks) // (workers * 8)))
        return list(tqdm(results, **bar))


DEFAULT_SPLITS = {"freihand": ("train", "test"), "rhd": ("train", "test"), "stb": ("test",)}


def make_dataset(out: Path | str, layout: str, count: int, seed: int, overwrite: bool = False,
                 workers: int = 1, splits: Sequence[str] | None = None) -> Path:
    """Write `count` synthetic samples in `layout`'s real on-disk layout under `out`; return `out`.

    freihand: `count` unique training samples (4 image versions each) and eval_count(count)
    evaluation samples; rhd: `count` training and eval_count(count) evaluation frames; stb:
    `count` frames per sequence (SK colour and BB stereo images) of the test sequences
    B1Counting/B1Random and, with "train" in `splits`, of the ten B2..B6 training sequences.
    `splits` defaults to DEFAULT_SPLITS[layout] (STB is a target domain: test only).
    """
    from handdg.synth.writers import WRITERS

    if layout not in LAYOUTS:
        raise HanddgError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if count < 1:
        raise HanddgError(f"count must be at least 1 (got {count})")
    splits = tuple(DEFAULT_SPLITS[layout] if splits is None else splits)
    if not splits or set(splits) - {"train", "test"}:
        raise HanddgError(f"splits must be train and/or test (got {', '.join(splits) or 'none'})")
    out = Path(out)
    with staged_folder(out, overwrite) as tmp:
        for split in ("train", "test"):
            if split in splits:
                WRITERS[layout](tmp, split, count, seed, workers)
        manifest = {"generator": "handdg synth", "handdg_version": __version__, "layout": layout,
                    "count": count, "seed": seed, "splits": list(splits)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return out
