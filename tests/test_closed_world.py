"""The closed-world experiment's statistics, on toy tables computed by hand."""

import math

import pytest

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from closed_world_stats import find, gap_closed, judge, summarise, verdict

T975_2 = 4.302652729911275  # t quantile 0.975 with 2 degrees of freedom


def _toy():
    """Three seeds on STB (hand3d): baseline 52 mm, oracle 32 mm, IE+TE 47 mm (paired diffs -5, -6, -4)."""
    return {("baseline", "stb", "hand3d"): {0: 50.0, 1: 52.0, 2: 54.0},
            ("oracle", "stb", "hand3d"): {0: 30.0, 1: 32.0, 2: 34.0},
            ("normal-aug", "stb", "hand3d"): {0: 44.0, 1: 47.0, 2: 50.0},
            ("ie-te-r0.6", "stb", "hand3d"): {0: 45.0, 1: 46.0, 2: 50.0}}


def test_gap_closed_fraction_by_hand():
    assert gap_closed(52.0, 47.0, 32.0) == pytest.approx(0.25)
    assert gap_closed(52.0, 32.0, 32.0) == pytest.approx(1.0)
    assert gap_closed(52.0, 60.0, 32.0) == pytest.approx(-0.4)  # worse than the baseline: negative
    assert gap_closed(52.0, 47.0, 55.0) is None  # an oracle no better than the baseline leaves no gap


def test_summary_of_a_toy_table_by_hand():
    results = summarise(_toy())
    arm = find(results, "ie-te-r0.6", "stb", "hand3d")
    assert arm.mean == pytest.approx(47.0)
    half_mean = T975_2 * math.sqrt(7.0) / math.sqrt(3)  # values 45, 46, 50: sample variance 7
    assert (arm.low, arm.high) == pytest.approx((47.0 - half_mean, 47.0 + half_mean))
    half = T975_2 * 1.0 / math.sqrt(3)  # diffs -5, -6, -4: mean -5, sample sd 1
    assert arm.vs_baseline.mean == pytest.approx(-5.0) and arm.vs_baseline.pairs == 3
    assert (arm.vs_baseline.low, arm.vs_baseline.high) == pytest.approx((-5.0 - half, -5.0 + half))
    assert arm.gap_closed == pytest.approx(0.25)
    assert (arm.gap_low, arm.gap_high) == pytest.approx(((5.0 - half) / 20.0, (5.0 + half) / 20.0))
    assert arm.vs_control.mean == pytest.approx(-0.0) and judge(arm.vs_control) == "no difference shown"
    base, oracle = find(results, "baseline", "stb", "hand3d"), find(results, "oracle", "stb", "hand3d")
    assert base.vs_baseline is None and base.gap_closed is None and oracle.gap_closed is None
    assert oracle.vs_baseline.mean == pytest.approx(-20.0)
    assert find(results, "ie-te-r0.6", "rhd", "hand3d") is None
    assert arm.gap_mm == pytest.approx(20.0) and arm.gap_shown and base.gap_shown


def test_no_gap_closed_share_where_the_oracle_is_not_shown_better():
    noisy = {**_toy(), ("oracle", "stb", "hand3d"): {0: 40.0, 1: 56.0, 2: 45.0}}  # diffs -10, +4, -9: spans 0
    arm = find(summarise(noisy), "ie-te-r0.6", "stb", "hand3d")
    assert arm.gap_mm == pytest.approx(52.0 - 47.0) and not arm.gap_shown
    assert arm.gap_closed is None and arm.gap_low is None and arm.vs_baseline.mean == pytest.approx(-5.0)


def test_judge_and_verdict_follow_the_interval():
    results = summarise(_toy())
    assert judge(find(results, "ie-te-r0.6", "stb", "hand3d").vs_baseline) == "lower"
    assert judge(find(results, "oracle", "stb", "hand3d").vs_baseline) == "lower"
    text = verdict(results, "ie-te-r0.6", targets=("stb",))
    assert text.startswith("ie-te-r0.6 lowers the unseen-target error on every target")
    assert "STB -5.0 mm" in text and "normal-augmentation control STB +0.0 mm [-2.5, +2.5]: no difference shown" in text
    worse = summarise({**_toy(), ("ie", "stb", "hand3d"): {0: 60.0, 1: 62.0, 2: 65.0}})
    assert judge(find(worse, "ie", "stb", "hand3d").vs_baseline) == "higher"
    assert "does not lower" in verdict(worse, "ie", targets=("stb",))
