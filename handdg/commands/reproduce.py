"""`handdg reproduce`: a thin click layer over handdg.reproduce (plan, execute, summary)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from handdg.errors import HanddgError
from handdg.run.config import PRESETS

_PATH = click.Path(path_type=Path)


def _echo_err(text: str) -> None:
    click.echo(text, err=True)


def _train_options(preset: str, steps: int | None, batch_size: int | None, sets: tuple[str, ...]) -> dict[str, Any]:
    """The training options of every run: --preset/--steps/--batch-size and each --set FIELD=VALUE."""
    from handdg.reproduce.execute import DEDICATED_OPTIONS
    from handdg.reproduce.plan import parse_train_option

    options: dict[str, Any] = {"preset": preset}
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if value is not None:
            options[name] = value
    for text in sets:
        name, value = parse_train_option(text)
        if name in DEDICATED_OPTIONS:
            raise HanddgError(f"--set {text!r}: give {name} as --{name.replace('_', '-')}")
        options[name] = value
    return options


@click.command("reproduce")
@click.argument("table")
@click.option("--data", required=True, type=_PATH, help="FreiHAND root: the training source.")
@click.option("--store", required=True, type=_PATH, help="Feature store of --data (`handdg featurize`).")
@click.option("--stb", required=True, type=_PATH, help="STB root (test set).")
@click.option("--rhd", required=True, type=_PATH, help="RHD root (test set: its evaluation split).")
@click.option("--out", required=True, type=_PATH, help="Folder for runs/<variant>/seed<k>/ and tables/.")
@click.option("--seeds", default=3, show_default=True, type=int, help="Runs per variant (seeds 0..N-1).")
@click.option("--preset", default="paper", show_default=True, type=click.Choice(PRESETS), help="Network size.")
@click.option("--steps", type=int, default=None, help="Training steps per run (default: handdg train's).")
@click.option("--batch-size", type=int, default=None, help="Samples per step (default: handdg train's).")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE",
              help="Any other training option for every run, by config field, e.g. --set lr=3e-4 (repeatable).")
@click.option("--stb-camera", type=click.Choice(["sk", "bb", "bb_right"]), default="sk", show_default=True,
              help="STB camera of the evaluation.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--workers", default=0, show_default=True, type=int, help="Data-loading worker processes.")
@click.option("--eval-batch-size", default=32, show_default=True, type=int, help="Images per eval forward pass.")
@click.option("--variants", default=None, metavar="NAME,...",
              help="Run only these variants (and the baseline, always), e.g. baseline,ie,ie-te-r0.9,ie-te-r0.6; "
                   "the other rows read 'not run'. Names: the run folders (baseline, ie, ie-te-r0.9, te-sum...).")
@click.option("--list", "list_runs", is_flag=True, help="Print one shell command per run (for any launcher).")
@click.option("--run-index", type=int, default=None, help="Train and evaluate exactly run I of --list (0-based).")
@click.option("--collect", is_flag=True, help="Only build the tables from the runs finished so far.")
@click.option("--dry-run", is_flag=True, help="Show each run's state and what would be done; run nothing.")
def reproduce(table: str, data: Path, store: Path, stb: Path, rhd: Path, out: Path, seeds: int, preset: str,
              steps: int | None, batch_size: int | None, sets: tuple[str, ...], stb_camera: str, device: str,
              workers: int, eval_batch_size: int, variants: str | None, list_runs: bool, run_index: int | None,
              collect: bool, dry_run: bool) -> None:
    """Reproduce the paper's Table 3, 4a, 4b, 5, 6 or all: train every variant × seed, evaluate on STB
    and RHD, write the tables (mean ± std over seeds, paired difference from the baseline).

    Re-running the same command resumes: finished runs are kept, killed ones continue.
    """
    from handdg.reproduce import execute, state
    from handdg.reproduce.plan import Settings, check_inputs, check_run_dir, make_plan, parse_variants
    from handdg.reproduce.summary import write_tables

    modes = [name for name, on in (("--list", list_runs), ("--run-index", run_index is not None),
                                   ("--collect", collect), ("--dry-run", dry_run)) if on]
    if len(modes) > 1:
        raise HanddgError(f"{' and '.join(modes)} cannot be combined: give one of them")
    settings = Settings(data, store, stb, rhd, out, seeds, _train_options(preset, steps, batch_size, sets),
                        stb_camera, device, workers, eval_batch_size, parse_variants(variants))
    plan = make_plan(table, settings)
    check_inputs(settings)
    for run in plan.runs:
        check_run_dir(run)
    if list_runs:
        for index in range(len(plan.runs)):
            click.echo(execute.command_line(plan, index))
    elif dry_run:
        now = execute.statuses(plan)
        for line in state.progress(now):
            click.echo(line)
        for s in now:
            click.echo(f"{s.run.index:>4}  {s.run.name:<28} {state.planned_work(s)}")
    elif run_index is not None:
        execute.run_one(plan, run_index, _echo_err)
    elif collect:
        for line in state.progress(execute.statuses(plan)):
            _echo_err(line)
        for path in write_tables(plan):
            click.echo(f"written: {path}")
    else:
        execute.reproduce(plan, _echo_err)
