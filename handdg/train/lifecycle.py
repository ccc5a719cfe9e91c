"""A training run's lifecycle in one place: start it, resume it, start again one killed before its
first checkpoint, tell when it is done, and lock it against a second process.

    progress(out)           what RUN holds: started (config.json there) and its newest complete checkpoint
    start(config)           a new run in config.out (`handdg train`); a folder holding a checkpoint is refused
                            (--resume)
    resume(out, steps=...)  continue RUN from its newest checkpoint exactly as its config.json says
                            (`handdg train --resume`)
    ensure_trained(config)  bring config.out to config.steps whatever it holds (`handdg demo`,
                            `handdg reproduce`): nothing when done, else as `resume`
    claim(out, slot)        hold the run's lock for a block (`handdg reproduce`: train + evals of one run)

A run is done when its newest complete checkpoint is its planned step. A run killed before its first
checkpoint holds nothing to keep: `resume` and `ensure_trained` start it again from step 0 and `start`
accepts its folder (`_carry_on`, the one place that says so). The step loop itself is
handdg.train.loop.train; the files of a run directory are handdg.run.runs.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from handdg.errors import HanddgError
from handdg.run import runs
from handdg.run.config import TrainConfig, recipe
from handdg.stores.locks import LOCK_FILE, ChunkLocks


@dataclass(frozen=True)
class Progress:
    """What a run directory holds: whether the run was started (its config.json is there) and the step
    of its newest complete checkpoint (None: none yet, or not started)."""

    started: bool
    step: int | None


def progress(out: str | Path) -> Progress:
    """The run in `out` as it is now."""
    out = Path(out)
    started = (out / runs.CONFIG).is_file()
    return Progress(started, runs.latest_checkpoint(out) if started else None)


def start(config: TrainConfig, fresh: bool = False) -> Path:
    """Train the run `config` describes from step 0 into `config.out`; returns the run directory.

    A folder holding a run with a checkpoint is refused (continue it with `resume`). `fresh` removes
    whatever `config.out` holds first (benchmarks that always time a whole run).
    """
    from handdg.train import loop  # torch, only to train: progress and the locks stay light

    if fresh:
        shutil.rmtree(config.out, ignore_errors=True)
    elif progress(config.out).step is not None:
        raise HanddgError(f"{config.out} already holds a run: continue it with --resume, or choose another --out")
    return loop.train(config)


def resume(out: str | Path, steps: int | None = None, workers: int | None = None, device: str | None = None,
           data: str | None = None, store: str | None = None) -> Path:
    """Continue the run in `out` from its newest checkpoint, exactly as configured in its config.json.

    Only the step budget (extend only), data-loading workers and device may change, and where the
    data and store live now (`data`, `store`; they must be the same ones).
    """
    config, _ = runs.read_run(Path(out))
    recipe(config.recipe, resuming=out)
    runs.relocate(config, Path(out), data, store)
    if steps is not None:
        if steps < config.steps:
            raise HanddgError(f"--steps {steps} is below the run's {config.steps}: resume can only extend a run")
        config.steps = steps
    config.workers = config.workers if workers is None else workers
    config.device = config.device if device is None else device
    found = progress(out)
    if found.step is not None and found.step >= config.steps:
        raise HanddgError(f"{out} already finished its {config.steps} steps: pass a larger --steps to continue it")
    return _carry_on(config, found)


@dataclass(frozen=True)
class Trained:
    """What `ensure_trained` did: the run directory, the step it found, and how many steps it trained now."""

    out: Path
    found: int
    steps: int


def ensure_trained(config: TrainConfig, say: Callable[[str], None] | None = None) -> Trained:
    """Bring the run in `config.out` to `config.steps`, whatever an earlier attempt left there.

    Done (its newest checkpoint is that step): nothing. Otherwise as `resume` (a run of an older training
    recipe is refused), and a folder never started is started. `config` is the run's whole config (its
    runtime fields, device and workers, may differ from the folder's); the caller makes sure a run already
    there is `config`'s (handdg.reproduce.plan.check_run_dir). `say` gets `training N steps` or
    `resuming at step S of N` when there is work to do.
    """
    out = Path(config.out)
    found = progress(out)
    if found.step is not None and found.step >= config.steps:
        return Trained(out, found.step, 0)
    if say is not None:
        say(f"training {config.steps} steps" if found.step is None else
            f"resuming at step {found.step} of {config.steps}")
    if found.step is not None:
        recipe(runs.read_run(out)[0].recipe, resuming=out)
    _carry_on(config, found, clear=True)
    return Trained(out, found.step or 0, config.steps - (found.step or 0))


def _carry_on(config: TrainConfig, found: Progress, clear: bool = False) -> Path:
    """Train `config` on from where its folder stopped (`found`): from its newest checkpoint, exactly as an
    uninterrupted run; with none, from step 0, since a run killed before its first checkpoint holds nothing to
    keep (`clear` removes what it left first)."""
    from handdg.train import loop  # torch, only to train: progress and the locks stay light

    if found.step is not None:
        return loop.train(config, resume=True)
    if clear and found.started:
        shutil.rmtree(config.out)
    return loop.train(config)


def _lock_file(out: Path) -> ChunkLocks:
    out.parent.mkdir(parents=True, exist_ok=True)
    return ChunkLocks(out.parent)


@contextmanager
def claim(out: str | Path, slot: int) -> Iterator[bool]:
    """Hold the lock of the run in `out` for the block; yields False (and holds nothing) when another
    process holds it. The lock is byte `slot` of `<parent of out>/.writers.lock` (handdg.stores.locks),
    outside the run directory so that a run started again from scratch can be removed while it is
    held; `slot` tells apart the runs that share a parent (reproduce: the seed). The kernel drops it
    when the process ends, even by `kill -9`."""
    with _lock_file(Path(out)) as locks:
        yield locks.try_claim(slot)


def held_elsewhere(out: str | Path, slot: int) -> bool:
    """Whether another process holds the lock of the run in `out` now (a killed holder's lock is gone with it).

    Call it only while this process holds no lock beside `out`: closing the probe's file drops
    every POSIX lock this process has on it.
    """
    out = Path(out)
    if not (out.parent / LOCK_FILE).exists():
        return False
    with ChunkLocks(out.parent) as locks:
        if locks.try_claim(slot):
            locks.release(slot)
            return False
    return True
