"""The Strategy API on backtrader: one bt.Strategy wrapper, feeds from DataFrames, fills recorded FIFO.

Our configuration (``fast=True``): no standard observers (``stdstats=False``), data
preloaded, indicators computed once in numpy by the strategy rather than as
backtrader line objects, equity read once per bar. Stock defaults (``fast=False``)
keep backtrader's observers. Market orders fill at the next bar's open (backtrader's
default, cheat-on-close off).
"""

from __future__ import annotations

from collections.abc import Callable

import backtrader as bt
import numpy as np
import pandas as pd

from terminal.backtest.api import Sizing, Strategy
from terminal.backtest.engines.common import EngineOutput, FifoTrades, data_from_frame


def run_backtrader(strategy_cls: type[Strategy], frames: dict[str, pd.DataFrame], params: dict, cash: float,
                   commission: float = 0.0, slippage: float = 0.0, sizing: Sizing | None = None, fast: bool = True,
                   progress: Callable[[float], None] | None = None) -> EngineOutput:
    sizing = sizing or Sizing(percent=0.95)
    symbols = list(frames)
    datas = {s: data_from_frame(s, frames[s]) for s in symbols}
    length = len(next(iter(frames.values())))
    equity = np.full(length, np.nan)
    in_market = np.zeros(length, dtype=bool)
    trades = FifoTrades({s: d.time for s, d in datas.items()})

    class Wrapper(bt.Strategy):
        def __init__(self) -> None:
            self.feeds = {s: self.datas[k] for k, s in enumerate(symbols)}
            self.user = strategy_cls(datas, params, _Broker(self), sizing)
            self.user.init()
            self._step = max(1, length // 100)

        def next(self) -> None:
            i = len(self) - 1
            self.user.i = i
            self.user.next()
            equity[i] = self.broker.getvalue()
            in_market[i] = any(self.getposition(f).size != 0 for f in self.feeds.values())
            if progress is not None and i % self._step == 0:
                progress(i / length)

        def notify_order(self, order: bt.Order) -> None:
            if order.status == order.Completed:
                symbol = symbols[self.datas.index(order.data)]
                bar = len(order.data) - 1
                trades.fill(symbol, bar, order.executed.size, order.executed.price, order.executed.comm)

    cerebro = bt.Cerebro(stdstats=not fast, preload=True, runonce=True)
    for symbol in symbols:
        frame = frames[symbol]
        feed_frame = frame.copy()
        feed_frame.index = feed_frame.index.tz_convert("UTC").tz_localize(None)
        cerebro.adddata(bt.feeds.PandasData(dataname=feed_frame, openinterest=None), name=symbol)
    cerebro.addstrategy(Wrapper)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    if slippage:
        cerebro.broker.set_slippage_perc(slippage)
    cerebro.run()
    last_bar = {s: len(d) - 1 for s, d in datas.items()}
    trades.close_all(last_bar, {s: float(d.close[-1]) for s, d in datas.items()})
    index = next(iter(frames.values())).index
    curve = pd.Series(equity, index=index).ffill().fillna(cash)
    return EngineOutput(curve, trades.closed, float(in_market.mean()))


class _Broker:
    def __init__(self, strategy: bt.Strategy) -> None:
        self.s = strategy

    def buy(self, size: float, symbol: str) -> None:
        if size > 0:
            self.s.buy(data=self.s.feeds[symbol], size=size)

    def sell(self, size: float, symbol: str) -> None:
        if size > 0:
            self.s.sell(data=self.s.feeds[symbol], size=size)

    def position(self, symbol: str) -> float:
        # include orders placed this bar so close() followed by buy() sizes correctly
        held = self.s.getposition(self.s.feeds[symbol]).size
        pending = sum(o.size if o.isbuy() else -abs(o.size) for o in self.s.broker.get_orders_open()
                      if o.data is self.s.feeds[symbol])
        return float(held + pending)

    def equity(self) -> float:
        return float(self.s.broker.getvalue())
