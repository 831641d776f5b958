"""Monte Carlo of a run's trades: the trades' returns resampled with replacement into many equity paths, to see
how much of a backtest's curve and drawdown was the order its trades happened to come in.

- a trade's return:  its P&L / the run's equity when it was entered (the engines size on equity, so a trade
                     scales with the account: paths compound, and no path goes below zero unless a trade lost
                     more than the account)
- a path:            cash × cumulative product of (1 + n trade returns drawn with replacement), n = the trade count
- drawdown of path:  min over the path of equity / running peak − 1 (the start counts as a peak)
- risk of ruin:      share of paths whose equity ever falls to ``ruin`` × cash or below (default 50 %)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MonteCarlo:
    paths: np.ndarray  # (paths, trades + 1) equity, the start included
    final_percentiles: dict[int, float]  # 5, 25, 50, 75, 95 → final equity
    drawdown_percentiles: dict[int, float]  # 50, 75, 95, 99 → max drawdown (negative: 95 is the 95th worst)
    risk_of_ruin: float
    ruin_level: float

    def summary(self) -> dict[str, Any]:
        return {"paths": len(self.paths), "trades": self.paths.shape[1] - 1, "risk_of_ruin": self.risk_of_ruin,
                "ruin_level": self.ruin_level,
                "final_equity": {str(k): v for k, v in self.final_percentiles.items()},
                "max_drawdown": {str(k): v for k, v in self.drawdown_percentiles.items()}}


def trade_returns(trades: list[dict], equity: list) -> np.ndarray:
    """Each trade's P&L over the equity at its entry (the last equity point at or before the entry time)."""
    times = np.array([np.datetime64(t.replace("+00:00", "")) for t, _ in equity])
    values = np.array([v for _, v in equity], dtype=float)
    out = []
    for t in trades:
        at = max(0, int(np.searchsorted(times, np.datetime64(t["entry_time"].replace("+00:00", "")), "right")) - 1)
        out.append(t["pnl"] / values[at] if values[at] > 0 else 0.0)
    return np.asarray(out, dtype=float)


def bootstrap(returns: list[float] | np.ndarray, cash: float, paths: int = 1000, ruin: float = 0.5,
              seed: int | None = 7) -> MonteCarlo:
    """``paths`` equity paths of the trade returns resampled with replacement (seeded: the same run gives the
    same picture each time it is opened)."""
    pnl = np.asarray(returns, dtype=float)
    if len(pnl) == 0:
        raise ValueError("Monte Carlo needs at least one trade; this run has none")
    if cash <= 0:
        raise ValueError(f"Monte Carlo needs positive starting cash, not {cash:g}")
    rng = np.random.default_rng(seed)
    draws = rng.choice(pnl, size=(paths, len(pnl)), replace=True)
    growth = np.maximum(1.0 + draws, 0.0)  # a trade cannot lose more than the whole account
    equity = np.concatenate([np.full((paths, 1), cash), cash * np.cumprod(growth, axis=1)], axis=1)
    peak = np.maximum.accumulate(equity, axis=1)
    drawdown = (equity / peak - 1.0).min(axis=1)
    ruined = (equity <= cash * ruin).any(axis=1)
    final = equity[:, -1]
    return MonteCarlo(equity, {p: float(np.percentile(final, p)) for p in (5, 25, 50, 75, 95)},
                      {p: float(np.percentile(drawdown, 100 - p)) for p in (50, 75, 95, 99)},
                      float(ruined.mean()), ruin)
