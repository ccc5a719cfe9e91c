"""Click parameter types that refuse NaN, infinities and out-of-range numbers at parse time.

click's FloatRange lets NaN through (every comparison with NaN is false); these do not. Click
names the option as typed in its message ("Invalid value for '--lr': ...").
"""

from __future__ import annotations

import click

from handdg.options import describe_range, in_range, parse_shard


class FiniteFloat(click.ParamType):
    """A finite float, optionally within [low, high] (low excluded when `low_open`)."""

    name = "float"

    def __init__(self, low: float | None = None, high: float | None = None, low_open: bool = False):
        self.low, self.high, self.low_open = low, high, low_open

    def convert(self, value, param, ctx) -> float:
        """The number, or a click failure naming the option."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not in_range(number, self.low, self.high, self.low_open):
            self.fail(f"{value} is not a finite number {describe_range(self.low, self.high, self.low_open)}",
                      param, ctx)
        return number


class Shard(click.ParamType):
    """`--shard i/n`, checked as click reads it (before torch loads); the text itself is passed on."""

    name = "i/n"

    def convert(self, value, param, ctx) -> str:
        """The text, or HanddgError saying how to write it."""
        parse_shard(str(value))
        return str(value)


COUNT = click.IntRange(min=1)
"""A positive integer: batch sizes, steps, k, chunk rows."""
WORKERS = click.IntRange(min=0)
"""Worker processes: 0 = in this process."""
RATIO = FiniteFloat(0.0, 1.0)
"""The image weight r of a mixed CLIP feature."""
POSITIVE = FiniteFloat(0.0, low_open=True)
NON_NEGATIVE = FiniteFloat(0.0)
