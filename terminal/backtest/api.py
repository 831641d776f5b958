"""The strategy API users write against; the same class runs on backtrader and on backtesting.py.

A strategy declares ``params`` (name -> default; the default's type is the parameter's
type) and, for numeric ones, ``limits`` (name -> (lowest, highest)); both are literals that
the terminal reads from the source without running it, and every value given for a run is
checked against them before the run starts. It computes indicators vectorized in ``init``
from whole-history arrays, and decides per bar in ``next``. Bar ``self.i`` is the current bar; reading arrays past
``self.i`` would be look-ahead, so indicators must only use data up to each bar (the
helpers below do). Orders placed in ``next`` fill at the next bar's open on every
engine.

A strategy that can state its decisions as arrays also defines ``signals``: after ``init``,
the position it wants after each bar's close (+1 long, -1 short, 0 flat, NaN = no new
decision), and optionally ``units`` (fixed units per position; 0 = the run's sizing rule).
Such a strategy also runs on the vectorized engine (vectorbt), a whole grid in one call;
its ``next`` must take the same decisions, and a test holds every template to that.

    class SmaCross(Strategy):
        params = {"fast": 10, "slow": 30}
        limits = {"fast": (1, 1000), "slow": (2, 5000)}

        def init(self):
            self.fast = sma(self.data.close, self.p.fast)
            self.slow = sma(self.data.close, self.p.slow)

        def next(self):
            if crossed_above(self.fast, self.slow, self.i) and self.position <= 0:
                self.close(); self.buy(self.size_for(self.data.close[self.i]))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np


class Broker(Protocol):
    """What an engine adapter gives a strategy. ``stop`` and ``target`` are exit prices attached to the order
    (a stop and a limit, one cancelling the other once the entry has filled); any new order first cancels the
    exits still working in that symbol."""

    def buy(self, size: float, symbol: str, stop: float | None = None, target: float | None = None) -> None: ...
    def sell(self, size: float, symbol: str, stop: float | None = None, target: float | None = None) -> None: ...
    def position(self, symbol: str) -> float: ...
    def equity(self) -> float: ...


@dataclass(frozen=True)
class Data:
    """Whole-history arrays of one symbol (numpy, oldest first) and its bar times (int64 ns)."""

    symbol: str
    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.close)


@dataclass(frozen=True)
class Sizing:
    """Fixed units, or a fraction of equity per position (``percent`` 0 < p <= 1)."""

    units: float = 0.0
    percent: float = 0.0

    def size(self, equity: float, price: float, multiplier: float = 1.0) -> float:
        if self.units > 0:
            return float(self.units)
        fraction = self.percent if self.percent > 0 else 0.95
        return float(max(0, math.floor(equity * fraction / (price * multiplier))))


class Strategy:
    """Base class of user strategies (see the module docstring)."""

    params: dict[str, Any] = {}

    def __init__(self, datas: dict[str, Data], params: dict[str, Any], broker: Broker, sizing: Sizing) -> None:
        merged = dict(self.params)
        merged.update(params)
        self.p = SimpleNamespace(**merged)
        self.datas = datas
        self.data = next(iter(datas.values()))
        self.i = 0
        self._broker = broker
        self._sizing = sizing

    # --- what user code calls ---------------------------------------------------------------
    def init(self) -> None:
        """Compute indicators from whole-history arrays (vectorized)."""

    def next(self) -> None:
        """Called once per bar; ``self.i`` is the current bar."""

    def buy(self, size: float | None = None, symbol: str | None = None, stop: float | None = None,
            target: float | None = None) -> None:
        """A market order, filled at the next bar's open. ``stop`` (below) and ``target`` (above) attach exits
        to it: a stop order and a limit order at those prices, one cancelling the other. A new order cancels
        the exits still working in the symbol (give them again with it)."""
        symbol = symbol or self.data.symbol
        _check_exits("buy", stop, target, self.datas[symbol].close[self.i], below=stop, above=target)
        self._broker.buy(size if size is not None else self.size_for(self.datas[symbol].close[self.i]), symbol, stop,
                         target)

    def sell(self, size: float | None = None, symbol: str | None = None, stop: float | None = None,
             target: float | None = None) -> None:
        """As ``buy``; a short's ``stop`` is above and its ``target`` below."""
        symbol = symbol or self.data.symbol
        _check_exits("sell", stop, target, self.datas[symbol].close[self.i], below=target, above=stop)
        self._broker.sell(size if size is not None else self.size_for(self.datas[symbol].close[self.i]), symbol, stop,
                          target)

    def close(self, symbol: str | None = None) -> None:
        """Flatten the position in ``symbol`` (default: the first data)."""
        symbol = symbol or self.data.symbol
        held = self._broker.position(symbol)
        if held > 0:
            self._broker.sell(held, symbol)
        elif held < 0:
            self._broker.buy(-held, symbol)

    @property
    def position(self) -> float:
        return self._broker.position(self.data.symbol)

    def position_of(self, symbol: str) -> float:
        return self._broker.position(symbol)

    @property
    def equity(self) -> float:
        return self._broker.equity()

    def size_for(self, price: float) -> float:
        return self._sizing.size(self.equity, price)

    # --- the vectorized hook (optional) --------------------------------------------------------
    def signals(self) -> np.ndarray:
        """The position wanted after each bar: +1 long, -1 short, 0 flat, NaN no new decision. Orders fill at
        the next bar's open; a position is sized when it is opened or reversed, as ``next`` does."""
        raise NotImplementedError(f"{type(self).__name__} has no vectorized signals; it runs on the event engines")

    def units(self) -> float:
        """Fixed units per position for ``signals``; 0 sizes each position by the run's sizing rule."""
        return 0.0


def _check_exits(side: str, stop: float | None, target: float | None, close: float, below: float | None,
                 above: float | None) -> None:
    for name, value in (("stop", stop), ("target", target)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{side}: {name} {value!r} is not a price; give a number > 0 or leave it out")
    if below is not None and above is not None and not below < above:
        which = "stop below target" if side == "buy" else "target below stop"
        raise ValueError(f"{side}: stop {stop:g} and target {target:g} are the wrong way round (a {side} has its "
                         f"{which}; the close is {close:g})")


def is_vectorized(cls: type[Strategy]) -> bool:
    return cls.signals is not Strategy.signals


# --- vectorized indicator helpers (causal: value at i uses data up to i) -----------------------
# During a vectorized grid each indicator is computed once per distinct (input, window): the engine
# opens a cache with ``indicator_cache()``; results are read-only arrays shared by the grid's runs.
_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] | None = None


@contextmanager
def indicator_cache() -> Iterator[None]:
    global _cache
    previous, _cache = _cache, {}
    try:
        yield
    finally:
        _cache = previous


def _cached(kind: str, values: np.ndarray, period: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
    if _cache is None:
        return compute()
    key = (kind, id(values), period)
    hit = _cache.get(key)
    if hit is not None and hit[0] is values:  # the input is kept alive with its result: ids are not reused
        return hit[1]
    out = compute()
    out.flags.writeable = False
    _cache[key] = (values, out)
    return out


def sma(values: np.ndarray, period: int) -> np.ndarray:
    def compute() -> np.ndarray:
        out = np.full(len(values), np.nan)
        if period <= len(values):
            csum = np.cumsum(np.insert(np.asarray(values, dtype=float), 0, 0.0))
            out[period - 1 :] = (csum[period:] - csum[:-period]) / period
        return out

    return _cached("sma", values, period, compute)


def rolling_std(values: np.ndarray, period: int) -> np.ndarray:
    import pandas as pd

    return _cached("std", values, period, lambda: pd.Series(values).rolling(period).std(ddof=0).to_numpy())


def crossed_above(a: np.ndarray, b: np.ndarray, i: int) -> bool:
    return i >= 1 and a[i - 1] <= b[i - 1] and a[i] > b[i]


def crossed_below(a: np.ndarray, b: np.ndarray, i: int) -> bool:
    return i >= 1 and a[i - 1] >= b[i - 1] and a[i] < b[i]


def crosses_above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``crossed_above`` at every bar at once (a bool array)."""
    out = np.zeros(len(a), dtype=bool)
    out[1:] = (a[:-1] <= b[:-1]) & (a[1:] > b[1:])
    return out


def crosses_below(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(len(a), dtype=bool)
    out[1:] = (a[:-1] >= b[:-1]) & (a[1:] < b[1:])
    return out


def band_positions(enter_long: np.ndarray, exit_long: np.ndarray, enter_short: np.ndarray,
                   exit_short: np.ndarray) -> np.ndarray:
    """The position a flat/long/short rule holds after each bar: flat enters long on ``enter_long`` (else short on
    ``enter_short``); long goes flat on ``exit_long``, short on ``exit_short`` (no reversal on the exit bar).
    A loop with state, compiled once by numba and cached on disk."""
    from terminal.backtest.engines.kernels import band_positions as kernel

    return kernel(*(np.ascontiguousarray(x, dtype=np.bool_) for x in (enter_long, exit_long, enter_short,
                                                                        exit_short)))
