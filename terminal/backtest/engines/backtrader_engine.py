"""The Strategy API on backtrader: one bt.Strategy wrapper, feeds from DataFrames, fills recorded FIFO.

Our configuration (``fast=True``), each step measured by ``tests/bench/backtest_bench.py``:

- bars fed from plain Python lists (backtrader's PandasData reads every field of every
  bar through ``DataFrame.iloc``, 40 % of a run), preloaded, and no per-bar copy of the
  bar into ``tick_*`` attributes (the broker falls back to the bar itself, which is what
  the copy held for a feed that is neither resampled nor replayed);
- no standard observers (``stdstats=False``), indicators computed once in numpy by the
  strategy rather than as backtrader line objects, order events delivered as they happen
  (``quicknotify``), and the wrapper strategy's per-bar step cut to what it uses (it
  owns no backtrader indicators, observers or analyzers);
- a broker that skips the per-bar work our runs never need (credit interest, futures
  cash adjustment: we never configure either) and values the account when asked
  rather than every bar; the equity curve is rebuilt from the fills in numpy afterwards
  and checked against the broker's final value.

Stock defaults (``fast=False``) keep backtrader's feed, broker and observers. Market
orders fill at the next bar's open (backtrader's default, cheat-on-close off).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import backtrader as bt
import numpy as np
import pandas as pd

from terminal.backtest.api import Sizing, Strategy
from terminal.backtest.engines.common import EngineOutput, FifoTrades, data_from_frame


def run_backtrader(strategy_cls: type[Strategy], frames: dict[str, pd.DataFrame], params: dict, cash: float,
                   commission: float = 0.0, slippage: float = 0.0, sizing: Sizing | None = None, fast: bool = True,
                   progress: Callable[[float], None] | None = None, trace: bool = False,
                   on_trace: Callable[[dict], None] | None = None) -> EngineOutput:
    """``trace``: also return what a step-through plays (see ``step_trace``): the orders the strategy sent at
    each bar, every fill, and the indicator arrays its ``init`` computed. ``on_trace`` gets it as the run goes:
    the indicators once ``init`` has run, then chunks ``{"upto": bar, "orders": [...], "fills": [...]}`` (what is
    new up to that bar's close) at most every 50 ms, and a last chunk at the end."""
    sizing = sizing or Sizing(percent=0.95)
    symbols = list(frames)
    datas = {s: data_from_frame(s, frames[s]) for s in symbols}
    length = len(next(iter(frames.values())))
    trades = FifoTrades({s: d.time for s, d in datas.items()})
    fills: list[tuple[str, int, float, float, float]] = []  # symbol, bar, signed size, price, commission
    sent: list[tuple[int, str, float]] | None = [] if trace else None  # bar, symbol, signed size

    class Wrapper(bt.Strategy):
        def __init__(self) -> None:
            self.feeds = {s: self.datas[k] for k, s in enumerate(symbols)}
            self.user = strategy_cls(datas, params, _Broker(self, sent), sizing)
            self.user.init()
            self._step = max(1, length // 100)
            self._bar = -1
            self._streamed = (0, 0, time.monotonic())  # orders and fills handed on, and when
            if on_trace is not None:
                on_trace({"indicators": _indicators(self.user, length)})

        def stream(self, last: bool) -> None:
            """Hand ``on_trace`` what is new up to this bar, at most every 50 ms (and at the last bar)."""
            orders, fills_sent, when = self._streamed
            now = time.monotonic()
            if sent is None or on_trace is None or not (last or now - when >= 0.05):
                return
            on_trace({"upto": self._bar, "orders": [list(o) for o in sent[orders:]],
                      "fills": [list(f) for f in fills[fills_sent:]]})
            self._streamed = (len(sent), len(fills), now)

        if fast:
            def _oncepost(self, dt: float) -> None:
                # bt.Strategy._oncepost minus what the wrapper does not have: indicators to advance,
                # analyzers and observers to step, and cash/value notifications (orders come via quicknotify).
                # The datas are aligned, so past the first bar the minimum period is always met.
                if self._oldsync:
                    self.advance()
                else:
                    self.forward()
                self.lines.datetime[0] = dt
                self.next()
                self.clear()

        def next(self) -> None:
            self._bar += 1  # a counter: len(self) walks backtrader's line machinery every bar
            i = self._bar
            self.user.i = i
            self.user.next()
            if on_trace is not None:  # a streaming step-through only: a plain run pays nothing per bar
                self.stream(last=i == length - 1)
            if progress is not None and i % self._step == 0:
                progress(i / length)

        def notify_order(self, order: bt.Order) -> None:
            if order.status == order.Completed:
                symbol = symbols[self.datas.index(order.data)]
                bar = len(order.data) - 1
                kind, stop, target = self.user._broker.kinds.get(order.ref, ("entry", None, None))
                trades.fill(symbol, bar, order.executed.size, order.executed.price, order.executed.comm,
                            reason=kind if kind != "entry" else "", stop=stop, target=target)
                fills.append((symbol, bar, order.executed.size, order.executed.price, order.executed.comm))

    cerebro = bt.Cerebro(stdstats=not fast, preload=True, runonce=True, quicknotify=fast)
    if fast:
        cerebro.broker = LeanBroker()
    for symbol in symbols:
        frame = frames[symbol]
        if fast:
            cerebro.adddata(ArrayFeed(bars=frame), name=symbol)
        else:
            feed_frame = frame.copy()
            feed_frame.index = feed_frame.index.tz_convert("UTC").tz_localize(None)
            cerebro.adddata(bt.feeds.PandasData(dataname=feed_frame, openinterest=None), name=symbol)
    cerebro.addstrategy(Wrapper)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    if slippage:
        cerebro.broker.set_slippage_perc(slippage)
    [strategy] = cerebro.run()
    final_value = strategy.broker.getvalue()
    last_bar = {s: len(d) - 1 for s, d in datas.items()}
    trades.close_all(last_bar, {s: float(d.close[-1]) for s, d in datas.items()})
    curve, exposure = _equity_from_fills(datas, fills, cash, length)
    index = next(iter(frames.values())).index
    if not slippage and abs(curve[-1] - final_value) > 1e-6 * max(1.0, abs(final_value)):
        raise RuntimeError(f"equity rebuilt from fills ({curve[-1]:.2f}) differs from the broker's {final_value:.2f}")
    recorded = None
    if sent is not None:
        recorded = {"orders": [list(o) for o in sent], "fills": [list(f) for f in fills],
                    "indicators": _indicators(strategy.user, length)}
    return EngineOutput(pd.Series(curve, index=index), trades.closed, exposure, trace=recorded)


def _indicators(user: Strategy, length: int) -> dict[str, list]:
    """The strategy's per-bar float arrays (what its ``init`` computed), NaN as None."""
    out = {}
    for name, value in vars(user).items():
        if name.startswith("_") or not isinstance(value, np.ndarray) or value.shape != (length,):
            continue
        if value.dtype.kind == "f":
            out[name] = [None if not np.isfinite(v) else float(v) for v in value]
    return out


def _equity_from_fills(datas: dict, fills: list, cash: float, length: int) -> tuple[np.ndarray, float]:
    """Cash + marked positions per bar, rebuilt after the run in numpy (reading the broker's value every bar
    costs more than the strategy itself). Fills at bar i happen at its open, so they count in bar i's value."""
    cash_flow = np.zeros(length)
    value = np.zeros(length)
    held_any = np.zeros(length, dtype=bool)
    for symbol, data in datas.items():
        change = np.zeros(length)
        for fill_symbol, bar, size, price, commission in fills:
            if fill_symbol == symbol:
                change[bar] += size
                cash_flow[bar] -= size * price + commission
        position = np.cumsum(change)
        value += position * data.close
        held_any |= position != 0
    return cash + np.cumsum(cash_flow) + value, float(held_any.mean())


_EPOCH_DATENUM = 719163.0  # backtrader's date2num(1970-01-01)


class ArrayFeed(bt.feed.DataBase):
    """Bars from Python lists: one list lookup per field instead of a DataFrame.iloc per field."""

    params = (("bars", None),)

    def start(self) -> None:
        super().start()
        frame: pd.DataFrame = self.p.bars
        days = frame.index.as_unit("ns").asi8 / 86_400e9 + _EPOCH_DATENUM
        self._rows = list(zip(days.tolist(), *(frame[c].to_numpy(dtype=float).tolist()
                                               for c in ("open", "high", "low", "close", "volume")), strict=True))
        self._next_row = 0

    def _tick_nullify(self) -> None:
        """Nothing to clear: ``_tick_fill`` never sets the ``tick_*`` fields (see the module docstring)."""

    def _tick_fill(self, force: bool = False) -> None:
        """The base class copies the whole bar into ``tick_*`` every bar; the broker reads the bar when they are
        unset, and for whole bars that is the same price."""

    def _load(self) -> bool:
        if self._next_row >= len(self._rows):
            return False
        when, o, h, lo, c, v = self._rows[self._next_row]
        self._next_row += 1
        lines = self.lines
        lines.datetime[0], lines.open[0], lines.high[0], lines.low[0] = when, o, h, lo
        lines.close[0], lines.volume[0], lines.openinterest[0] = c, v, 0.0
        return True


class LeanBroker(bt.brokers.BackBroker):
    """BackBroker's per-bar step without credit interest and futures cash adjustment (our runs configure
    neither: ``start`` refuses a commission scheme that uses them) and with the account valued on demand."""

    def start(self) -> None:
        super().start()
        for info in self.comminfo.values():
            if info.p.interest or not info.stocklike:
                raise ValueError("LeanBroker models stock-like instruments without credit interest")
        self._value_stale = True

    def next(self) -> None:
        while self._toactivate:
            self._toactivate.popleft().activate()
        if self.p.checksubmit:
            self.check_submitted()
        self._process_order_history()
        pending = self.pending
        if pending:
            pending.append(None)
            while True:
                order = pending.popleft()
                if order is None:
                    break
                if order.expire():
                    self.notify(order)
                    self._ococheck(order)
                    self._bracketize(order, cancel=True)
                elif not order.active():
                    pending.append(order)
                else:
                    self._try_exec(order)
                    if order.alive():
                        pending.append(order)
                    elif order.status == bt.Order.Completed:
                        self._bracketize(order)
        self._value_stale = True

    def get_value(self, datas=None, mkt: bool = False, lever: bool = False) -> float:  # type: ignore[no-untyped-def]
        if datas is None and self._value_stale:
            self._get_value()
            self._value_stale = False
        return super().get_value(datas, mkt, lever)

    getvalue = get_value


class _Broker:
    def __init__(self, strategy: bt.Strategy, sent: list | None = None) -> None:
        self.s = strategy
        self.sent = sent
        self.exits: dict[str, list[bt.Order]] = {}  # per symbol: the stop and limit exits still working
        self.kinds: dict[int, tuple[str, float | None, float | None]] = {}  # order ref -> kind, stop, target

    def buy(self, size: float, symbol: str, stop: float | None = None, target: float | None = None) -> None:
        self._order(size, symbol, stop, target, self.s.buy_bracket, self.s.buy, 1.0)

    def sell(self, size: float, symbol: str, stop: float | None = None, target: float | None = None) -> None:
        self._order(size, symbol, stop, target, self.s.sell_bracket, self.s.sell, -1.0)

    def _order(self, size: float, symbol: str, stop: float | None, target: float | None, bracket, plain,
               sign: float) -> None:  # type: ignore[no-untyped-def]
        if size <= 0:
            return
        stop, target = (None if p is None else float(p) for p in (stop, target))
        data = self.s.feeds[symbol]
        for working in self.exits.pop(symbol, []):  # a new order: the old position's exits go
            if working.alive():
                self.s.cancel(working)
        if stop is None and target is None:
            main = plain(data=data, size=size)
            self.kinds[main.ref] = ("entry", None, None)
        else:  # market entry; its exits are activated once it fills (backtrader's bracket)
            main, low, high = bracket(data=data, size=size, exectype=bt.Order.Market,
                                      stopprice=stop, stopexec=bt.Order.Stop if stop is not None else None,
                                      limitprice=target, limitexec=bt.Order.Limit if target is not None else None)
            self.kinds[main.ref] = ("entry", stop, target)
            exits = [o for o in (low, high) if o is not None]
            for order in exits:
                self.kinds[order.ref] = ("stop" if order.exectype == bt.Order.Stop else "target", stop, target)
            self.exits[symbol] = exits
        if self.sent is not None:
            self.sent.append((self.s._bar, symbol, sign * float(size)))

    def position(self, symbol: str) -> float:
        # include orders placed this bar so close() followed by buy() sizes correctly
        held = self.s.getposition(self.s.feeds[symbol]).size
        pending = sum(o.size if o.isbuy() else -abs(o.size) for o in self.s.broker.get_orders_open()
                      if o.data is self.s.feeds[symbol] and self.kinds.get(o.ref, ("entry",))[0] == "entry")
        return float(held + pending)

    def equity(self) -> float:
        return float(self.s.broker.getvalue())
