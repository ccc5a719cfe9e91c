"""Checks of numeric options at the library's entry, naming each option as a user types it (`--lr`).

The CLI checks the same ranges with click types (handdg.commands.types); these catch what a
notebook passes straight to the library: NaN, infinities and values out of range.
"""

from __future__ import annotations

import math

from handdg.errors import HanddgError


def flag(name: str) -> str:
    """The command-line spelling of a keyword: lambda_con -> --lambda-con."""
    return "--" + name.replace("_", "-")


def check_int(name: str, value: int, minimum: int) -> int:
    """`value` if it is an integer of at least `minimum`, else HanddgError naming `--name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise HanddgError(f"{flag(name)} must be an integer of at least {minimum}, got {value!r}")
    return value


def check_float(name: str, value: float, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> float:
    """`value` if finite and within [low, high] (low excluded when `low_open`), else HanddgError naming `--name`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise HanddgError(f"{flag(name)} must be a number, got {value!r}") from None
    if not in_range(number, low, high, low_open):
        raise HanddgError(f"{flag(name)} must be a finite number {describe_range(low, high, low_open)}, got {value!r}")
    return number


def in_range(number: float, low: float | None, high: float | None, low_open: bool = False) -> bool:
    """`number` is finite and within [low, high] (low excluded when `low_open`; None = unbounded)."""
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and number > high
    return math.isfinite(number) and not too_low and not too_high


def describe_range(low: float | None, high: float | None, low_open: bool = False) -> str:
    """'in [0, 1]', 'above 0', 'of at least 0' or '' for the range of check_float."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}]"
    if low is not None:
        return f"above {low:g}" if low_open else f"of at least {low:g}"
    return f"of at most {high:g}" if high is not None else ""


def check_ratio(value: float, name: str = "ratio") -> float:
    """The image weight r of a mixed feature: a finite number in [0, 1]."""
    return check_float(name, value, 0.0, 1.0)


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n: `featurize --shard`, checked by the CLI before torch loads."""
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise HanddgError(f"bad --shard {text!r}: write it as i/n, e.g. 0/4 for the first of four processes")
    index, count = int(parts[0]), int(parts[1])
    if count < 1 or index >= count:
        raise HanddgError(f"bad --shard {text!r}: need 0 <= i < n")
    return index, count
