"""Trades whose result depends on the path inside a bar: the stop and the target both inside one bar's range.

A bar says where the price went, not in which order: when a trade's stop and its target both lie
inside the bar it exited on, the engine had to assume which came first (backtrader and
backtesting.py both assume the stop: the worse outcome). ``flag`` marks such trades; ``settle``
walks finer bars of that bar (1 minute inside a day, 5 seconds inside a minute, …), finest last,
and takes the first finer bar that reaches only one of the two levels as the answer. A finer bar
that reaches both again asks the next finer size; with none left the trade stays unsettled.

Nothing here runs strategy code: it reads the run's trades and stored bars (the main process may).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

# A finer series of the bar's span: (label, bars); finest last.
Finer = Callable[[pd.Timestamp, pd.Timestamp], list[tuple[str, pd.DataFrame]]]


def ambiguous(trade: dict, frame: pd.DataFrame) -> bool:
    """The trade left at its stop or target on a bar whose range holds both."""
    stop, target = trade.get("stop"), trade.get("target")
    if stop is None or target is None or trade.get("exit_reason") not in ("stop", "target"):
        return False
    bar = trade["exit_bar"]
    low, high = float(frame["low"].iloc[bar]), float(frame["high"].iloc[bar])
    return low <= min(stop, target) and high >= max(stop, target)


def _first_touch(trade: dict, bars: pd.DataFrame) -> str | None:
    """"stop", "target", "both" (the first bar reaching a level reaches both) or None (neither is reached)."""
    long = trade["size"] > 0
    low, high = bars["low"].to_numpy(dtype=float), bars["high"].to_numpy(dtype=float)
    stop, target = trade["stop"], trade["target"]
    hit_stop = low <= stop if long else high >= stop
    hit_target = high >= target if long else low <= target
    touched = np.flatnonzero(hit_stop | hit_target)
    if not len(touched):
        return None
    first = touched[0]
    return "both" if hit_stop[first] and hit_target[first] else "stop" if hit_stop[first] else "target"


def settle(trade: dict, start: pd.Timestamp, end: pd.Timestamp, finer: Finer) -> dict[str, Any]:
    """What the finer bars of [start, end) say about an ambiguous trade (see the module docstring)."""
    assumed = trade["exit_reason"]
    out: dict[str, Any] = {"ambiguous": True, "assumed": assumed, "settled": None, "on": ""}
    for label, bars in finer(start, end):
        inside = bars[(bars.index >= start) & (bars.index < end)]
        if inside.empty:
            continue
        first = _first_touch(trade, inside)
        if first in ("stop", "target"):
            level = trade[first]
            out.update(settled=first, on=label, settled_exit=float(level),
                       settled_pnl=float(trade["size"]) * (float(level) - float(trade["entry_price"])))
            return out
        out["on"] = label  # "both" again, or the finer bars never reach either level: the next finer size
    return out


def _no_finer(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[str, pd.DataFrame]]:
    return []


def flag_trades(trades: Iterable[dict], frame: pd.DataFrame, finer: Finer | None = None) -> list[dict]:
    """Each trade; an ambiguous one with a ``path`` entry (settled on ``finer`` bars where it can be)."""
    index = frame.index
    spacing = (index[1:] - index[:-1]).min() if len(index) > 1 else pd.Timedelta(days=1)
    out = []
    for trade in trades:
        if ambiguous(trade, frame):
            bar = trade["exit_bar"]
            start = index[bar]
            end = index[bar + 1] if bar + 1 < len(index) else start + spacing
            trade = {**trade, "path": settle(trade, start, end, finer or _no_finer)}
        out.append(trade)
    return out


def summary(trades: Iterable[dict]) -> str:
    """One sentence for the run's notes; empty when no trade depended on the path inside a bar."""
    flagged = [t["path"] for t in trades if t.get("path")]
    if not flagged:
        return ""
    same = sum(1 for p in flagged if p["settled"] == p["assumed"])
    other = [p for p in flagged if p["settled"] not in (None, p["assumed"])]
    open_ = len(flagged) - same - len(other)
    parts = [f"{len(flagged)} trade(s) had their stop and target inside one bar, so their result depends on the "
             f"path inside it; the engine assumed {flagged[0]['assumed']} first"]
    if same or other:
        ons = sorted({p["on"] for p in flagged if p["settled"]})
        parts.append(f"settled on {', '.join(ons)} bars: {same} as assumed, {len(other)} the other way")
    if open_:
        parts.append(f"{open_} not settled (no finer bars stored for them)")
    return "; ".join(parts) + "."
