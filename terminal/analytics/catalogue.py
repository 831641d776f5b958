"""What each statistic is called, how its value reads and how it is defined: one table for the results dock,
the HTML report and the CLI, so a trader reads "Longest drawdown 37 days", not ``max_drawdown_days 37.0``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Kind = Literal["percent", "ratio", "money", "count", "days", "bars"]


@dataclass(frozen=True)
class Statistic:
    key: str
    label: str
    kind: Kind
    definition: str
    better: int = 1  # +1 higher is better, -1 lower is better, 0 neither (for the colour of a difference)


CATALOGUE: tuple[Statistic, ...] = (
    Statistic("total_return", "Total return", "percent", "Final equity / initial equity − 1."),
    Statistic("annualised_return", "Annual return (CAGR)", "percent",
              "Compound annual growth: (1 + total return) ^ (periods per year / periods) − 1."),
    Statistic("benchmark_return", "Buy and hold", "percent",
              "Total return of holding the first symbol from the first to the last close."),
    Statistic("volatility", "Volatility (annual)", "percent",
              "Standard deviation of the period returns (ddof 1) × √(periods per year).", -1),
    Statistic("sharpe", "Sharpe ratio", "ratio",
              "Arithmetic mean of the period returns / their standard deviation (ddof 1) × √(periods per year, "
              "252 for days); risk-free rate 0. backtesting.py's report uses the geometric annual return over "
              "annualised volatility instead, so it reads lower on the same trades (0.86 against our 1.08 on "
              "its GOOG example)."),
    Statistic("sortino", "Sortino ratio", "ratio",
              "Mean period return / downside deviation × √(periods per year); downside deviation = "
              "√(mean of min(r, 0)²) over all periods."),
    Statistic("calmar", "Calmar ratio", "ratio", "Annual return (CAGR) / |max drawdown|."),
    Statistic("max_drawdown", "Max drawdown", "percent",
              "Deepest fall of equity below its running peak: min(equity / peak − 1).", 1),
    Statistic("max_drawdown_days", "Longest drawdown", "days",
              "Longest calendar time from a peak until equity is back at it (or the last bar, if never).", -1),
    Statistic("max_drawdown_duration", "Longest drawdown, bars", "bars",
              "Longest run of consecutive bars spent below a previous peak.", -1),
    Statistic("exposure", "Time in market", "percent", "Share of bars with an open position.", 0),
    Statistic("trades", "Trades", "count", "Closed round trips (a position still open at the end counts, "
              "marked to the last close).", 0),
    Statistic("win_rate", "Win rate", "percent", "Winning trades / trades (P&L before commission > 0)."),
    Statistic("profit_factor", "Profit factor", "ratio", "Gross profit of the winners / |gross loss of the losers|."),
    Statistic("expectancy", "Expectancy per trade", "money", "Mean P&L of a trade."),
    Statistic("average_win", "Average win", "money", "Mean P&L of the winning trades."),
    Statistic("average_loss", "Average loss", "money", "Mean P&L of the losing trades (a negative number)."),
    Statistic("sqn", "SQN", "ratio", "Van Tharp's system quality number: √trades × mean(trade P&L) / "
              "stdev(trade P&L, ddof 1)."),
)
BY_KEY = {s.key: s for s in CATALOGUE}


def statistic(key: str) -> Statistic:
    """The entry for ``key``; an unknown key reads as itself, shown as a plain number."""
    return BY_KEY.get(key) or Statistic(key, key.replace("_", " ").capitalize(), "ratio", "")


def ordered(keys: list[str] | tuple[str, ...]) -> list[str]:
    """The keys in catalogue order (the reading order of the dock), unknown keys after, as given."""
    known = [s.key for s in CATALOGUE if s.key in keys]
    return known + [k for k in keys if k not in BY_KEY]


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_value(key: str, value: object) -> str:
    """The value as a trader reads it: 12.34 %, 1.08, 1,234.56, 37 days, 412 bars; '∞' and '—' where due."""
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if not _finite(value):
        return "—"
    v = float(value)  # type: ignore[arg-type]
    kind = statistic(key).kind
    if kind == "percent":
        return f"{v * 100:,.2f} %"
    if kind == "money":
        return f"{v:,.2f}"
    if kind == "count":
        return f"{v:,.0f}"
    if kind == "days":
        return f"{v:,.0f} day" + ("" if round(v) == 1 else "s") if v >= 1 or v == 0 else f"{v * 24:.1f} h"
    if kind == "bars":
        return f"{v:,.0f} bar" + ("" if round(v) == 1 else "s")
    return f"{v:,.2f}"


def format_difference(key: str, first: object, second: object) -> str:
    """second − first in the statistic's unit (percentage points for percentages); '—' when either is missing."""
    if not (_finite(first) and _finite(second)):
        return "—"
    d = float(second) - float(first)  # type: ignore[arg-type]
    kind = statistic(key).kind
    sign = "+" if d > 0 else "−" if d < 0 else "±"
    a = abs(d)
    if kind == "percent":
        return f"{sign}{a * 100:,.2f} pp"
    if kind == "money":
        return f"{sign}{a:,.2f}"
    if kind in ("count", "bars"):
        return f"{sign}{a:,.0f}"
    if kind == "days":
        return f"{sign}{a:,.0f} d"
    return f"{sign}{a:,.2f}"


def difference_is_better(key: str, first: object, second: object) -> bool | None:
    """Whether second is better than first for this statistic (None: equal, missing, or neither way)."""
    better = statistic(key).better
    if not (_finite(first) and _finite(second)) or better == 0 or first == second:
        return None
    return (float(second) > float(first)) == (better > 0)  # type: ignore[arg-type]
