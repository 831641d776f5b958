"""Which engine runs: named, or ``auto`` from what the source declares; the vectorized engine in the pool."""

from __future__ import annotations

import pandas as pd
import pytest

from terminal.backtest.api import Sizing
from terminal.backtest.engine_choice import AUTO_MIN_BAR_RUNS, choose_engine, vectorbt_installed
from terminal.backtest.loader import read_declaration, template_source
from terminal.backtest.optimize import optimize
from terminal.backtest.runner import BacktestRequest
from terminal.data import read_bars_csv

SLOW_SIGNALS = """
import numpy as np
from terminal.backtest.api import Strategy


class Slow(Strategy):
    params = {'n': 1}

    def signals(self):
        while self.p.n == 3:
            pass
        return np.where(np.arange(len(self.data)) % (10 * self.p.n) < 5 * self.p.n, 1.0, 0.0)
"""


@pytest.fixture(scope="module")
def goog(real_csv_dir):
    return read_bars_csv(real_csv_dir / "GOOG.csv")


def test_the_hook_is_found_in_the_source_without_running_it():
    assert read_declaration(template_source("sma_cross")).vectorized
    assert not read_declaration(template_source("pairs")).vectorized
    sub = "from terminal.backtest.api import Strategy\nclass A(Strategy):\n    def signals(self):\n        return 0\n" \
          "class B(A):\n    params = {'n': 1}\n"
    assert read_declaration(sub).vectorized  # inherited from a base class in the same source


def test_auto_picks_vectorized_only_when_it_can_run_and_pays_off():
    sma, pairs = read_declaration(template_source("sma_cross")), read_declaration(template_source("pairs"))
    big = AUTO_MIN_BAR_RUNS
    assert choose_engine("auto", pairs, 2, big, 10).engine == "backtrader"
    assert "no signals()" in choose_engine("auto", pairs, 1, big, 10).reason
    small = choose_engine("auto", sma, 1, 3000, 10)
    assert small.engine == "backtrader" and "30,000 bar-runs" in small.reason
    if vectorbt_installed():
        assert choose_engine("auto", sma, 1, big, 1).engine == "vectorized"
    assert choose_engine("backtesting", sma, 1, 10).engine == "backtesting"


@pytest.mark.parametrize("engine,declaration,symbols,words", [
    ("vectorized", "pairs", 2, "defines no signals()"),
    ("vectorized", "sma_cross", 2, "one instrument"),
    ("backtesting", "pairs", 2, "one instrument"),
    ("numpy", "sma_cross", 1, "not known"),
])
def test_a_named_engine_that_cannot_run_the_strategy_is_refused(engine, declaration, symbols, words):
    with pytest.raises(ValueError, match=words):
        choose_engine(engine, read_declaration(template_source(declaration)), symbols, 100)


def test_a_vectorized_grid_in_the_pool_gives_the_rows_of_backtrader(goog):
    pytest.importorskip("vectorbt", reason="the vectorized engine needs vectorbt (pip install -e '.[vector]')")
    space = {"fast": [5, 10, 20], "slow": [30, 60]}
    tables = {}
    for engine in ("vectorized", "backtrader"):
        stages: list[str] = []
        request = BacktestRequest(template_source("sma_cross"), {"GOOG": goog}, "sma_cross", {"size": 10},
                                  engine=engine, commission=0.001, sizing=Sizing(percent=0.5))
        tables[engine] = optimize(request, space, workers=2, on_stage=stages.append).set_index(["fast", "slow"])
        assert stages and ("vectorbt" in stages[0]) == (engine == "vectorized")
    vector, event = (tables[e].sort_index() for e in ("vectorized", "backtrader"))
    assert (vector["error"] == "").all() and "size" not in vector  # the fixed parameter is not a column
    for name in ("total_return", "sharpe", "max_drawdown", "trades", "exposure", "profit_factor"):
        pd.testing.assert_series_equal(vector[name], event[name], rtol=1e-9, check_dtype=False)


def test_a_vectorized_grid_point_that_loops_is_stopped_and_the_others_finish(goog):
    pytest.importorskip("vectorbt", reason="the vectorized engine needs vectorbt (pip install -e '.[vector]')")
    request = BacktestRequest(SLOW_SIGNALS, {"GOOG": goog}, "slow", engine="vectorized", time_limit=2)
    table = optimize(request, {"n": [1, 2, 3, 4]}, workers=2).set_index("n").sort_index()
    assert "time limit of 2 s" in table.loc[3, "error"]
    assert (table.drop(index=3)["error"] == "").all() and (table.drop(index=3)["trades"] > 10).all()
