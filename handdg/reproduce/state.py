"""What each run directory of a plan holds (done, running, failed, interrupted, to do) and the
progress a user follows: counts, each failure with its last line, and the work left with an
estimate of its time from the pace of the work already done.

Beside handdg's own run files a run directory holds eval_stb.json / eval_rhd.json,
reproduce.json (seconds spent training and evaluating, for the estimate) and, after a failure,
failed.json (the stage, the error's last line and the traceback). The lock of seed k of a
variant is byte k of `runs/<variant>/.writers.lock` (handdg.train.lifecycle.claim), outside the
run directory so that a run restarted from scratch can be removed while its lock is held.
"""

from __future__ import annotations

import json
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from handdg.analysis.tables import DATASETS
from handdg.reproduce.plan import Run
from handdg.run.runs import write_json
from handdg.train import lifecycle

DONE, RUNNING, FAILED, INTERRUPTED, TODO = "done", "running", "failed", "interrupted", "to do"
STATES = (DONE, RUNNING, FAILED, INTERRUPTED, TODO)
TIMING = "reproduce.json"
FAILURE = "failed.json"


def eval_path(run: Run, dataset: str) -> Path:
    """Where a run's evaluation on `dataset` (stb or rhd) is written."""
    return run.dir / f"eval_{dataset}.json"


def eval_current(run: Run, dataset: str, camera: str) -> bool:
    """Whether the run's eval on `dataset` exists and scores its final step (and the STB camera asked for)."""
    try:
        data = json.loads(eval_path(run, dataset).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return data.get("step") == run.config.steps and (dataset != "stb" or data.get("camera") == camera)


def claim(run: Run):
    """Hold the run's lock for a `with` block (it yields False when another process holds it)."""
    return lifecycle.claim(run.dir, run.seed)


def held_elsewhere(run: Run) -> bool:
    """Whether another process holds the run's lock now (see handdg.train.lifecycle.held_elsewhere)."""
    return lifecycle.held_elsewhere(run.dir, run.seed)


def last_line(exc: BaseException) -> str:
    """`Type: last non-empty line of the message`: what a user needs to see first."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1]}" if lines else type(exc).__name__


def record_failure(folder: Path, stage: str, exc: BaseException) -> None:
    """Write failed.json: the stage that failed, the error's last line and the traceback."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / FAILURE, {"stage": stage, "error": last_line(exc), "traceback": traceback.format_exc()})


def clear_failure(folder: Path) -> None:
    """Forget an earlier failure (the run is being tried again)."""
    (folder / FAILURE).unlink(missing_ok=True)


def read_failure(folder: Path) -> dict | None:
    """failed.json of a run, None when it has none."""
    try:
        return json.loads((folder / FAILURE).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def read_timing(folder: Path) -> dict[str, float]:
    """reproduce.json: train_seconds, train_steps, eval_seconds, evals (absent = 0)."""
    try:
        return json.loads((folder / TIMING).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}


def add_timing(folder: Path, **amounts: float) -> None:
    """Add seconds and counts to reproduce.json (a resumed run adds to what its earlier part spent)."""
    record = read_timing(folder)
    for key, value in amounts.items():
        record[key] = record.get(key, 0) + value
    write_json(folder / TIMING, record)


@dataclass(frozen=True)
class RunStatus:
    """A run's state, its newest checkpoint step, how many evals it still lacks, and why it failed."""

    run: Run
    state: str
    step: int
    evals_left: int
    failure: str = ""


def status(run: Run, camera: str) -> RunStatus:
    """What the run's directory holds now."""
    found = lifecycle.progress(run.dir)
    step = found.step or 0
    evals_left = sum(not eval_current(run, d, camera) for d in DATASETS)
    if step == run.config.steps and evals_left == 0:
        return RunStatus(run, DONE, step, 0)
    if held_elsewhere(run):
        return RunStatus(run, RUNNING, step, evals_left)
    failure = read_failure(run.dir)
    if failure is not None:
        return RunStatus(run, FAILED, step, evals_left, f"{failure.get('stage')}: {failure.get('error')}")
    return RunStatus(run, INTERRUPTED if found.started else TODO, step, evals_left)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate(statuses: list[RunStatus]) -> str:
    """The work left (training steps, evaluations) and its time at the pace measured so far."""
    left = [s for s in statuses if s.state != DONE]
    steps = sum(s.run.config.steps - s.step for s in left)
    evals = sum(s.evals_left for s in left)
    if not left:
        return "nothing left to run"
    text = f"left: {steps} training steps and {evals} evaluations"
    spent = Counter()
    for s in statuses:
        spent.update(read_timing(s.run.dir))
    if not spent["train_steps"]:
        return text + " (no time estimate until some training has been timed)"
    seconds = steps * spent["train_seconds"] / spent["train_steps"]
    if spent["evals"]:
        seconds += evals * spent["eval_seconds"] / spent["evals"]
    return text + f", about {_duration(seconds)} on one device at the pace measured so far"


def progress(statuses: list[RunStatus]) -> list[str]:
    """Lines for the user: counts per state, each running or failed run, the estimate."""
    counts = Counter(s.state for s in statuses)
    lines = [f"{len(statuses)} runs: " + ", ".join(f"{counts[state]} {state}" for state in STATES)]
    for s in statuses:
        if s.state == RUNNING:
            lines.append(f"  running      {s.run.name} (step {s.step} of {s.run.config.steps})")
        elif s.state == FAILED:
            lines.append(f"  failed       {s.run.name} ({s.failure})")
        elif s.state == INTERRUPTED:
            lines.append(f"  interrupted  {s.run.name} (step {s.step} of {s.run.config.steps}, "
                         f"{s.evals_left} evals left)")
    lines.append(estimate(statuses))
    return lines


def planned_work(s: RunStatus) -> str:
    """What running this run now would do: nothing, train or resume, and which evals."""
    if s.state == DONE:
        return "done, nothing to do"
    if s.state == RUNNING:
        return f"running in another process (step {s.step} of {s.run.config.steps})"
    steps = s.run.config.steps
    work = [] if s.step == steps else [f"resume at step {s.step} of {steps}" if s.step else f"train {steps} steps"]
    work.append(f"{s.evals_left} evaluation(s)")
    failed = f" (failed before: {s.failure})" if s.state == FAILED else ""
    return ", then ".join(work) + failed
