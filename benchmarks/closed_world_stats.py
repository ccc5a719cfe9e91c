"""The closed-world experiment's numbers: each arm's EPE over seeds, its seed-paired differences from the
baseline and from the normal-augmentation control, the share of the baseline→oracle gap it closes, and
the one-sentence verdict they support.

Inputs are plain EPEs by (arm, test set, protocol) and seed, so a notebook can feed it any runs.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from handdg.analysis.paired import Difference, paired_difference, t_half_width

if TYPE_CHECKING:
    from handdg.analysis.figure import FigureContext

BASELINE, CONTROL, ORACLE = "baseline", "normal-aug", "oracle"
TARGETS = ("stb", "rhd")
Key = tuple[str, str, str]
"""(arm, test set, protocol)."""


@dataclass(frozen=True)
class ArmResult:
    """One arm on one test set under one protocol: its EPEs by seed and what they say against the others."""

    arm: str
    dataset: str
    protocol: str
    values: dict[int, float]
    mean: float
    low: float | None  # 95 % t-interval of the mean over seeds
    high: float | None
    vs_baseline: Difference | None  # arm − baseline, seed-paired
    vs_control: Difference | None  # arm − normal-aug control, seed-paired
    gap_closed: float | None  # (baseline − arm) / (baseline − oracle), on the means; None unless the gap is shown
    gap_low: float | None  # the same with the paired interval's ends (the oracle's gap taken as known)
    gap_high: float | None
    gap_mm: float | None = None  # baseline − oracle (means), the most a DG method could gain here
    gap_shown: bool = False  # the oracle beats the baseline by its seed-paired interval

    def to_json(self) -> dict:
        """A JSON object of every field (seeds as string keys)."""
        data = asdict(self)
        data["values"] = {str(k): v for k, v in sorted(self.values.items())}
        return data


def gap_closed(baseline: float, arm: float, oracle: float) -> float | None:
    """Share of the baseline→oracle gap the arm closes: 0 = the baseline's EPE, 1 = the oracle's; None without a gap."""
    gap = baseline - oracle
    return None if gap <= 0 else (baseline - arm) / gap


def _gap_interval(diff: Difference | None, baseline: float, oracle: float) -> tuple[float | None, float | None]:
    """The paired interval of arm − baseline as a gap-closed interval (None where either is missing)."""
    gap = baseline - oracle
    if diff is None or diff.low is None or gap <= 0:
        return None, None
    return -diff.high / gap, -diff.low / gap


def _paired(epe: Mapping[Key, Mapping[int, float]], arm: str, other: str, dataset: str, protocol: str
            ) -> Difference | None:
    """arm − other on one test set and protocol, seed-paired (None when either was not run or it is itself)."""
    mine, theirs = epe.get((arm, dataset, protocol)), epe.get((other, dataset, protocol))
    return None if arm == other or not mine or not theirs else paired_difference(mine, theirs)


def summarise(epe: Mapping[Key, Mapping[int, float]], control: str = CONTROL) -> list[ArmResult]:
    """Every (arm, test set, protocol) that has runs, with its interval, paired differences (from the baseline and
    from the `control` arm) and gap closed.

    The gap-closed share is given only where the oracle beats the baseline by its paired interval:
    a gap the seeds cannot tell from zero would make any share meaningless.
    """
    results = []
    for (arm, dataset, protocol), values in epe.items():
        if not values:
            continue
        mean = statistics.fmean(values.values())
        half = t_half_width(list(values.values()))
        vs_base = _paired(epe, arm, BASELINE, dataset, protocol)
        base, oracle = epe.get((BASELINE, dataset, protocol)), epe.get((ORACLE, dataset, protocol))
        gap = gap_low = gap_high = gap_mm = None
        shown = judge(_paired(epe, ORACLE, BASELINE, dataset, protocol)) == "lower"
        if base and oracle:
            base_mean, oracle_mean = statistics.fmean(base.values()), statistics.fmean(oracle.values())
            gap_mm = base_mean - oracle_mean
            if shown and arm not in (BASELINE, ORACLE):
                gap = gap_closed(base_mean, mean, oracle_mean)
                gap_low, gap_high = _gap_interval(vs_base, base_mean, oracle_mean)
        results.append(ArmResult(arm, dataset, protocol, dict(values), mean,
                                 None if half is None else mean - half, None if half is None else mean + half,
                                 vs_base, _paired(epe, arm, control, dataset, protocol), gap, gap_low, gap_high,
                                 gap_mm, shown))
    return results


def seeds_for(sd: float, bound: float, level: float = 0.95, most: int = 200) -> int | None:
    """The fewest seeds whose paired t-interval half-width t·sd/√n is at most `bound` (None beyond `most`)."""
    from scipy import stats

    for n in range(2, most + 1):
        if stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n) <= bound:
            return n
    return None


def judge(diff: Difference | None) -> str:
    """`lower`, `higher` or `no difference shown` by where the paired interval lies (EPE: lower is better)."""
    if diff is None or diff.low is None:
        return "no difference shown"
    return "lower" if diff.high < 0 else "higher" if diff.low > 0 else "no difference shown"


def find(results: list[ArmResult], arm: str, dataset: str, protocol: str) -> ArmResult | None:
    """The result of one arm on one test set under one protocol, if it was run."""
    return next((r for r in results if (r.arm, r.dataset, r.protocol) == (arm, dataset, protocol)), None)


def verdict(results: list[ArmResult], arm: str, protocol: str = "hand3d", targets: tuple[str, ...] = TARGETS,
            control_name: str = "normal-augmentation control") -> str:
    """One sentence: does `arm` lower the target EPE against the baseline and against the control arm?"""
    against = []
    for other, field in ((BASELINE, "vs_baseline"), (CONTROL, "vs_control")):
        parts = []
        for dataset in targets:
            row = find(results, arm, dataset, protocol)
            diff = getattr(row, field) if row else None
            if diff is not None:
                shown = f"{diff.mean:+.1f} mm" + (f" [{diff.low:+.1f}, {diff.high:+.1f}]" if diff.low is not None
                                                   else "")
                parts.append(f"{dataset.upper()} {shown}: {judge(diff)}")
        if parts:
            against.append(f"against the {'baseline' if other == BASELINE else control_name} "
                           + "; ".join(parts))
    wins = [judge(getattr(find(results, arm, d, protocol), "vs_baseline", None)) == "lower" for d in targets]
    head = ("lowers the unseen-target error on every target" if all(wins) else
            "lowers the unseen-target error on some targets only" if any(wins) else
            "does not lower the unseen-target error shown by the seed-paired intervals")
    return f"{arm} {head} ({protocol} EPE, paired 95 % intervals): " + ", ".join(against) + "."


def figure(results: list[ArmResult], arms: tuple[str, ...], context: FigureContext, out: Path,
           protocol: str = "hand3d", datasets: tuple[str, ...] = ("freihand", *TARGETS),
           control: str = CONTROL) -> list[Path]:
    """OUT.png / .pdf: each arm's mean EPE per test set with its 95 % interval over seeds, the seeds as dots."""
    from handdg.analysis.figure import body_top, new_figure, save_figure

    fig = new_figure(f"Closed world: EPE by arm ({protocol} protocol, mean and 95 % interval over seeds)", context,
                     (4.0 * len(datasets), 4.6))
    top = body_top(fig)
    for k, dataset in enumerate(datasets):
        step = 0.94 / len(datasets)
        ax = fig.add_axes((0.06 + k * step, 0.22, step - 0.07, top - 0.3))
        for x, arm in enumerate(arms):
            row = find(results, arm, dataset, protocol)
            if row is None:
                continue
            colour = "tab:gray" if arm in (BASELINE, ORACLE) else "tab:orange" if arm == control else "tab:blue"
            ax.scatter([x] * len(row.values), list(row.values.values()), s=10, color=colour, alpha=0.45)
            error = None if row.low is None else [[row.mean - row.low], [row.high - row.mean]]
            ax.errorbar([x], [row.mean], yerr=error, fmt="o", color=colour, capsize=4, markersize=7)
        ax.set_xticks(range(len(arms)), arms, rotation=35, ha="right", fontsize=8)
        ax.set_title({"freihand": "in domain (source look)"}.get(dataset, f"{dataset.upper()} (unseen look)"),
                     fontsize=10)
        ax.set_ylabel("EPE (mm)" if k == 0 else "")
        ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, out)
