"""One writer for every results table handdg makes (`handdg tables`, `handdg reproduce`): Markdown
and CSV from one row model.

A table is a list of `Record`s, one per (paper row, test set, protocol). The CSV holds them as
they are, one line each: the key columns (`KEY_FIELDS`) then the record's own `values`, under the
field list the caller gives (the two tables' CSVs measure different things: a plain mean over eval
files vs the seed statistics and paired differences of a reproduction). The Markdown pivots them:
one line per paper row, the test sets side by side, each showing the record's `shown` cells under
the caller's column names.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from itertools import groupby
from typing import Sequence

KEY_FIELDS = ("table", "method", "setting", "dataset", "protocol")
"""The CSV columns every table starts with."""


@dataclass(frozen=True)
class Record:
    """One (paper row, test set, protocol) of a table.

    `row`: the paper row's index (records of one row, one protocol, stand together in test-set order);
    `shown`: its Markdown cells; `values`: its CSV fields beyond `KEY_FIELDS`.
    """

    table: str
    row: int
    method: str
    setting: str
    dataset: str
    protocol: str
    shown: tuple[str, ...]
    values: dict[str, object] = field(default_factory=dict)


def number(value: float | None, signed: bool = False) -> str:
    """A Markdown number: 2 decimals (`+1.23` / `−1.23` with `signed`), — for None."""
    if value is None:
        return "—"
    return f"{value:+.2f}".replace("-", "−") if signed else f"{value:.2f}"


def csv_number(value: float | None) -> str:
    """A CSV number: 4 decimals, empty for None."""
    return "" if value is None else f"{value:.4f}"


def markdown_grid(records: Sequence[Record], datasets: Sequence[str], columns: Sequence[str],
                  setting_header: str = "") -> list[str]:
    """Header, rule and one line per paper row of `records` (one protocol): `Methods`, the setting
    column when `setting_header` names one, then per test set its `columns` (`STB <column>`)."""
    header = ["Methods"] + ([setting_header] if setting_header else [])
    for dataset in datasets:
        header += [f"{dataset.upper()} {column}" for column in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for _, group in groupby(records, key=lambda record: record.row):
        group = list(group)
        cells = [group[0].method] + ([group[0].setting] if setting_header else [])
        for record in group:
            cells += record.shown
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def csv_text(records: Sequence[Record], fields: Sequence[str]) -> str:
    """The records as CSV (header `fields`, which starts with `KEY_FIELDS`), one line each."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({"table": record.table, "method": record.method, "setting": record.setting,
                         "dataset": record.dataset, "protocol": record.protocol, **record.values})
    return buffer.getvalue()
