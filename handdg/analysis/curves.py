"""`handdg figures curves`: training and validation curves of one or more runs, from metrics.csv.

Left panel: the training losses (total, heat, pose, con) against the step; right panel: the
validation hand3d EPE beside each run's constant-pose reference (dashed), so "it learned" is
visible at a glance: a curve that stays on its dashed line has not learned anything.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Sequence

from handdg.analysis.figure import FigureContext, body_top, new_figure, save_figure
from handdg.errors import HanddgError
from handdg.jsonfields import read_json, require
from handdg.run.runs import CONFIG, METRICS

LOSSES = ("loss", "heat", "pose", "con")


def load_run(run: Path) -> tuple[list[dict[str, float]], dict]:
    """(metrics rows, config.json payload) of a run directory; HanddgError when it is not one."""
    run = Path(run)
    if not (run / METRICS).is_file() or not (run / CONFIG).is_file():
        raise HanddgError(f"{run} is not a training run ({METRICS} or {CONFIG} missing): give a folder made by "
                          "`handdg train --out`")
    where = f"run config {run / CONFIG}"
    payload = read_json(run / CONFIG, "run config")
    clip = require(payload, "clip", dict, where, optional=True)
    dataset = require(payload, "dataset", dict, where) if "dataset" in payload else {}
    rows = _metrics(run)
    return rows, {**payload, "clip": clip, "dataset": dataset}


def _metrics(run: Path) -> list[dict[str, float]]:
    """metrics.csv of a run as read_metrics gives it, each cell checked to be a number and each row to have
    its step (one line naming the row and column if not)."""
    path = run / METRICS
    rows = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                if None in row or None in row.values():
                    raise HanddgError(f"training log {path}: row {number} does not have one value per column")
                try:
                    rows.append({key: float(value) for key, value in row.items() if value != ""})
                except ValueError:
                    key, value = next((k, v) for k, v in row.items() if v != "" and not _is_number(v))
                    raise HanddgError(f"training log {path}: row {number}, {key} is {value!r}, expected a "
                                      "number") from None
                if "step" not in rows[-1]:
                    raise HanddgError(f"training log {path}: row {number} has no step")
    except UnicodeDecodeError:
        raise HanddgError(f"training log {path} is not text: give the metrics.csv `handdg train` wrote") from None
    except csv.Error as exc:
        raise HanddgError(f"training log {path} is not a CSV file ({exc})") from None
    if not rows:
        raise HanddgError(f"{path} has no rows yet: train for at least --log-every steps first")
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _context(payloads: Sequence[dict]) -> FigureContext:
    """The runs' CLIP when they share one ("several" otherwise; none for baselines) and their datasets."""
    clips = {json.dumps(p.get("clip")) for p in payloads}
    if len(clips) > 1:
        clip = {"model": "several", "weights": "several"}
    else:
        clip = payloads[0].get("clip") or {}
    return FigureContext(str(clip.get("model", "none")), str(clip.get("weights", "none (baseline)")),
                         " + ".join(sorted({str(p.get("dataset", {}).get("name", "?")) for p in payloads})))


def curves_report(runs: Sequence[Path], out: Path, labels: Sequence[str] = ()) -> list[Path]:
    """Draw the loss and validation curves of `runs` into `out`.png/.pdf; returns the paths."""
    if labels and len(labels) != len(runs):
        raise HanddgError(f"{len(labels)} --label for {len(runs)} runs; give one label per run or none")
    loaded = [load_run(Path(r)) for r in runs]
    fig = new_figure("Training curves", _context([p for _, p in loaded]), (12.0, 5.0))
    top = body_top(fig)
    loss_ax = fig.add_axes((0.06, 0.1, 0.4, top - 0.16))
    val_ax = fig.add_axes((0.56, 0.1, 0.4, top - 0.16))
    for i, ((rows, payload), run) in enumerate(zip(loaded, runs)):
        name = labels[i] if labels else Path(run).name
        colour = f"C{i % 10}"
        for style, field in zip(("-", "--", ":", "-."), LOSSES):
            points = [(r["step"], r[field]) for r in rows if field in r and (field != "con" or r[field] != 0)]
            if points:
                loss_ax.plot(*zip(*points), style, color=colour, lw=1, label=f"{name}: {field}")
        val = [(r["step"], r["val_hand3d_mm"]) for r in rows if "val_hand3d_mm" in r]
        if val:
            val_ax.plot(*zip(*val), "o-", color=colour, label=f"{name}: validation hand3d EPE")
        reference = [(r["step"], r["val_constant_mm"]) for r in rows if "val_constant_mm" in r]
        if reference:
            val_ax.plot(*zip(*reference), "--", color=colour, lw=1, label=f"{name}: constant pose")
    loss_ax.set_yscale("symlog", linthresh=1.0)
    loss_ax.set(xlabel="step", ylabel="loss (symlog)", title="training losses")
    val_ax.set(xlabel="step", ylabel="EPE (mm)", title="validation (lower is better)")
    for ax in (loss_ax, val_ax):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    return save_figure(fig, out)
