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

    def __post_init__(self) -> None:
        self.underwater = self.equity / np.maximum.accumulate(self.equity) - 1.0  # once: a bar reads it, not redoes it

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
        indicators = {k: np.array([math.nan if v is None else v for v in values], dtype=float)
                      for k, values in trace.get("indicators", {}).items()}
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
        """The next bar after ``i`` with a fill (a trade opens, closes or reverses there)."""
        later = [b for b in self.fills if b > i]
        return min(later) if later else None


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
