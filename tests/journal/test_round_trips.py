"""Round trips from fills (FIFO), R-multiples and MAE/MFE, each against a plain computation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from terminal.domain import Fill, Instrument, OrderSide, Provenance
from terminal.domain.journal import backtest_round_trips, excursions, fill_round_trips, r_multiple

AAPL = Instrument("AAPL")
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def _fill(n, side, qty, price, minutes, commission=1.0, account="DU1", provenance=Provenance.SIMULATOR):
    return Fill(f"e{n}", n, AAPL, side, qty, price, T0 + timedelta(minutes=minutes), commission, account,
                f"c{n}", provenance=provenance)


def test_fifo_splits_partial_closes_and_reverses_through_flat():
    fills = [_fill(1, OrderSide.BUY, 100, 10.0, 0, 1.0), _fill(2, OrderSide.BUY, 50, 11.0, 1, 0.5),
             _fill(3, OrderSide.SELL, 120, 12.0, 2, 1.2), _fill(4, OrderSide.SELL, 60, 13.0, 3, 0.6),
             _fill(5, OrderSide.BUY, 30, 12.5, 4, 0.3)]
    trips = fill_round_trips(reversed(fills))  # order of the list does not matter: time does
    assert [(t.key, t.side, t.quantity) for t in trips] == [
        ("fill:e1>e3", "long", 100), ("fill:e2>e3", "long", 20), ("fill:e2>e4", "long", 30),
        ("fill:e4>e5", "short", 30)]
    # commission: each fill's per-share commission times the trip's shares, on both legs
    first = trips[0]
    assert first.commission == pytest.approx(100 * 0.01 + 100 * 0.01)
    assert first.pnl == pytest.approx(100 * (12.0 - 10.0) - first.commission)
    short = trips[3]
    assert short.pnl == pytest.approx(30 * (13.0 - 12.5) - 30 * 0.01 - 30 * 0.01)
    assert {t.source for t in trips} == {"sim"} and short.entry_order == "c4"
    # 180 bought and 180 sold: every share is in exactly one round trip
    assert sum(t.quantity for t in trips) == 180


def test_accounts_and_instruments_are_paired_separately():
    fills = [_fill(1, OrderSide.BUY, 10, 10.0, 0, account="A"), _fill(2, OrderSide.SELL, 10, 11.0, 1, account="B")]
    assert fill_round_trips(fills) == []


def test_r_multiple_is_the_result_over_the_risk_to_the_stop():
    assert r_multiple(300.0, 100, 50.0, 48.0) == pytest.approx(1.5)
    assert r_multiple(-200.0, 100, 50.0, 52.0) == pytest.approx(-1.0)  # a short stopped out: −1 R
    assert r_multiple(100.0, 100, 50.0, None) is None and r_multiple(1.0, 1, 50.0, 50.0) is None


def test_excursions_against_a_plain_loop():
    rng = np.random.default_rng(3)
    for _ in range(200):
        entry = 100 + rng.normal()
        highs = list(entry + np.abs(rng.normal(0, 2, 12)))
        lows = list(entry - np.abs(rng.normal(0, 2, 12)))
        exit_price = entry + rng.normal(0, 2)
        qty = int(rng.integers(1, 500))
        for sign in (1, -1):
            open_pnls = [sign * qty * (p - entry) for p in [*highs, *lows, exit_price]]
            mae, mfe = excursions(sign, qty, entry, exit_price, highs, lows)
            assert mae == pytest.approx(min(0.0, min(open_pnls)))
            assert mfe == pytest.approx(max(0.0, max(open_pnls)))


def test_a_backtest_trade_list_becomes_round_trips_one_for_one():
    trades = [{"symbol": "GOOG", "size": 10.0, "entry_time": "2020-01-02T00:00:00+00:00", "entry_price": 100.0,
               "exit_time": "2020-01-09T00:00:00+00:00", "exit_price": 90.0, "pnl": -100.0},
              {"symbol": "GOOG", "size": -5.0, "entry_time": "2020-01-10T00:00:00+00:00", "entry_price": 90.0,
               "exit_time": "2020-01-13T00:00:00+00:00", "exit_price": 80.0, "pnl": 50.0, "open": True}]
    trips = backtest_round_trips(7, "sma", trades)
    assert [(t.key, t.side, t.quantity, t.pnl, t.tags) for t in trips] == [
        ("backtest:7:0", "long", 10.0, -100.0, ()), ("backtest:7:1", "short", 5.0, 50.0, ("open",))]
    assert trips[0].holding_seconds == 7 * 86400 and trips[1].gross == pytest.approx(50.0)
