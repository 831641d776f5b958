"""The Strategy API on backtesting.py (single instrument): a backtesting.Strategy wrapper.

Settings that make it comparable with backtrader (both fill market orders at the
next bar's open): ``trade_on_close=False``, ``exclusive_orders=False``, integer sizes,
the same commission rate, no slippage (backtesting.py has none; a spread would be
commission). An order the cash cannot pay at the next open is dropped by both (backtesting.py
skips it; backtrader refuses it with status Margin — measured, it does not lend). Sizes below 1
mean a fraction of equity in backtesting.py, so our adapter always passes whole units.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import backtesting
import numpy as np
import pandas as pd

from terminal.backtest.api import Sizing, Strategy
from terminal.backtest.engines.common import EngineOutput, data_from_frame


def run_backtesting(strategy_cls: type[Strategy], frames: dict[str, pd.DataFrame], params: dict, cash: float,
                    commission: float = 0.0, slippage: float = 0.0, sizing: Sizing | None = None,
                    progress: Callable[[float], None] | None = None) -> EngineOutput:
    if len(frames) != 1:
        raise ValueError("backtesting.py runs one instrument; run pairs and baskets on backtrader")
    sizing = sizing or Sizing(percent=0.95)
    [(symbol, frame)] = frames.items()
    datas = {symbol: data_from_frame(symbol, frame)}
    length = len(frame)
    still_open: list[tuple[float, int, float]] = []
    exits: dict[tuple[int, float], tuple[float | None, float | None]] = {}  # (entry bar, size) -> (stop, target)

    class Wrapper(backtesting.Strategy):
        def init(self) -> None:
            self.user = strategy_cls(datas, params, _Broker(self, symbol), sizing)
            self.user.init()
            self._step = max(1, length // 100)

        def next(self) -> None:
            i = len(self.data) - 1
            self.user.i = i
            self.user.next()
            for t in self.trades:  # the exits each trade was opened with (a later order may drop them)
                exits.setdefault((t.entry_bar, float(t.size)), (t.sl, t.tp))
            if i == length - 1:  # remember what is still open: marked to the last close like backtrader
                still_open.extend((t.size, t.entry_bar, t.entry_price) for t in self.trades)
            if progress is not None and i % self._step == 0:
                progress(i / length)

    bars = frame.rename(columns=str.capitalize)
    bars.index = bars.index.tz_convert("UTC").tz_localize(None)
    test = backtesting.Backtest(bars, Wrapper, cash=cash, commission=commission + slippage, trade_on_close=False,
                                exclusive_orders=False, finalize_trades=False)
    with warnings.catch_warnings():  # open trades at the end are reported by us, marked to the last close
        warnings.filterwarnings("ignore", message="Some trades remain open")
        stats = test.run()
    equity = pd.Series(stats["_equity_curve"]["Equity"].to_numpy(), index=frame.index)
    times = datas[symbol].time
    trades = []
    for row in stats["_trades"].itertuples():
        trade = {
            "symbol": symbol, "size": float(row.Size), "entry_bar": int(row.EntryBar), "exit_bar": int(row.ExitBar),
            "entry_time": pd.Timestamp(times[int(row.EntryBar)], tz="UTC").isoformat(),
            "exit_time": pd.Timestamp(times[int(row.ExitBar)], tz="UTC").isoformat(),
            "entry_price": float(row.EntryPrice), "exit_price": float(row.ExitPrice), "pnl": float(row.PnL),
        }
        trades.append(_with_exits(trade, exits.get((int(row.EntryBar), float(row.Size)))))
    last_close = float(frame["close"].iloc[-1])
    for size, entry_bar, entry_price in still_open:
        trade = {
            "symbol": symbol, "size": float(size), "entry_bar": int(entry_bar), "exit_bar": length - 1,
            "entry_time": pd.Timestamp(times[int(entry_bar)], tz="UTC").isoformat(),
            "exit_time": pd.Timestamp(times[-1], tz="UTC").isoformat(), "entry_price": float(entry_price),
            "exit_price": last_close, "pnl": float(size) * (last_close - float(entry_price)), "open": True,
        }
        trades.append(_with_exits(trade, exits.get((int(entry_bar), float(size))), still_open=True))
    exposure = float(stats["Exposure Time [%]"]) / 100.0 if np.isfinite(stats["Exposure Time [%]"]) else 0.0
    return EngineOutput(equity, trades, exposure)


def _with_exits(trade: dict, exits: tuple[float | None, float | None] | None, still_open: bool = False) -> dict:
    """The trade with the exits it was opened with and how it ended: at its stop or target (the exit price at or
    beyond it, which is how backtesting.py fills them, gaps included), by an order, or still open."""
    if exits is None or exits == (None, None):
        return trade
    stop, target = exits
    long, price = trade["size"] > 0, trade["exit_price"]
    if still_open:
        reason = "open"
    elif stop is not None and (price <= stop if long else price >= stop):
        reason = "stop"
    elif target is not None and (price >= target if long else price <= target):
        reason = "target"
    else:
        reason = "order"
    return {**trade, "stop": stop, "target": target, "exit_reason": reason}


class _Broker:
    def __init__(self, strategy: backtesting.Strategy, symbol: str) -> None:
        self.s = strategy
        self.symbol = symbol

    def buy(self, size: float, symbol: str, stop: float | None = None, target: float | None = None) -> None:
        if int(size) >= 1:
            self._drop_exits()
            self.s.buy(size=int(size), sl=stop, tp=target)

    def sell(self, size: float, symbol: str, stop: float | None = None, target: float | None = None) -> None:
        if int(size) >= 1:
            self._drop_exits()
            self.s.sell(size=int(size), sl=stop, tp=target)

    def _drop_exits(self) -> None:
        """A new order cancels the exits still working (as on backtrader): the open trades lose their SL/TP."""
        for trade in self.s.trades:
            if trade.sl is not None or trade.tp is not None:
                trade.sl = None
                trade.tp = None

    def position(self, symbol: str) -> float:
        pending = sum(o.size for o in self.s.orders if not o.is_contingent)  # a trade's SL/TP is no new position
        return float(self.s.position.size + pending)

    def equity(self) -> float:
        return float(self.s.equity)
