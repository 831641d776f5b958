"""Stop and target exits in the Strategy API on both event engines, and the trades whose result depends on the
path inside a bar: flagged, and settled on finer stored bars where there are any."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from terminal.backtest.api import Sizing, Strategy
from terminal.backtest.engine_choice import choose_engine
from terminal.backtest.engines.backtesting_engine import run_backtesting
from terminal.backtest.engines.backtrader_engine import run_backtrader
from terminal.backtest.loader import read_declaration
from terminal.backtest.paths import flag_trades, summary
from terminal.domain import BarSize, Instrument, Provenance

EXITS = '''
from terminal.backtest.api import Strategy


class Bracketed(Strategy):
    """Long with a stop 5 below and a target 5 above; a second entry closed by hand before its exits."""

    params = {}

    def next(self):
        if self.i == 1 and self.position == 0:
            self.buy(10, stop=95, target=105)
        if self.i == 6 and self.position == 0:
            self.buy(10, stop=95, target=105)
        if self.i == 8:
            self.close()
'''


def _strategy():
    namespace: dict = {}
    exec(compile(EXITS, "<bracketed>", "exec"), namespace)  # noqa: S102 - a test's own strategy
    return namespace["Bracketed"]


def _days(ambiguous_bar: int = 4) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=12, freq="D", tz="UTC")
    high, low = [101.0] * 12, [99.0] * 12
    high[ambiguous_bar], low[ambiguous_bar] = 106.0, 94.0  # the stop and the target both inside this day
    return pd.DataFrame({"open": 100.0, "high": high, "low": low, "close": 100.0, "volume": 1000.0}, index=index)


@pytest.mark.parametrize("engine", [run_backtrader, run_backtesting])
def test_exits_fill_at_their_prices_and_a_new_order_cancels_them(engine):
    out = engine(_strategy(), {"X": _days()}, {}, 100_000.0, sizing=Sizing(units=10))
    first, second = out.trades
    assert (first["entry_bar"], first["exit_bar"], first["exit_price"], first["exit_reason"]) == (2, 4, 95.0, "stop")
    assert (first["stop"], first["target"]) == (95.0, 105.0)
    assert first["pnl"] == pytest.approx(-50.0)
    # close() at bar 8 sends a market order: the exits go with it, and the trade ends at bar 9's open by order
    assert (second["entry_bar"], second["exit_bar"], second["exit_reason"]) == (7, 9, "order")
    assert len(out.trades) == 2  # no exit left behind to open a position later


def test_both_engines_take_the_same_exits():
    a = run_backtrader(_strategy(), {"X": _days()}, {}, 100_000.0, sizing=Sizing(units=10)).trades
    b = run_backtesting(_strategy(), {"X": _days()}, {}, 100_000.0, sizing=Sizing(units=10)).trades
    keys = ("entry_bar", "exit_bar", "entry_price", "exit_price", "exit_reason", "stop", "target")
    assert [[t[k] for k in keys] for t in a] == [[t[k] for k in keys] for t in b]


def test_exits_the_wrong_way_round_are_the_strategys_error():
    class Wrong(Strategy):
        def next(self):
            if self.i == 1:
                self.buy(10, stop=105, target=95)

    with pytest.raises(ValueError, match="stop 105 and target 95 are the wrong way round"):
        run_backtrader(Wrong, {"X": _days()}, {}, 100_000.0, sizing=Sizing(units=10))


def test_a_strategy_with_exits_never_runs_on_the_vectorized_engine():
    source = EXITS + "\n    def signals(self):\n        return self.data.close * 0\n"
    declaration = read_declaration(source, "bracketed")
    assert declaration.exits and declaration.vectorized
    with pytest.raises(ValueError, match="attaches stop or target exits"):
        choose_engine("vectorized", declaration, 1, 10_000)
    assert choose_engine("auto", declaration, 1, 10**9).engine == "backtrader"
    assert not read_declaration(EXITS.replace("stop=95, target=105", ""), "plain").exits


def _minutes(day: pd.Timestamp, first: str) -> pd.DataFrame:
    """Minute bars of one day reaching the stop (94.9) or the target (105.1) first, the other later."""
    index = pd.date_range(day + pd.Timedelta(hours=14, minutes=30), periods=6, freq="min")
    high, low = [100.5] * 6, [99.5] * 6
    if first == "target":
        high[1], low[4] = 105.1, 94.9
    elif first == "stop":
        low[1], high[4] = 94.9, 105.1
    else:  # one minute reaches both: only a finer size can tell
        high[2], low[2] = 105.1, 94.9
    return pd.DataFrame({"open": 100.0, "high": high, "low": low, "close": 100.0, "volume": 10.0}, index=index)


def test_a_trade_with_both_levels_in_its_exit_bar_is_flagged_and_settled_on_finer_bars():
    days = _days()
    trades = run_backtrader(_strategy(), {"X": days}, {}, 100_000.0, sizing=Sizing(units=10)).trades
    day = days.index[4]
    flagged = flag_trades(trades, days, lambda start, end: [("1m", _minutes(day, "target"))])
    path = flagged[0]["path"]
    assert (path["assumed"], path["settled"], path["on"]) == ("stop", "target", "1m")
    assert path["settled_pnl"] == pytest.approx(10 * (105 - 100))
    assert "path" not in flagged[1]  # closed by an order: nothing to settle
    assert "1 the other way" in summary(flagged)
    same = flag_trades(trades, days, lambda s, e: [("1m", _minutes(day, "stop"))])[0]["path"]
    assert (same["settled"], same["on"]) == ("stop", "1m")
    unsettled = flag_trades(trades, days, lambda s, e: [("1m", _minutes(day, "both"))])[0]["path"]
    assert unsettled["settled"] is None and unsettled["on"] == "1m"
    finer = flag_trades(trades, days, lambda s, e: [("1m", _minutes(day, "both")), ("5s", _minutes(day, "target"))])
    assert (finer[0]["path"]["settled"], finer[0]["path"]["on"]) == ("target", "5s")
    none = flag_trades(trades, days)[0]["path"]
    assert none["settled"] is None and "not settled" in summary([{**trades[0], "path": none}])


def test_the_backtest_service_settles_on_the_finer_bars_in_the_store(tmp_path):
    from terminal.services.backtests import BacktestService
    from terminal.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 's.sqlite'}")
    x = Instrument("XYZ", contract_id=77)
    days = _days()
    store.bars.write_frame(x, BarSize.DAY_1, days, Provenance.CSV)
    store.bars.write_frame(x, BarSize.MIN_1, _minutes(days.index[4], "target"), Provenance.CSV)
    service = BacktestService(store)
    request = service.request(EXITS, "bracketed", {"XYZ": days}, {}, units=10)
    result = asyncio.run(service.run(request))
    assert result.ok, result.error
    path = result.trades[0]["path"]
    assert (path["settled"], path["on"]) == ("target", "1m")
    assert "stop and target inside one bar" in result.notes and "1 the other way" in result.notes
    store.close()


def test_a_backtest_trade_opened_with_a_stop_has_its_r_multiple_in_the_journal():
    from terminal.domain.journal import backtest_round_trips

    trades = run_backtrader(_strategy(), {"X": _days()}, {}, 100_000.0, sizing=Sizing(units=10)).trades
    first, second = backtest_round_trips(1, "bracketed", trades)
    assert first.stop_price == 95.0 and first.r_multiple == pytest.approx(-1.0)  # stopped out: one R lost
    assert second.r_multiple == pytest.approx(0.0)
