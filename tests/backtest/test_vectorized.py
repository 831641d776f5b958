"""The vectorized engine (vectorbt) against backtrader, and the statistics of many curves at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from terminal.analytics.stats import compute_statistics, matrix_statistics
from terminal.backtest.api import Sizing
from terminal.backtest.loader import load_strategy, template_source
from terminal.data import read_bars_csv

VECTORIZED = ["sma_cross", "ts_momentum", "mean_reversion"]


@pytest.fixture(scope="module")
def goog(real_csv_dir):
    return read_bars_csv(real_csv_dir / "GOOG.csv")


def test_matrix_statistics_equal_the_one_curve_definitions():
    rng = np.random.default_rng(7)
    index = pd.bdate_range("2020-01-01", periods=600, tz="UTC")
    curves = 1e5 * np.exp(np.cumsum(rng.normal(0, 0.01, (600, 5)), axis=0))
    curves[:, 4] = 1e5  # a flat curve: no volatility, no drawdown
    pnls = [list(rng.normal(0, 100, 30)), [], [5.0], [-1.0, -2.0], list(rng.normal(10, 50, 7))]
    exposure = rng.uniform(0, 1, 5)
    rows = matrix_statistics(curves, pnls, exposure, 252, index.as_unit("ns").asi8)
    for k, row in enumerate(rows):
        expected = compute_statistics(pd.Series(curves[:, k], index=index), pnls[k], float(exposure[k]), 252)
        assert row.keys() == expected.keys()
        for name, value in expected.items():
            assert row[name] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), (k, name)


@pytest.mark.parametrize("name", VECTORIZED)
@pytest.mark.parametrize("params,commission,slippage,sizing", [
    ({"size": 10}, 0.001, 0.002, Sizing(percent=0.95)),
    ({"long_only": True}, 0.0, 0.0, Sizing(percent=0.95)),
    ({}, 0.001, 0.0, Sizing(percent=0.5)),
])
def test_every_template_trades_the_same_on_vectorbt_and_backtrader(goog, name, params, commission, slippage, sizing):
    pytest.importorskip("vectorbt", reason="the vectorized engine needs vectorbt (pip install -e '.[vector]')")
    from terminal.backtest.engines.backtrader_engine import run_backtrader
    from terminal.backtest.engines.vectorbt_engine import run_vectorized

    strategy = load_strategy(template_source(name), name)
    event = run_backtrader(strategy, {"GOOG": goog}, params, 100_000, commission, slippage, sizing)
    vector = run_vectorized(strategy, {"GOOG": goog}, params, 100_000, commission, slippage, sizing)
    assert len(event.trades) >= 5
    assert _same(vector.trades, event.trades)
    np.testing.assert_allclose(vector.equity.to_numpy(), event.equity.to_numpy(), rtol=1e-9)
    assert vector.exposure == pytest.approx(event.exposure)


def _same(a: list[dict], b: list[dict]) -> bool:
    def key(t: dict) -> tuple:
        return (t["entry_bar"], t["exit_bar"], t["size"], round(t["entry_price"], 6), round(t["exit_price"], 6),
                t.get("open", False), round(t["pnl"], 4))

    assert [key(t) for t in a] == [key(t) for t in b]
    return True


def test_a_grid_in_one_simulation_equals_single_runs(goog):
    pytest.importorskip("vectorbt", reason="the vectorized engine needs vectorbt (pip install -e '.[vector]')")
    from terminal.backtest.engines.vectorbt_engine import run_grid, run_vectorized
    from terminal.backtest.runner import BacktestRequest, execute

    strategy = load_strategy(template_source("sma_cross"), "sma_cross")
    grid = [{"fast": f, "slow": s} for f in (5, 10, 20) for s in (20, 40)]
    rows = [row for chunk in run_grid(strategy, {"GOOG": goog}, grid, 100_000, 0.001, 0.0, Sizing(percent=0.5), 252)
            for row in chunk]
    assert [r["error"] for r in rows].count("") == 5  # fast 20 / slow 20 is refused by the strategy itself
    assert "must be shorter" in rows[4]["error"]
    for row in rows:
        if row["error"]:
            continue
        single = execute(BacktestRequest(template_source("sma_cross"), {"GOOG": goog}, "sma_cross",
                                         {"fast": row["fast"], "slow": row["slow"]}, commission=0.001,
                                         sizing=Sizing(percent=0.5)))
        for stat in ("total_return", "sharpe", "max_drawdown", "max_drawdown_duration", "trades", "exposure"):
            assert row[stat] == pytest.approx(single.statistics[stat], rel=1e-9, nan_ok=True), stat
        assert _same(run_vectorized(strategy, {"GOOG": goog}, {"fast": row["fast"], "slow": row["slow"]}, 100_000,
                                    0.001, 0.0, Sizing(percent=0.5)).trades, single.trades)


def test_an_order_the_cash_cannot_pay_is_reported(goog):
    """GOOG bar 1158 opens 2.6 % above the close before it, where sma_cross reverses with 95 % of equity: backtrader
    refuses that buy (Margin), vectorbt cuts it to the cash; the run says so rather than differing silently."""
    pytest.importorskip("vectorbt", reason="the vectorized engine needs vectorbt (pip install -e '.[vector]')")
    from terminal.backtest.engines.vectorbt_engine import run_vectorized

    strategy = load_strategy(template_source("sma_cross"), "sma_cross")
    notes = run_vectorized(strategy, {"GOOG": goog}, {}, 100_000, 0.0, 0.0, Sizing(percent=0.95)).notes
    assert notes and notes[0].startswith("1 order(s) were cut to the cash at the open")
    assert run_vectorized(strategy, {"GOOG": goog}, {}, 100_000, 0.0, 0.0, Sizing(percent=0.5)).notes == []
