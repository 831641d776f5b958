"""Performance statistics of a backtest or account, each defined once here and tested against plain loops.

Definitions (returns r_t are simple period returns of the equity curve; N = periods per year):
- total return           equity[-1] / equity[0] - 1
- annualised return      (1 + total) ** (N / periods) - 1   (geometric, CAGR)
- volatility             stdev(r, ddof=1) * sqrt(N)
- Sharpe                 mean(r - rf/N) / stdev(r, ddof=1) * sqrt(N)
- Sortino                mean(r - rf/N) / downside deviation * sqrt(N),
                         downside deviation = sqrt(mean(min(r, 0)^2)) over all periods
- max drawdown           min over t of equity_t / max(equity_0..t) - 1  (a negative number)
- drawdown duration      longest run of periods spent below a previous peak
- drawdown days          longest calendar time from a peak until equity is back at it (or the last bar)
- Calmar                 annualised return / |max drawdown|
- win rate               winning trades / trades;   profit factor = gross profit / |gross loss|
- expectancy             mean trade P&L;  average win / average loss over winners / losers
- exposure               share of periods with an open position
- SQN                    sqrt(trades) * mean(trade P&L) / stdev(trade P&L, ddof=1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd


def returns(equity: pd.Series) -> pd.Series:
    return equity.pct_change().dropna()


def total_return(equity: pd.Series) -> float:
    return float(equity.iloc[-1] / equity.iloc[0] - 1) if len(equity) > 1 else 0.0


def annualised_return(equity: pd.Series, periods_per_year: float = 252) -> float:
    periods = len(equity) - 1
    if periods <= 0 or equity.iloc[0] <= 0:
        return 0.0
    growth = equity.iloc[-1] / equity.iloc[0]
    return float(growth ** (periods_per_year / periods) - 1) if growth > 0 else -1.0


def volatility(equity: pd.Series, periods_per_year: float = 252) -> float:
    r = returns(equity)
    return float(r.std(ddof=1) * math.sqrt(periods_per_year)) if len(r) > 1 else 0.0


def sharpe(equity: pd.Series, periods_per_year: float = 252, risk_free: float = 0.0) -> float:
    r = returns(equity) - risk_free / periods_per_year
    sd = r.std(ddof=1) if len(r) > 1 else 0.0
    return float(r.mean() / sd * math.sqrt(periods_per_year)) if sd > 0 else math.nan


def sortino(equity: pd.Series, periods_per_year: float = 252, risk_free: float = 0.0) -> float:
    r = returns(equity) - risk_free / periods_per_year
    downside = math.sqrt(float((np.minimum(r, 0.0) ** 2).mean())) if len(r) else 0.0
    return float(r.mean() / downside * math.sqrt(periods_per_year)) if downside > 0 else math.nan


def drawdown(equity: pd.Series) -> pd.Series:
    """Underwater curve: equity / running peak - 1 (0 at new highs)."""
    return equity / equity.cummax() - 1.0


def max_drawdown(equity: pd.Series) -> float:
    return float(drawdown(equity).min()) if len(equity) else 0.0


def max_drawdown_duration(equity: pd.Series) -> int:
    """Longest number of periods spent below a previous peak."""
    longest = current = 0
    for below in (drawdown(equity) < 0).to_numpy():
        current = current + 1 if below else 0
        longest = max(longest, current)
    return longest


def max_drawdown_days(equity: pd.Series) -> float:
    """Longest calendar time, in days, from a peak until equity is back at it (or the last bar, if never)."""
    if len(equity) < 2 or not isinstance(equity.index, pd.DatetimeIndex):
        return 0.0 if len(equity) else math.nan
    return float(_drawdown_days(equity.to_numpy(dtype=float)[:, None], equity.index.as_unit("ns").asi8)[0])


def _drawdown_days(equity: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``max_drawdown_days`` of each column of ``equity`` (bars × runs), ``times`` in ns."""
    n = len(equity)
    under = equity / np.maximum.accumulate(equity, axis=0) - 1.0 < 0
    index = np.arange(n)[:, None]
    last_peak = np.maximum.accumulate(np.where(under, -1, index), axis=0)
    # every bar after an underwater one closes a span from that spell's peak: the longest is at the recovery
    spans = np.where(under[:-1], times[1:, None] - times[np.maximum(last_peak[:-1], 0)], 0)
    return spans.max(axis=0) / 86_400e9 if n > 1 else np.zeros(equity.shape[1])


def calmar(equity: pd.Series, periods_per_year: float = 252) -> float:
    mdd = max_drawdown(equity)
    return annualised_return(equity, periods_per_year) / abs(mdd) if mdd < 0 else math.nan


def trade_statistics(pnls: Sequence[float]) -> dict[str, float]:
    p = np.asarray(pnls, dtype=float)
    wins, losses = p[p > 0], p[p < 0]
    n = len(p)
    return {
        "trades": float(n),
        "win_rate": float(len(wins) / n) if n else math.nan,
        "profit_factor": float(wins.sum() / abs(losses.sum())) if len(losses) and losses.sum() else
        (math.inf if len(wins) else math.nan),
        "expectancy": float(p.mean()) if n else math.nan,
        "average_win": float(wins.mean()) if len(wins) else math.nan,
        "average_loss": float(losses.mean()) if len(losses) else math.nan,
        "sqn": float(math.sqrt(n) * p.mean() / p.std(ddof=1)) if n > 1 and p.std(ddof=1) > 0 else math.nan,
    }


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Table year × month of compounded returns, for the heatmap."""
    month_end = equity.resample("ME").last().dropna()
    first = equity.iloc[:1]
    series = pd.concat([first, month_end]).pct_change().dropna()
    series = series[~series.index.duplicated(keep="last")]
    table = pd.DataFrame({"year": series.index.year, "month": series.index.month, "value": series.to_numpy()})
    return table.pivot(index="year", columns="month", values="value")


STATISTIC_NAMES = ("total_return", "annualised_return", "volatility", "sharpe", "sortino", "calmar", "max_drawdown",
                   "max_drawdown_duration", "max_drawdown_days", "exposure", "trades", "win_rate", "profit_factor", "expectancy",
                   "average_win", "average_loss", "sqn", "benchmark_return")


def compute_statistics(equity: pd.Series, trade_pnls: Sequence[float] = (), exposure: float = math.nan,
                       periods_per_year: float = 252, benchmark: pd.Series | None = None) -> dict[str, float]:
    """Every statistic above in one dict (keys are stable: the CLI's JSON and the results dock use them)."""
    stats = {
        "total_return": total_return(equity),
        "annualised_return": annualised_return(equity, periods_per_year),
        "volatility": volatility(equity, periods_per_year),
        "sharpe": sharpe(equity, periods_per_year),
        "sortino": sortino(equity, periods_per_year),
        "calmar": calmar(equity, periods_per_year),
        "max_drawdown": max_drawdown(equity),
        "max_drawdown_duration": float(max_drawdown_duration(equity)),
        "max_drawdown_days": max_drawdown_days(equity),
        "exposure": exposure,
        **trade_statistics(trade_pnls),
    }
    if benchmark is not None and len(benchmark) > 1:
        stats["benchmark_return"] = total_return(benchmark)
    return stats


def matrix_statistics(equity: np.ndarray, trade_pnls: Sequence[Sequence[float]], exposure: np.ndarray,
                      periods_per_year: float = 252, times: np.ndarray | None = None) -> list[dict[str, float]]:
    """``compute_statistics`` of many equity curves at once (bars × runs, one column per run), by the same
    definitions, in whole-array numpy: the vectorized optimizer's rows. Tested against the one-curve functions."""
    equity = np.asarray(equity, dtype=float)
    n, k = equity.shape
    first, last = equity[0], equity[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        total = last / first - 1 if n > 1 else np.zeros(k)
        growth = last / first
        periods = n - 1
        annual = np.where(growth > 0, growth ** (periods_per_year / max(periods, 1)) - 1, -1.0)
        annual = np.where((periods <= 0) | (first <= 0), 0.0, annual)
        r = equity[1:] / equity[:-1] - 1
        root = math.sqrt(periods_per_year)
        if len(r) > 1:
            sd = r.std(axis=0, ddof=1)
            mean = r.mean(axis=0)
            vol = sd * root
            sharpe_ = np.where(sd > 0, mean / sd * root, np.nan)
            downside = np.sqrt((np.minimum(r, 0.0) ** 2).mean(axis=0))
            sortino_ = np.where(downside > 0, mean / downside * root, np.nan)
        else:
            vol = np.zeros(k)
            sharpe_ = sortino_ = np.full(k, np.nan)
        under = equity / np.maximum.accumulate(equity, axis=0) - 1.0
        mdd = under.min(axis=0)
        calmar_ = np.where(mdd < 0, annual / np.abs(mdd), np.nan)
    index = np.arange(n)[:, None]
    last_peak = np.maximum.accumulate(np.where(under < 0, -1, index), axis=0)
    duration = (index - last_peak).max(axis=0) if n else np.zeros(k)
    days = _drawdown_days(equity, np.asarray(times, dtype=np.int64)) if times is not None else np.full(k, np.nan)
    rows = []
    for j in range(k):
        rows.append({
            "total_return": float(total[j]), "annualised_return": float(annual[j]), "volatility": float(vol[j]),
            "sharpe": float(sharpe_[j]), "sortino": float(sortino_[j]), "calmar": float(calmar_[j]),
            "max_drawdown": float(mdd[j]), "max_drawdown_duration": float(duration[j]),
            "max_drawdown_days": float(days[j]), "exposure": float(exposure[j]), **trade_statistics(trade_pnls[j]),
        })
    return rows
