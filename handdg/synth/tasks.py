"""`run_tasks`: render samples in order, in parallel on worker processes, with a progress bar."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Sequence

from tqdm import tqdm


def run_tasks(fn: Callable, tasks: Sequence[tuple], workers: int, desc: str) -> list:
    """fn(*task) for every task, in order, on `workers` processes, with a progress bar on stderr."""
    bar = dict(total=len(tasks), desc=desc, unit="img", leave=False, disable=None)
    if workers <= 1 or len(tasks) < 2:
        return [fn(*task) for task in tqdm(tasks, **bar)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results: Iterable = pool.map(fn, *zip(*tasks), chunksize=max(1, len(tasks) // (workers * 8)))
        return list(tqdm(results, **bar))
