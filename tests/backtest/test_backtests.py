"""Backtests: templates on real data, the two engines agree, bad strategies are contained, optimization is exact."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from terminal.backtest.api import Sizing
from terminal.backtest.loader import (
    check_strategy_source,
    load_strategy,
    template_names,
    template_source,
)
from terminal.backtest.optimize import heatmap, optimize, walk_forward
from terminal.backtest.runner import BacktestRequest, execute, result_to_json, run_in_worker
from terminal.data import read_bars_csv


@pytest.fixture(scope="module")
def goog(real_csv_dir):
    return read_bars_csv(real_csv_dir / "GOOG.csv")


@pytest.fixture(scope="module")
def pair_frames():
    rng = np.random.default_rng(4)
    n = 1500
    x = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.zeros(n)
    for t in range(1, n):
        spread[t] = 0.9 * spread[t - 1] + rng.normal(0, 0.4)
    y = 5 + 1.5 * x + spread
    index = pd.bdate_range("2018-01-01", periods=n, tz="UTC", name="time")

    def frame(close):
        return pd.DataFrame({"open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
                             "volume": 1e6}, index=index)

    return {"Y": frame(y), "X": frame(x)}


def test_every_template_is_a_valid_strategy():
    assert set(template_names()) >= {"sma_cross", "ts_momentum", "mean_reversion", "pairs"}
    for name in template_names():
        assert check_strategy_source(template_source(name), name) == []


@pytest.mark.parametrize("name", ["sma_cross", "ts_momentum", "mean_reversion"])
def test_single_instrument_templates_trade_on_goog(goog, name):
    result = execute(BacktestRequest(template_source(name), {"GOOG": goog}, name))
    assert result.ok, result.traceback
    assert result.statistics["trades"] >= 5
    assert len(result.equity) == len(goog) and result.equity.iloc[0] == pytest.approx(100_000, rel=0.05)


@pytest.mark.parametrize("name", ["sma_cross", "ts_momentum", "mean_reversion", "pairs"])
def test_fast_configuration_trades_exactly_like_stock_backtrader(goog, pair_frames, name):
    """The lean feed, broker and strategy step change the speed, not one fill or one equity value."""
    frames = pair_frames if name == "pairs" else {"GOOG": goog}
    results = [execute(BacktestRequest(template_source(name), frames, name, commission=0.001, fast=fast))
               for fast in (True, False)]
    for result in results:
        assert result.ok, result.traceback
    fast, stock = results
    assert fast.trades == stock.trades and len(fast.trades) >= 5
    np.testing.assert_allclose(fast.equity.to_numpy(), stock.equity.to_numpy(), rtol=1e-12)


def test_lean_broker_refuses_credit_interest():
    from terminal.backtest.engines.backtrader_engine import LeanBroker

    broker = LeanBroker()
    broker.setcommission(commission=0.001, interest=0.05)
    with pytest.raises(ValueError, match="credit interest"):
        broker.start()


def test_pairs_template_trades_both_legs(pair_frames):
    result = execute(BacktestRequest(template_source("pairs"), pair_frames, "pairs"))
    assert result.ok, result.traceback
    symbols = {t["symbol"] for t in result.trades}
    assert symbols == {"Y", "X"} and result.statistics["trades"] >= 10
    assert result.statistics["total_return"] > 0  # a mean-reverting spread by construction


def test_sma_crossover_gives_identical_trades_on_both_engines(goog):
    request = BacktestRequest(template_source("sma_cross"), {"GOOG": goog}, "sma_cross", {"size": 10})
    bt = execute(request)
    bp = execute(BacktestRequest(**{**request.__dict__, "engine": "backtesting"}))
    assert bt.ok and bp.ok and len(bt.trades) == len(bp.trades) > 50

    def key(t):
        return (t["entry_bar"], t["exit_bar"], t["size"], round(t["entry_price"], 6), round(t["exit_price"], 6))

    assert [key(t) for t in bt.trades] == [key(t) for t in bp.trades]


def test_statistics_match_the_equity_curve(goog):
    result = execute(BacktestRequest(template_source("sma_cross"), {"GOOG": goog}, "sma_cross"))
    equity = result.equity
    assert result.statistics["total_return"] == pytest.approx(equity.iloc[-1] / equity.iloc[0] - 1)
    assert result.statistics["trades"] == len(result.trades)


def test_a_raising_strategy_returns_the_traceback_line(goog):
    source = ("from terminal.backtest.api import Strategy\n\nclass Broken(Strategy):\n"
              "    def next(self):\n        if self.i == 10:\n            raise RuntimeError('boom')\n")
    result = run_in_worker(BacktestRequest(source, {"GOOG": goog}, "broken", time_limit=60))
    assert not result.ok and "boom" in result.error and result.error_line == 6


def test_an_endless_loop_is_stopped_at_the_time_limit_and_we_carry_on(goog):
    source = ("from terminal.backtest.api import Strategy\n\nclass Loops(Strategy):\n"
              "    def next(self):\n        while True:\n            pass\n")
    result = run_in_worker(BacktestRequest(source, {"GOOG": goog}, "loops", time_limit=2))
    assert not result.ok and "time limit" in result.error
    assert execute(BacktestRequest(template_source("sma_cross"), {"GOOG": goog}, "sma_cross")).ok


def test_source_checks_name_the_line():
    [problem] = check_strategy_source("from terminal.backtest.api import Strategy\nclass A(Strategy:\n    pass\n")
    assert problem.line == 2 and "syntax error" in problem.message
    [problem] = check_strategy_source("x = 1\n")
    assert "no class derived from Strategy" in problem.message
    [problem] = check_strategy_source(
        "from terminal.backtest.api import Strategy\nclass A(Strategy):\n    params = {'w': [1, 2]}\n")
    assert "must be int, float, bool or str" in problem.message


def test_optimization_results_equal_single_runs(goog):
    request = BacktestRequest(template_source("sma_cross"), {"GOOG": goog.iloc[:800]}, "sma_cross",
                              sizing=Sizing(units=10))
    table = optimize(request, {"fast": [5, 10], "slow": [30, 50]}, workers=2)
    assert len(table) == 4 and (table["error"] == "").all()
    for row in table.itertuples():
        single = execute(BacktestRequest(**{**request.__dict__, "params": {"fast": row.fast, "slow": row.slow}}))
        assert row.sharpe == pytest.approx(single.statistics["sharpe"])
        assert row.total_return == pytest.approx(single.statistics["total_return"])
    assert heatmap(table, "fast", "slow").shape == (2, 2)


def test_walk_forward_reports_in_and_out_of_sample(goog):
    request = BacktestRequest(template_source("sma_cross"), {"GOOG": goog}, "sma_cross", sizing=Sizing(units=10))
    result = walk_forward(request, {"fast": [5, 20], "slow": [50, 100]}, split=0.7, workers=2)
    assert set(result.best_params) == {"fast", "slow"}
    assert "sharpe" in result.in_sample and "sharpe" in result.out_of_sample


_LOOPS_ON_ODD = ("from terminal.backtest.api import Strategy\n\nclass Picky(Strategy):\n"
                 "    params = {'n': 1}\n"
                 "    def next(self):\n        while self.p.n % 2:\n            pass\n")


def test_a_looping_grid_point_becomes_an_error_row_and_the_grid_finishes(goog):
    request = BacktestRequest(_LOOPS_ON_ODD, {"GOOG": goog.iloc[:300]}, "picky", time_limit=1.5)
    rows = []
    table = optimize(request, {"n": [1, 2, 3, 4]}, workers=2, on_result=rows.append)
    assert len(rows) == 4 and len(table) == 4
    errors = dict(zip(table["n"], table["error"], strict=True))
    assert errors[2] == errors[4] == ""
    assert "time limit" in errors[1] and "time limit" in errors[3]


def test_cancel_returns_at_once_even_while_a_run_loops(goog):
    import time

    request = BacktestRequest(_LOOPS_ON_ODD, {"GOOG": goog.iloc[:300]}, "picky", time_limit=120)
    started = time.monotonic()
    deadline = started + 3.0
    table = optimize(request, {"n": [1, 3, 5, 7]}, workers=2, cancelled=lambda: time.monotonic() > deadline)
    assert table.empty
    assert time.monotonic() - started < 60  # the 120 s limit never came: the looping workers were killed


def test_heatmap_and_best_row_skip_failed_runs():
    from terminal.backtest.optimize import best_row

    table = pd.DataFrame({"fast": [5, 5, 10, 10], "slow": [30, 50, 30, 50], "sharpe": [0.5, 1.5, float("nan"), 0.2],
                          "error": ["", "", "ValueError: x", ""]})
    assert best_row(table).to_dict()["slow"] == 50
    grid = heatmap(table, "fast", "slow")
    assert list(grid.columns) == [5, 10] and list(grid.index) == [30, 50]
    assert pd.isna(grid.loc[30, 10]) and grid.loc[50, 5] == 1.5


def test_result_json_is_plain_json(goog):
    result = execute(BacktestRequest(template_source("sma_cross"), {"GOOG": goog}, "sma_cross"))
    text = json.dumps(result_to_json(result))
    assert "NaN" not in text and json.loads(text)["statistics"]["trades"] == len(result.trades)


def test_loaded_template_declares_typed_params():
    cls = load_strategy(template_source("mean_reversion"), "mean_reversion")
    assert cls.params["period"] == 20 and isinstance(cls.params["entry_z"], float)
