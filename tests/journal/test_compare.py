"""Actual trades against a backtest of the same period: matched pairs with slippage, missed and extra trades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from terminal.domain.journal import RoundTrip, compare

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
DAY = 86400.0


def _trip(key, side, entry_day, entry, exit_, qty=100, symbol="AAPL", source="sim"):
    start = T0 + timedelta(days=entry_day)
    sign = 1 if side == "long" else -1
    return RoundTrip(key, source, symbol, side, qty, start, start + timedelta(days=2), entry, exit_,
                     sign * qty * (exit_ - entry))


def test_matching_slippage_missed_and_extra_by_hand():
    backtest = [_trip("b0", "long", 0, 100.0, 110.0, source="backtest"),
                _trip("b1", "short", 5, 120.0, 115.0, source="backtest"),
                _trip("b2", "long", 10, 90.0, 95.0, source="backtest")]
    actual = [_trip("a0", "long", 0.2, 100.5, 109.0, qty=50),  # late and worse on both legs
              _trip("a1", "short", 5.5, 120.2, 114.8),  # a short sold higher, bought back lower: better
              _trip("a2", "long", 20, 80.0, 85.0),  # nothing in the backtest near it
              _trip("a3", "long", 10.1, 90.0, 95.0, symbol="MSFT")]  # another symbol: no match
    result = compare(backtest, actual, tolerance_seconds=DAY)
    assert [(m.backtest.key, m.actual.key) for m in result.matched] == [("b0", "a0"), ("b1", "a1")]
    first, second = result.matched
    assert (first.entry_slippage, first.exit_slippage) == (pytest.approx(0.5), pytest.approx(1.0))
    assert first.slippage_cost == pytest.approx(1.5 * 50)
    assert (second.entry_slippage, second.exit_slippage) == (pytest.approx(-0.2), pytest.approx(-0.2))
    assert [t.key for t in result.missed] == ["b2"] and [t.key for t in result.extra] == ["a3", "a2"]  # in entry order
    assert result.slippage_cost == pytest.approx(75 - 0.4 * 100)
    # a tighter tolerance: the late entry no longer counts as the same trade
    tight = compare(backtest, actual, tolerance_seconds=3600)
    assert [t.key for t in tight.missed] == ["b0", "b1", "b2"] and len(tight.extra) == 4
