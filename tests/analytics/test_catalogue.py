"""The statistics catalogue: every statistic has a label, a unit and a definition; values read as a trader
reads them."""

from __future__ import annotations

import math

import pandas as pd

from terminal.analytics import catalogue
from terminal.analytics.stats import STATISTIC_NAMES, compute_statistics


def test_every_statistic_has_a_label_a_kind_and_a_definition():
    for key in STATISTIC_NAMES:
        entry = catalogue.BY_KEY[key]
        assert entry.label and entry.label != key and entry.definition, key
    assert len({s.label for s in catalogue.CATALOGUE}) == len(catalogue.CATALOGUE)


def test_values_read_with_their_units():
    f = catalogue.format_value
    assert f("total_return", 0.12345) == "12.35 %"
    assert f("max_drawdown", -0.2) == "-20.00 %"
    assert f("sharpe", 1.0812) == "1.08"
    assert f("expectancy", 1234.567) == "1,234.57"
    assert f("trades", 42.0) == "42"
    assert f("max_drawdown_days", 37.4) == "37 days"
    assert f("max_drawdown_days", 1.0) == "1 day"
    assert f("max_drawdown_days", 0.25) == "6.0 h"
    assert f("max_drawdown_duration", 412.0) == "412 bars"
    assert f("profit_factor", math.inf) == "∞"
    assert f("sortino", math.nan) == "—" and f("sortino", None) == "—"


def test_differences_are_second_minus_first_in_the_unit_and_know_which_way_is_better():
    d = catalogue.format_difference
    assert d("total_return", 0.10, 0.125) == "+2.50 pp"
    assert d("sharpe", 1.2, 0.9) == "−0.30"
    assert d("max_drawdown_days", 40.0, 30.0) == "−10 d"
    assert d("trades", 5.0, 5.0) == "±0"
    assert d("sharpe", None, 1.0) == "—"
    better = catalogue.difference_is_better
    assert better("total_return", 0.1, 0.2) is True
    assert better("max_drawdown", -0.3, -0.1) is True  # a shallower drawdown is better
    assert better("max_drawdown_days", 30.0, 40.0) is False  # a longer one is worse
    assert better("trades", 3.0, 9.0) is None


def test_the_dock_reads_the_keys_in_catalogue_order():
    equity = pd.Series([100.0, 101, 99, 103], index=pd.date_range("2024-01-01", periods=4, tz="UTC"))
    keys = list(compute_statistics(equity, [1.0], 0.5, benchmark=equity))
    order = catalogue.ordered([*reversed(keys), "custom"])
    assert order[:2] == ["total_return", "annualised_return"] and order[-1] == "custom"
    assert catalogue.statistic("custom").label == "Custom"
