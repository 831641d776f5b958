"""The step-through trace: recorded in the worker on backtrader, it replays the run's own positions and equity."""

from __future__ import annotations

import numpy as np
import pytest

from terminal.backtest.runner import BacktestRequest, result_to_json, run_in_worker
from terminal.backtest.step_trace import StepTrace, parse_rule
from terminal.data import read_bars_csv
from terminal.services.backtests import BacktestService


@pytest.fixture(scope="module")
def traced(real_csv_dir):
    goog = read_bars_csv(real_csv_dir / "GOOG.csv")
    request = BacktestRequest(BacktestService.template_source("sma_cross"), {"GOOG": goog}, "sma_cross",
                              params={"fast": 10, "slow": 30}, trace=True, time_limit=120)
    result = run_in_worker(request)
    assert result.ok, result.error
    plain = run_in_worker(BacktestRequest(request.strategy_source, {"GOOG": goog}, "sma_cross",
                                          params={"fast": 10, "slow": 30}, time_limit=120))
    return StepTrace.from_run(result_to_json(result), {"GOOG": goog}), result, plain


def test_tracing_changes_nothing_and_replays_the_trade_list(traced):
    trace, result, plain = traced
    assert result.trades == plain.trades and result.equity.equals(plain.equity)
    expected = np.zeros(len(trace))
    for t in result.trades:
        expected[t["entry_bar"]:t["exit_bar"] + (1 if t.get("open") else 0)] += t["size"]
    np.testing.assert_array_equal(trace.positions["GOOG"], expected)
    # every entry bar has a fill, and the order behind it was sent at the bar before (next-open fills)
    for t in result.trades:
        assert t["entry_bar"] in trace.fills and t["entry_bar"] - 1 in trace.orders
    assert set(trace.indicators) == {"fast", "slow"}
    state = trace.state(result.trades[0]["entry_bar"])
    assert state.position == result.trades[0]["size"] and state.fills[0][2] == result.trades[0]["entry_price"]
    assert trace.next_fill(0) == result.trades[0]["entry_bar"]
    assert trace.bar_at(trace.times[100]) == 100 and trace.bar_at("1990-01-01") == 0


def test_rules_and_refusals():
    class S:
        equity, drawdown, position, close = 120_000.0, -0.12, 0.0, 99.5

    assert parse_rule("drawdown < -10%")(S) and not parse_rule("drawdown < -15%")(S)
    assert parse_rule("position == 0")(S) and parse_rule(" equity>=120000 ")(S) and parse_rule("close < 100")(S)
    with pytest.raises(ValueError, match="FIELD OP NUMBER"):
        parse_rule("import os")
    goog_less = {"strategy_name": "x", "equity": [], "trace": {}}
    with pytest.raises(ValueError, match="no step-through trace"):
        StepTrace.from_run(goog_less, {})


def test_a_trace_on_another_engine_is_refused_in_one_line(real_csv_dir):
    goog = read_bars_csv(real_csv_dir / "GOOG.csv")
    result = run_in_worker(BacktestRequest(BacktestService.template_source("sma_cross"), {"GOOG": goog},
                                           "sma_cross", engine="backtesting", trace=True, time_limit=120))
    assert result.error == "ValueError: a step-through records on backtrader, not backtesting"
