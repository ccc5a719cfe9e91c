"""Seed-paired statistics: the mean difference of two settings run with the same seeds, with its t-interval.

Pairing by seed removes what the seed changes in both runs alike (initialisation, data order,
augmentation draws), which is why a ~1 mm effect can be told apart with few seeds.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Mapping

from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class Difference:
    """Mean paired difference (row − reference, mm) over `pairs` seeds and its t-interval (None if < 2 pairs)."""

    mean: float
    low: float | None
    high: float | None
    pairs: int


def t_half_width(values: list[float], level: float = LEVEL) -> float | None:
    """Half-width of the t-interval on the mean of `values` (None with fewer than two)."""
    if len(values) < 2:
        return None
    return float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values)))


def paired_difference(row: Mapping[int, float], reference: Mapping[int, float],
                      level: float = LEVEL) -> Difference | None:
    """`row` minus `reference` (values by seed), seed by seed over the seeds both have; None without any."""
    seeds = sorted(set(row) & set(reference))
    if not seeds:
        return None
    diffs = [row[s] - reference[s] for s in seeds]
    mean = statistics.fmean(diffs)
    half = t_half_width(diffs, level)
    if half is None:
        return Difference(mean, None, None, 1)
    return Difference(mean, mean - half, mean + half, len(diffs))
