"""What a step-through plays: a backtest run's state at the close of every bar, from the trace the worker
recorded (orders the strategy sent, fills, its indicator arrays) and the run's equity curve.

At the close of bar i: the fills of bar i happened at its open, the position is every fill up to bar i, equity
is the run's equity at i, drawdown is equity over its running peak − 1, and the working orders are those the
strategy sent at bar i (market orders: they fill at the open of bar i + 1).
"""

from __future__ import annotations

import math
import operator
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from terminal.backtest.engines.common import FifoTrades


@dataclass(frozen=True)
class BarState:
    index: int
    time: pd.Timestamp
    close: float
    position: float  # of the traded symbol (the first one for pairs), after the bar's fills
    positions: dict[str, float]
    equity: float
    drawdown: float
    fills: list[tuple[str, float, float]]  # symbol, signed size, price: at this bar's open
    orders: list[tuple[str, float]]  # symbol, signed size: sent at this bar's close, filling at the next open


@dataclass
class StepTrace:
    symbol: str
    frame: pd.DataFrame  # the traded symbol's bars (open, high, low, close, volume; UTC index)
    equity: np.ndarray
    positions: dict[str, np.ndarray]
    fills: dict[int, list[tuple[str, float, float]]]
    orders: dict[int, list[tuple[str, float]]]
    indicators: dict[str, np.ndarray] = field(default_factory=dict)
    trades: list[dict] = field(default_factory=list)
    available: int = -1  # bars known so far (all of them once complete); a streaming trace grows
    complete: bool = True
    # a streaming trace's running state: cash, positions, the closes that value them, the equity peak, trades
    _cash: float = field(default=0.0, repr=False)
    _held: dict[str, float] = field(default_factory=dict, repr=False)
    _closes: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _peak: float = field(default=-math.inf, repr=False)
    _fifo: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.available < 0:
            self.available = len(self.frame)
        with np.errstate(invalid="ignore", divide="ignore"):  # once: a bar reads it, not redoes it
            self.underwater = self.equity / np.fmax.accumulate(self.equity) - 1.0

    # --- streaming: the worker sends the trace as it runs --------------------------------------------
    @classmethod
    def streaming(cls, frames: dict[str, pd.DataFrame], cash: float) -> StepTrace:
        """An empty trace of these bars, filled by ``extend`` as the worker's chunks come in."""
        symbol = next(iter(frames))
        n = len(frames[symbol])
        trace = cls(symbol, frames[symbol], np.full(n, np.nan), {s: np.zeros(n) for s in frames}, {}, {},
                    available=0, complete=False)
        trace._cash = float(cash)
        trace._held = dict.fromkeys(frames, 0.0)
        trace._closes = {s: f["close"].to_numpy(dtype=float) for s, f in frames.items()}
        trace._peak = -math.inf
        trace._fifo = FifoTrades({s: f.index.as_unit("ns").asi8 for s, f in frames.items()})
        return trace

    def extend(self, chunk: dict[str, Any]) -> None:
        """Take one chunk of the worker's trace (``run_backtrader(on_trace=)``): the bars up to ``upto`` are then
        known — fills, orders, position, equity (cash and the marked positions, as the engine values them)."""
        if "indicators" in chunk:
            self.indicators = _indicator_arrays(chunk["indicators"])
            return
        for bar, symbol, size in chunk.get("orders", []):
            self.orders.setdefault(int(bar), []).append((symbol, float(size)))
        arriving: dict[int, list] = defaultdict(list)
        for symbol, bar, size, price, commission in chunk.get("fills", []):
            self.fills.setdefault(int(bar), []).append((symbol, float(size), float(price)))
            arriving[int(bar)].append((symbol, float(size), float(price), float(commission)))
        for b in range(self.available, min(int(chunk["upto"]), len(self) - 1) + 1):
            for symbol, size, price, commission in arriving.get(b, ()):
                self._held[symbol] += size
                self._cash -= size * price + commission
                self._fifo.fill(symbol, b, size, price, commission)
            for symbol, held in self._held.items():
                self.positions[symbol][b] = held
            self.equity[b] = self._cash + sum(held * self._closes[s][b] for s, held in self._held.items())
            self._peak = max(self._peak, self.equity[b])
            self.underwater[b] = self.equity[b] / self._peak - 1.0
            self.available = b + 1
        self.trades = [t for t in self._fifo.closed if not t.get("open")]

    def finish(self, run: dict[str, Any]) -> str:
        """The worker's result: the run's own trades; a warning if the equity built from the stream differs."""
        equity = np.array([v for _, v in run["equity"]], dtype=float)
        self.trades = run.get("trades", [])
        warning = ""
        if self.available != len(self) or len(equity) != len(self) or not np.allclose(
                equity, self.equity, rtol=1e-9, atol=1e-6):
            warning = "the equity built from the streamed trace differs from the run's: the run's is shown"
            self.equity = equity
            with np.errstate(invalid="ignore", divide="ignore"):
                self.underwater = equity / np.fmax.accumulate(equity) - 1.0
        self.available, self.complete = len(self), True
        return warning

    @classmethod
    def from_run(cls, run: dict[str, Any], frames: dict[str, pd.DataFrame]) -> StepTrace:
        """``run`` is a result JSON with a ``trace`` (``BacktestRequest(trace=True)``); ``frames`` its bars."""
        trace = run.get("trace") or {}
        if not trace:
            raise ValueError("this run has no step-through trace; run it again with trace=True (backtrader)")
        symbol = next(iter(frames))
        frame = frames[symbol]
        n = len(frame)
        change: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n))
        fills: dict[int, list] = defaultdict(list)
        for fill_symbol, bar, size, price, _commission in trace["fills"]:
            change[fill_symbol][int(bar)] += size
            fills[int(bar)].append((fill_symbol, float(size), float(price)))
        orders: dict[int, list] = defaultdict(list)
        for bar, order_symbol, size in trace["orders"]:
            orders[int(bar)].append((order_symbol, float(size)))
        positions = {s: np.cumsum(change[s]) if s in change else np.zeros(n) for s in frames}
        equity = np.array([v for _, v in run["equity"]], dtype=float)
        if len(equity) != n:
            raise ValueError(f"the run's equity has {len(equity)} points for {n} bars; the bars changed since")
        indicators = _indicator_arrays(trace.get("indicators", {}))
        return cls(symbol, frame, equity, positions, dict(fills), dict(orders), indicators, run.get("trades", []))

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def times(self) -> pd.DatetimeIndex:
        return self.frame.index

    def drawdown(self) -> np.ndarray:
        return self.underwater

    def state(self, i: int) -> BarState:
        i = max(0, min(i, len(self) - 1))
        positions = {s: float(p[i]) for s, p in self.positions.items()}
        return BarState(i, self.times[i], float(self.frame["close"].iloc[i]), positions[self.symbol], positions,
                        float(self.equity[i]), float(self.underwater[i]), self.fills.get(i, []),
                        self.orders.get(i, []))

    def bar_at(self, moment: Any) -> int:
        """The last bar at or before ``moment`` (the first bar if it is earlier)."""
        stamp = pd.Timestamp(moment)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return max(0, int(self.times.searchsorted(stamp, side="right")) - 1)

    def next_fill(self, i: int) -> int | None:
        """The next bar after ``i`` with a fill (a trade opens, closes or reverses there), among the known bars."""
        later = [b for b in self.fills if i < b < self.available]
        return min(later) if later else None


def _indicator_arrays(recorded: dict[str, list]) -> dict[str, np.ndarray]:
    """The worker's indicator lists (None for NaN, as JSON has it) as float arrays."""
    return {k: np.array([math.nan if v is None else v for v in values], dtype=float) for k, values in recorded.items()}


# A rule to break on: "<field> <op> <number>[%]", e.g. "drawdown < -10%", "position != 0", "equity > 150000".
_RULE = re.compile(r"^\s*(equity|drawdown|position|close)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*(%?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                                                   ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
RULE_HELP = "a rule is FIELD OP NUMBER with FIELD equity, drawdown, position or close, e.g. 'drawdown < -10%'"


def parse_rule(text: str) -> Callable[[BarState], bool]:
    match = _RULE.match(text)
    if match is None:
        raise ValueError(f"rule {text!r} is not understood; {RULE_HELP}")
    name, op, number, percent = match.groups()
    value = float(number) / (100 if percent else 1)
    compare = _OPS[op]
    return lambda state: compare(getattr(state, name), value)
