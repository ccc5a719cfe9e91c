"""Running a plan: one run = train (from scratch, or resumed from its newest checkpoint) then the
STB and RHD evaluations, under the run's lock, so two processes never work on one run. A failing
run is recorded in its directory (failed.json) and the other runs go on; `--list` turns each
run into one self-contained shell command for any launcher.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Callable

from handdg.analysis.tables import DATASETS
from handdg.errors import HanddgError
from handdg.reproduce import state
from handdg.reproduce.plan import TEST_SPLIT, Plan, Run, Settings, check_run_dir
from handdg.reproduce.summary import write_tables
from handdg.run.options import OPTION, REPRODUCE_FLAGS

Say = Callable[[str], None]
DEDICATED_OPTIONS = REPRODUCE_FLAGS
"""Training options `handdg reproduce` takes as their own flags (declared `reproduce="flag"`); every other
one goes through --set."""


def execute_run(run: Run, settings: Settings, say: Say) -> str:
    """Train and evaluate one run unless another process holds it; returns its state afterwards."""
    with state.claim(run) as mine:
        if not mine:
            say(f"{run.name}: another process is running it; skipped")
            return state.RUNNING
        check_run_dir(run)
        state.clear_failure(run.dir)
        stage = "train"
        try:
            _train(run, say)
            for dataset in DATASETS:
                stage = f"eval {dataset}"
                _evaluate(run, dataset, settings, say)
        except Exception as exc:  # any failure of this run (CUDA OOM, bad data...) is recorded; others go on
            state.record_failure(run.dir, stage, exc)
            say(f"{run.name}: FAILED in {stage}: {state.last_line(exc)}")
            return state.FAILED
    return state.DONE


def _train(run: Run, say: Say) -> None:
    """Train the run to its step budget (handdg.train.lifecycle.ensure_trained) and time what it trained."""
    from handdg.train import lifecycle

    start = time.perf_counter()
    trained = lifecycle.ensure_trained(run.config, say=lambda line: say(f"{run.name}: {line}"))
    if trained.steps:
        state.add_timing(run.dir, train_seconds=time.perf_counter() - start, train_steps=trained.steps)


def _evaluate(run: Run, dataset: str, settings: Settings, say: Say) -> None:
    """Score the run's final checkpoint on one test set (both protocols) unless that is done already."""
    from handdg.evaluation.evaluate import evaluate
    from handdg.run.runs import write_json

    if state.eval_current(run, dataset, settings.stb_camera):
        return
    say(f"{run.name}: evaluating on {dataset}")
    root = settings.stb if dataset == "stb" else settings.rhd
    start = time.perf_counter()
    result = evaluate(run.dir / "checkpoints" / f"step_{run.config.steps}.safetensors", dataset, root, TEST_SPLIT,
                      settings.stb_camera, settings.eval_batch_size, device=settings.device,
                      workers=settings.workers, show_progress=False)
    write_json(state.eval_path(run, dataset), result)
    state.add_timing(run.dir, eval_seconds=time.perf_counter() - start, evals=1)


def statuses(plan: Plan) -> list[state.RunStatus]:
    """The state of every run of the plan now."""
    return [state.status(run, plan.settings.stb_camera) for run in plan.runs]


def execute_plan(plan: Plan, say: Say) -> list[state.RunStatus]:
    """Run every unfinished run of the plan in turn; returns the statuses afterwards."""
    before = statuses(plan)
    for line in state.progress(before):
        say(line)
    for index, current in enumerate(before):
        if current.state == state.DONE:
            continue
        say(f"[{index + 1}/{len(before)}] {current.run.name}")
        execute_run(current.run, plan.settings, say)
        now = statuses(plan)
        say(f"{sum(s.state == state.DONE for s in now)} of {len(now)} runs done; {state.estimate(now)}")
    after = statuses(plan)
    for line in state.progress(after):
        say(line)
    return after


def reproduce(plan: Plan, say: Say) -> list[Path]:
    """Run every unfinished run, then write the tables; HanddgError after that if any run failed."""
    after = execute_plan(plan, say)
    written = write_tables(plan)
    for path in written:
        say(f"written: {path}")
    elsewhere = sum(s.state == state.RUNNING for s in after)
    if elsewhere:
        say(f"{elsewhere} run(s) are running in other processes: the tables lack them until "
            "`handdg reproduce ... --collect` (or this command) is run again after they finish")
    raise_on_failures(after)
    return written


def run_one(plan: Plan, index: int, say: Say) -> None:
    """Run exactly run `index` of the plan (a launcher's job); HanddgError if it fails."""
    run = plan.run(index)
    say(f"run {index} of {len(plan.runs)}: {run.name} -> {run.dir}")
    outcome = execute_run(run, plan.settings, say)
    if outcome == state.FAILED:
        raise_on_failures([state.status(run, plan.settings.stb_camera)])
    if outcome == state.DONE:
        say(f"{run.name}: done")


def raise_on_failures(statuses_now: list[state.RunStatus]) -> None:
    """HanddgError naming the first failed run and its last line, if any run failed."""
    failed = [s for s in statuses_now if s.state == state.FAILED]
    if failed:
        raise HanddgError(f"{len(failed)} run(s) failed, first {failed[0].run.name} ({failed[0].failure}); "
                          "fix the cause and run the same command again (finished runs are kept)")


def _option_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def command_args(plan: Plan) -> list[str]:
    """The `handdg reproduce` arguments that rebuild this plan (without the mode option)."""
    s = plan.settings
    args = [plan.table, "--data", str(s.data), "--store", str(s.store), "--stb", str(s.stb), "--rhd", str(s.rhd),
            "--out", str(s.out), "--seeds", str(s.seeds)]
    for name, value in s.train.items():
        dedicated = name in DEDICATED_OPTIONS
        args += [OPTION[name].flag if dedicated else "--set",
                 _option_value(value) if dedicated else f"{name}={_option_value(value)}"]
    defaults = Settings(s.data, s.store, s.stb, s.rhd, s.out)
    for name in ("stb_camera", "device", "workers", "eval_batch_size"):
        if getattr(s, name) != getattr(defaults, name):
            args += ["--" + name.replace("_", "-"), str(getattr(s, name))]
    if s.variants:
        args += ["--variants", ",".join(s.variants)]
    return args


def command_line(plan: Plan, index: int) -> str:
    """One self-contained shell command that trains and evaluates run `index` of the plan."""
    args = [sys.executable, "-m", "handdg", "reproduce", *command_args(plan), "--run-index", str(index)]
    return " ".join(shlex.quote(a) for a in args)
