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


def _chunks(real_csv_dir):
    """The trace of the SMA crossover on GOOG as its worker streams it (through the real worker channel)."""
    goog = read_bars_csv(real_csv_dir / "GOOG.csv")
    request = BacktestRequest(BacktestService.template_source("sma_cross"), {"GOOG": goog}, "sma_cross",
                              params={"fast": 10, "slow": 30}, trace=True, time_limit=120)
    chunks: list = []
    result = run_in_worker(request, partial=chunks.append)
    assert result.ok, result.error
    return goog, chunks, result


def test_the_streamed_trace_builds_the_runs_own_positions_equity_and_trades(real_csv_dir):
    goog, chunks, result = _chunks(real_csv_dir)
    assert "indicators" in chunks[0] and chunks[-1]["upto"] == len(goog) - 1
    streamed = StepTrace.streaming({"GOOG": goog}, 100_000.0)
    streamed.extend(chunks[0])
    # the worker's chunks as it would send them from a slower run: up to bar 1000, then the rest
    orders = [o for c in chunks[1:] for o in c["orders"]]
    fills = [f for c in chunks[1:] for f in c["fills"]]
    streamed.extend({"upto": 1000, "orders": [o for o in orders if o[0] <= 1000],
                     "fills": [f for f in fills if f[1] <= 1000]})
    assert streamed.available == 1001 and not streamed.complete
    assert np.isnan(streamed.equity[1001:]).all()  # nothing of the future before the worker got there
    streamed.extend({"upto": len(goog) - 1, "orders": [o for o in orders if o[0] > 1000],
                     "fills": [f for f in fills if f[1] > 1000]})
    whole = StepTrace.from_run(result_to_json(result), {"GOOG": goog})
    np.testing.assert_allclose(streamed.equity, whole.equity, rtol=1e-12)
    np.testing.assert_array_equal(streamed.positions["GOOG"], whole.positions["GOOG"])
    assert streamed.fills == whole.fills and streamed.orders == whole.orders
    assert [(t["entry_bar"], t["exit_bar"]) for t in streamed.trades] == \
        [(t["entry_bar"], t["exit_bar"]) for t in result.trades if not t.get("open")]
    assert streamed.finish(result_to_json(result)) == "" and streamed.complete


def test_play_waits_at_the_edge_of_what_the_worker_has_run(real_csv_dir):
    import asyncio

    from terminal.services.step_through import StepThroughController

    goog, chunks, _ = _chunks(real_csv_dir)
    trace = StepTrace.streaming({"GOOG": goog}, 100_000.0)
    trace.extend(chunks[0])
    trace.extend({"upto": 40, "orders": [], "fills": []})  # the worker's first 41 bars (no trade before bar 40)
    controller = StepThroughController(trace)

    async def scenario() -> None:
        controller.set_speed(1000)
        controller.play()
        await asyncio.sleep(0.3)
        assert controller.index == 40 and controller.playing  # waiting for the worker, not ended
        controller.seek(500)
        assert controller.index == 40  # no jump past what is known
        trace.extend({"upto": len(goog) - 1, "fills": [f for c in chunks[1:] for f in c["fills"] if f[1] > 40],
                      "orders": [o for c in chunks[1:] for o in c["orders"] if o[0] > 40]})
        controller.extended()
        await asyncio.sleep(0.3)
        assert controller.index > 40

    asyncio.run(scenario())
    controller.close()
