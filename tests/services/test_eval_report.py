"""The evaluation table's statistics on constructed data: Wilson intervals, t intervals for means, the paired
bootstrap difference, and the table's text."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from llmdeck.services import eval_report
from llmdeck.services.eval_report import Metric, format_table, mean, paired_delta, rate, report_row, t975, wilson


def test_wilson_interval_on_known_values():
    low, high = wilson(4, 6)
    assert low == pytest.approx(0.3000, abs=5e-4) and high == pytest.approx(0.9032, abs=5e-4)
    low, high = wilson(0, 10)  # no passes: the interval still has width (not [0, 0] like the plain normal one)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=5e-4)
    low, high = wilson(10, 10)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.7225, abs=5e-4)
    assert wilson(0, 0) == (None, None)


def test_rate_is_a_proportion_with_its_wilson_interval():
    metric = rate({"a": 1.0, "b": 0.0, "c": 1.0, "d": 1.0})
    assert (metric.value, metric.n) == (0.75, 4)
    assert (metric.low, metric.high) == wilson(3, 4)


def test_t_quantiles_match_the_table_and_the_expansion_beyond_it():
    assert t975(1) == 12.706 and t975(4) == 2.776 and t975(30) == 2.042
    assert t975(40) == pytest.approx(2.021, abs=1e-3) and t975(120) == pytest.approx(1.980, abs=1e-3)
    assert t975(10**6) == pytest.approx(eval_report.Z95, abs=1e-4)


def test_mean_has_a_t_interval():
    metric = mean({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0})
    half = 2.776 * statistics.stdev([1, 2, 3, 4, 5]) / math.sqrt(5)  # 1.963
    assert metric.value == 3.0 and metric.n == 5
    assert metric.low == pytest.approx(3.0 - half) and metric.high == pytest.approx(3.0 + half)
    single = mean({"a": 7.0})
    assert (single.value, single.low, single.high) == (7.0, 7.0, 7.0)
    assert mean({}).value is None


def test_a_bounded_mean_keeps_its_interval_inside_the_bounds():
    # two questions, reciprocal ranks 1 and 0: the t interval (df 1) would be 0.5 +- 6.35
    free = mean({"a": 1.0, "b": 0.0})
    assert free.low < 0 and free.high > 1
    bounded = mean({"a": 1.0, "b": 0.0}, bounds=(0.0, 1.0))
    assert (bounded.value, bounded.low, bounded.high) == (0.5, 0.0, 1.0)
    narrow = mean({f"q{i}": 0.4 + 0.01 * (i % 3) for i in range(30)}, bounds=(0.0, 1.0))
    assert narrow.low == pytest.approx(mean(narrow.per_item).low) and 0 < narrow.low < narrow.high < 1


def test_a_constant_paired_difference_has_no_width_whatever_the_spread_of_the_items():
    rng = random.Random(1)
    first = {f"q{i}": rng.uniform(1, 10) for i in range(30)}  # very different items...
    other = {item: value + 1.0 for item, value in first.items()}  # ...each one exactly 1 better
    delta = paired_delta(mean(first), mean(other))
    assert (delta.value, delta.low, delta.high, delta.n) == (
        pytest.approx(1.0),
        pytest.approx(1.0),
        pytest.approx(1.0),
        30,
    )
    # the unpaired intervals of the two means overlap widely: pairing is what makes the difference clear
    assert mean(other).low < mean(first).high


def test_paired_bootstrap_interval_on_known_pass_fail_data():
    first = Metric(0.5, 40, None, None, {f"q{i}": float(i % 2) for i in range(40)})
    other = Metric(0.75, 40, None, None, {f"q{i}": 1.0 if i % 4 else float(i % 2) for i in range(40)})
    # differences: +1 on the 10 items i = 2 mod 4, 0 elsewhere; mean 0.25, bootstrap sd sqrt(0.25*0.75/40) ~ 0.068
    delta = paired_delta(first, other)
    assert delta.value == pytest.approx(0.25) and delta.n == 40
    assert delta.low == pytest.approx(0.25 - 1.96 * 0.0685, abs=0.04)
    assert delta.high == pytest.approx(0.25 + 1.96 * 0.0685, abs=0.04)
    assert delta.low > 0  # the better model is shown better with 95% confidence
    assert paired_delta(first, other) == delta  # a fixed seed: the same report every time
    assert paired_delta(first, other, seed=5) != delta


def test_the_difference_is_over_the_items_both_models_have():
    first = Metric(None, 3, None, None, {"a": 0.0, "b": 1.0, "c": 0.0})
    other = Metric(None, 2, None, None, {"b": 1.0, "c": 1.0, "z": 0.0})
    delta = paired_delta(first, other)
    assert (delta.value, delta.n) == (0.5, 2)
    assert paired_delta(first, Metric(None, 0, None, None, {})).value is None


def test_report_rows_and_the_table():
    per_model = {
        "base": {"a": 0.0, "b": 1.0, "c": 0.0, "d": 0.0},
        "base+run-1": {"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.0},
    }
    row = report_row("exact match", "rate", per_model)
    assert row.models["base"].value == 0.25 and row.models["base+run-1"].value == 0.75
    assert set(row.deltas) == {"base+run-1"} and row.deltas["base+run-1"].value == pytest.approx(0.5)
    report = eval_report.EvalReport(models=["base", "base+run-1"], source="evals.jsonl", rows=[row])
    lines = format_table(report).splitlines()
    assert lines[0].split() == ["metric", "n", "base", "base+run-1", "base+run-1", "-", "base"]
    low, high = wilson(1, 4)
    delta = row.deltas["base+run-1"]
    assert lines[1] == (
        f"exact match  4  0.250 [{low:.3f}, {high:.3f}]  0.750 [{wilson(3, 4)[0]:.3f}, {wilson(3, 4)[1]:.3f}]"
        f"  +0.500 [{delta.low:+.3f}, {delta.high:+.3f}]"
    )
    assert format_table(report.to_dict()) == format_table(report)  # the JSON form prints the same
    with pytest.raises(ValueError, match="kind 'median'"):
        report_row("x", "median", per_model)
