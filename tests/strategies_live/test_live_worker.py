"""The live worker takes the decisions a backtest takes at the same bars, and a strategy's error or loop ends
only its worker, with a one-line message; bars from the broker's 5-second bars close when their last part comes."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from terminal.backtest.api import Sizing
from terminal.backtest.live import LiveWorker, StrategyFailed
from terminal.backtest.loader import template_source
from terminal.backtest.runner import BacktestRequest, execute
from terminal.domain import Bar, BarSize
from terminal.services.strategies import BarBuilder
from tests.strategies_live.conftest import LOOPS, RAISES_LATER


def _five(second: int, price: float, volume: float = 100.0) -> Bar:
    return Bar(datetime.fromtimestamp(1_764_000_000 + second, UTC), price, price + 1, price - 1, price + 0.5, volume,
               BarSize.SEC_5)


def test_minute_bars_are_built_from_twelve_five_second_bars_and_a_start_mid_minute_waits():
    builder = BarBuilder(60)
    start = 60 - 1_764_000_000 % 60  # the first second of a minute
    assert builder.add(_five(start - 5, 1.0)) == []  # the end of a minute joined late: not a bar
    done = []
    for n in range(12):
        done += builder.add(_five(start + 5 * n, 100.0 + n, volume=10.0))
    assert len(done) == 1
    t, o, h, low, c, v = done[0]
    assert t == (1_764_000_000 + start) * 1_000_000_000
    assert (o, h, low, c, v) == (100.0, 112.0, 99.0, 111.5, 120.0)


def test_a_gap_closes_the_bar_it_interrupted_and_a_bar_already_decided_is_not_built_again():
    start = 60 - 1_764_000_000 % 60
    builder = BarBuilder(60)
    builder.add(_five(start, 100.0))
    done = builder.add(_five(start + 120, 50.0))  # two minutes later: the first minute ends with what it had
    assert [row[1] for row in done] == [100.0]
    resumed = BarBuilder(60, after_ns=(1_764_000_000 + start + 60) * 1_000_000_000)
    assert all(resumed.add(_five(start + 5 * n, 1.0)) == [] for n in range(12))


def _goog(real_csv_dir) -> pd.DataFrame:
    frame = pd.read_csv(real_csv_dir / "GOOG.csv", index_col=0, parse_dates=True).iloc[:500]
    frame.columns = [c.lower() for c in frame.columns]
    frame.index = frame.index.tz_localize("UTC")
    return frame


def test_the_worker_decides_at_each_bar_as_the_backtest_does(real_csv_dir):
    frame = _goog(real_csv_dir)
    source = template_source("sma_cross")
    params = {"fast": 10, "slow": 30}
    result = execute(BacktestRequest(source, {"GOOG": frame}, "sma_cross", params, sizing=Sizing(units=10)))
    assert result.ok and len(result.trades) > 5
    rows = [(int(t.value), r.open, r.high, r.low, r.close, r.volume)
            for t, r in zip(frame.index, frame.itertuples(), strict=True)]
    worker = LiveWorker(source, "sma_cross", params, Sizing(units=10), "GOOG")
    try:
        worker.started(10)
        worker.warm(rows[:40], [0.0] * 40, 100_000.0, 30)  # no cross before bar 40: flat, as in the backtest
        position, entries = 0.0, []
        for n, row in enumerate(rows[40:], start=40):
            before = position
            for intent in worker.decide(row, position, 100_000.0, 10):
                position += intent.quantity if intent.side == "BUY" else -intent.quantity
            if position and (before == 0 or (before > 0) != (position > 0)):  # the backtest fills it a bar later
                entries.append((frame.index[n + 1], 1 if position > 0 else -1))
    finally:
        worker.stop()
    expected = [(pd.Timestamp(t["entry_time"]), 1 if t["size"] > 0 else -1) for t in result.trades]
    assert entries[:len(expected)] == expected


def test_a_strategy_that_raises_or_loops_ends_only_its_worker_with_a_one_line_message():
    rows = [(n * 5_000_000_000, 1.0, 1.0, 1.0, 1.0, 1.0) for n in range(6)]
    worker = LiveWorker(RAISES_LATER, "breaks", {}, Sizing(units=1), "X")
    worker.started(10)
    worker.decide(rows[0], 0.0, 1000.0, 5)
    with pytest.raises(StrategyFailed) as raised:
        worker.decide(rows[1], 0.0, 1000.0, 5)
    message = str(raised.value)
    assert "ZeroDivisionError: it divides by zero on its second bar" in message and "line 14 of breaks" in message
    assert "\n" not in message

    worker = LiveWorker(LOOPS, "spins", {}, Sizing(units=1), "X")
    worker.started(10)
    worker.warm(rows[:3], [0.0] * 3, 1000.0, 10)
    with pytest.raises(StrategyFailed, match="took more than 1 s deciding on a bar"):
        worker.decide(rows[3], 0.0, 1000.0, 1)
    assert worker.pid is not None and not worker._process.is_alive()


def test_a_module_that_fails_to_load_is_reported_before_the_run_starts():
    worker = LiveWorker("from terminal.backtest.api import Strategy\nclass S(Strategy):\n    params = {}\n"
                        "raise RuntimeError('no data feed')\n", "s", {}, Sizing(units=1), "X")
    with pytest.raises(StrategyFailed, match="failed while loading: RuntimeError: no data feed"):
        worker.started(10)
