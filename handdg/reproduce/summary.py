"""The tables of a reproduction: each cell is the mean ± sample std over seeds of the finished runs
that fill the row (the row predicates of handdg.analysis.tables), beside the paper's number, with
the row's paired difference from the Baseline over the same seeds and its 95 % t-interval
(handdg.analysis.paired).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from handdg.analysis import table_writer
from handdg.analysis.paired import LEVEL, Difference
from handdg.analysis.paired import paired_difference as paired_values
from handdg.analysis.pck import EvalResult, load_eval
from handdg.analysis.table_writer import KEY_FIELDS, Record, csv_number, markdown_grid, number
from handdg.analysis.tables import DATASETS, Match, Table, result_variant, variant
from handdg.files import write_text_atomic
from handdg.jsonfields import require
from handdg.reproduce import state
from handdg.reproduce.plan import BASELINE, VARIANTS, Plan, Variant

PROTOCOLS = ("official", "hand3d")


@dataclass(frozen=True)
class Cell:
    """The EPEs (mm) of one row on one test set under one protocol, by seed, and their files."""

    values: dict[int, float]
    sources: dict[int, str]

    @property
    def mean(self) -> float | None:
        """Mean over seeds (None without runs)."""
        return statistics.fmean(self.values.values()) if self.values else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (None with fewer than two runs)."""
        return statistics.stdev(self.values.values()) if len(self.values) > 1 else None


def paired_difference(row: Cell, baseline: Cell, level: float = LEVEL) -> Difference | None:
    """Row minus baseline, seed by seed over the seeds both have; t-interval on the mean difference."""
    return paired_values(row.values, baseline.values, level)


def finished_results(plan: Plan) -> list[EvalResult]:
    """The eval results of the plan's runs that score their final step."""
    return [load_eval(state.eval_path(run, d)) for run in plan.runs for d in DATASETS
            if state.eval_current(run, d, plan.settings.stb_camera)]


def cell(match: Match | None, results: list[EvalResult], dataset: str, protocol: str, out: Path) -> Cell:
    """The EPEs by seed of the results on `dataset` whose run is the row's variant."""
    values, sources = {}, {}
    for result in results:
        if match is None or result.dataset != dataset or not match(result_variant(result), dataset):
            continue
        seed = require(result.run_config, "seed", int, result.where, at="run_config")
        values[seed] = result.epe(protocol)
        sources[seed] = str(result.path.relative_to(out))
    return Cell(values, sources)


@dataclass(frozen=True)
class Line:
    """One (row, test set, protocol) of a table with everything the outputs show."""

    method: str
    setting: str
    dataset: str
    protocol: str
    cell: Cell
    paper: float | None
    difference: Difference | None
    is_baseline: bool
    planned: bool = True  # False: no variant of the plan fills it (left out by --variants)
    row: int = 0  # index of the paper row in its table


def table_lines(table: Table, results: list[EvalResult], out: Path, variants: list[Variant] | None = None
                ) -> list[Line]:
    """Every line of one table, both protocols, both test sets; rows no variant of `variants` fills are unplanned."""
    lines = []
    baseline_knobs = BASELINE.knobs()
    knobs = None if variants is None else [v.knobs() for v in variants]
    for protocol in PROTOCOLS:
        reference = {d: cell(variant("none"), results, d, protocol, out) for d in DATASETS}
        for index, row in enumerate(table.rows):
            for dataset in DATASETS:
                measured = cell(row.match, results, dataset, protocol, out)
                is_baseline = row.match is not None and row.match(baseline_knobs, dataset)
                difference = None if is_baseline else paired_difference(measured, reference[dataset])
                planned = row.match is None or knobs is None or any(row.match(k, dataset) for k in knobs)
                lines.append(Line(row.method, row.setting, dataset, protocol, measured, row.paper[dataset],
                                  difference, is_baseline, planned, index))
    return lines


def format_cell(c: Cell) -> str:
    """`mean ± std (n=k)`, `mean (n=1)` or — ."""
    if c.mean is None:
        return "—"
    spread = f" ± {c.std:.2f}" if c.std is not None else ""
    return f"{c.mean:.2f}{spread} (n={len(c.values)})"


def format_difference(line: Line) -> str:
    """`+d [low, high]` over the paired seeds, `baseline` on the baseline's own row, — without pairs."""
    if line.is_baseline:
        return "baseline"
    d = line.difference
    if d is None:
        return "—"
    if d.low is None:
        return f"{number(d.mean, True)} (1 pair)"
    return f"{number(d.mean, True)} [{number(d.low, True)}, {number(d.high, True)}]"


def records(table: Table, lines: list[Line]) -> list[Record]:
    """The table's lines as the table writer's records: Markdown cells and CSV fields of each."""
    out = []
    for line in lines:
        d = line.difference
        shown = (format_cell(line.cell) if line.planned else "not run", number(line.paper), format_difference(line))
        out.append(Record(table.name, line.row, line.method, line.setting, line.dataset, line.protocol, shown, {
            "runs": len(line.cell.values), "mean_epe_mm": csv_number(line.cell.mean),
            "std_epe_mm": csv_number(line.cell.std), "paper_epe_mm": "" if line.paper is None else line.paper,
            "diff_vs_baseline_mm": csv_number(d.mean if d else None),
            "diff_ci95_low_mm": csv_number(d.low if d else None),
            "diff_ci95_high_mm": csv_number(d.high if d else None), "pairs": d.pairs if d else 0,
            "per_seed_epe_mm": ";".join(f"{s}:{v:.4f}" for s, v in sorted(line.cell.values.items())),
            "sources": ";".join(src for _, src in sorted(line.cell.sources.items())),
        }))
    return out


MARKDOWN_COLUMNS = ("EPE↓ handdg", "paper", "Δ vs baseline [95% CI]")
CSV_FIELDS = (*KEY_FIELDS, "runs", "mean_epe_mm", "std_epe_mm", "paper_epe_mm", "diff_vs_baseline_mm",
              "diff_ci95_low_mm", "diff_ci95_high_mm", "pairs", "per_seed_epe_mm", "sources")
"""The columns of each table's CSV: per-seed statistics and the paired difference from the Baseline
(handdg.analysis.tables' CSV has the plain mean over eval files instead)."""


def markdown(table: Table, lines: list[Line]) -> str:
    """The table in Markdown, one block per protocol."""
    blocks = []
    for protocol in PROTOCOLS:
        chosen = [record for record in records(table, lines) if record.protocol == protocol]
        rows = markdown_grid(chosen, DATASETS, MARKDOWN_COLUMNS, table.setting_header)
        blocks.append("\n".join([f"### {table.title} — protocol `{protocol}`", "", *rows, ""]))
    note = ("EPE in mm: mean ± sample std over seeds (n = finished runs). Δ = the row minus the Baseline, "
            "seed by seed over the seeds both have, mean [95 % t-interval]; negative = lower error than the "
            f"Baseline. {table.note}").rstrip()
    return "\n".join(blocks) + "\n" + note + "\n"


def csv_text(table: Table, lines: list[Line]) -> str:
    """One CSV record per (row, test set, protocol)."""
    return table_writer.csv_text(records(table, lines), CSV_FIELDS)


def _preamble(plan: Plan, finished: int) -> str:
    config = plan.runs[0].config
    only = (f"only the variants {', '.join(plan.variants)} (--variants; other rows read 'not run'); "
            if plan.settings.variants else "")
    return (f"Made by `handdg reproduce {plan.table}`: {finished} of {len(plan.runs)} runs finished; "
            f"{only}{plan.settings.seeds} seeds per variant, preset {config.preset}, {config.steps} steps of "
            f"{config.batch_size}; training options given: "
            + (", ".join(f"{k} {v}" for k, v in plan.settings.train.items()) + ".\n"))


def write_tables(plan: Plan) -> list[Path]:
    """OUT/tables/<table>.md and .csv for each table of the plan (+ tables.md when several); returns them."""
    out = plan.settings.out / "tables"
    out.mkdir(parents=True, exist_ok=True)
    results = finished_results(plan)
    finished = sum(all(state.eval_current(r, d, plan.settings.stb_camera) for d in DATASETS) for r in plan.runs)
    preamble = _preamble(plan, finished)
    chosen = [v for v in VARIANTS if v.name in plan.variants]
    written, sections = [], []
    for table in plan.tables:
        lines = table_lines(table, results, plan.settings.out, chosen)
        text = markdown(table, lines)
        sections.append(text)
        written.append(write_text_atomic(out / f"{table.name}.md", preamble + "\n" + text))
        written.append(write_text_atomic(out / f"{table.name}.csv", csv_text(table, lines)))
    if len(plan.tables) > 1:
        written.insert(0, write_text_atomic(out / "tables.md", preamble + "\n" + "\n".join(sections)))
    return written
