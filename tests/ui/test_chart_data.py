"""BarSeries: live appends and last-bar updates keep every level-of-detail bucket equal to a fresh build."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from terminal.domain import Bar, BarSize, ValidationError
from terminal.ui.chart.data import BarSeries
from tests.ui.test_chart_rendering import random_walk_bars


def test_appends_and_updates_keep_the_pyramid_equal_to_a_fresh_build():
    frame = random_walk_bars(1200)
    live = BarSeries.from_frame(frame.iloc[:1000])
    for level in range(8):  # build the pyramid before the live bars arrive
        live.buckets(0, 999, level)
    t = frame.index
    for i in range(1000, 1200):
        row = frame.iloc[i]
        first = Bar(t[i].to_pydatetime(), row["open"], row["open"], row["open"], row["open"], 1.0, BarSize.MIN_1)
        live.append(first)
        live.update_last(Bar(t[i].to_pydatetime(), *row[["open", "high", "low", "close", "volume"]],
                             BarSize.MIN_1))
    fresh = BarSeries.from_frame(frame)
    for level in range(8):
        a, b = live.buckets(0, 1199, level), fresh.buckets(0, 1199, level)
        for field in ("x", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=f"level {level} {field}")
    assert live.high_max == fresh.high_max and live.low_min == fresh.low_min


def test_level_for_gives_at_most_two_buckets_per_pixel():
    for bars, pixels in ((1_000_000, 1500), (3000, 1500), (3001, 1500), (100, 1500)):
        level = BarSeries.level_for(bars, pixels)
        assert bars / (1 << level) <= 2 * pixels
        assert level == 0 or bars / (1 << (level - 1)) > 2 * pixels  # and no coarser than needed


def test_live_bars_must_keep_time_order():
    series = BarSeries.from_frame(random_walk_bars(10))
    last = series.bar_at(9)[0]
    with pytest.raises(ValidationError, match="not after the last bar"):
        series.append(Bar(last, 1, 1, 1, 1, 1))
    with pytest.raises(ValidationError, match="not the last bar's time"):
        series.update_last(Bar(last + timedelta(minutes=1), 1, 1, 1, 1, 1))
