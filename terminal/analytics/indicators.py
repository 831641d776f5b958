"""Vectorized technical indicators (SMA, EMA, Bollinger, VWAP, RSI, MACD) and one-step updates for live bars.

Inputs are float arrays; outputs have the same length, NaN until the indicator is defined.
The ``*_step`` functions advance a recursive indicator by one bar from its previous state, so a
chart can refresh the last bar without recomputing the whole history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from terminal.domain import ValidationError


def _check_period(name: str, period: int) -> None:
    if not isinstance(period, int) or period < 1:
        raise ValidationError(f"{name} period {period!r} must be a whole number >= 1")


def sma(values: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average over ``period`` values (NaN for the first period-1)."""
    _check_period("SMA", period)
    x = np.asarray(values, dtype=np.float64)
    out = np.full(x.size, np.nan)
    if x.size >= period:
        c = np.cumsum(np.r_[0.0, x])
        out[period - 1 :] = (c[period:] - c[:-period]) / period
    return out


def sma_last(values: np.ndarray, period: int) -> float:
    """SMA of the last ``period`` values only (a live-bar update)."""
    x = np.asarray(values, dtype=np.float64)
    return float(x[-period:].mean()) if x.size >= period else math.nan


def ema_alpha(period: int) -> float:
    return 2.0 / (period + 1.0)


def ema(values: np.ndarray, period: int) -> np.ndarray:
    """Exponential moving average, alpha 2/(period+1), seeded with the SMA of the first ``period`` values."""
    _check_period("EMA", period)
    x = np.asarray(values, dtype=np.float64)
    out = np.full(x.size, np.nan)
    if x.size < period:
        return out
    seeded = x[period - 1 :].copy()
    seeded[0] = x[:period].mean()
    out[period - 1 :] = pd.Series(seeded).ewm(alpha=ema_alpha(period), adjust=False).mean().to_numpy()
    return out


def ema_step(previous: float, value: float, period: int) -> float:
    """EMA at a bar from the EMA at the bar before."""
    a = ema_alpha(period)
    return a * value + (1.0 - a) * previous


def bollinger(values: np.ndarray, period: int = 20, width: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(middle, upper, lower): SMA ± ``width`` population standard deviations over ``period``."""
    _check_period("Bollinger", period)
    if not (width > 0 and math.isfinite(width)):
        raise ValidationError(f"Bollinger width {width!r} must be a positive number")
    x = np.asarray(values, dtype=np.float64)
    mid = sma(x, period)
    sq = sma(x * x, period)
    std = np.sqrt(np.maximum(sq - mid * mid, 0.0))
    return mid, mid + width * std, mid - width * std


def bollinger_last(values: np.ndarray, period: int = 20, width: float = 2.0) -> tuple[float, float, float]:
    x = np.asarray(values, dtype=np.float64)[-period:]
    if x.size < period:
        return math.nan, math.nan, math.nan
    m, s = float(x.mean()), float(x.std())
    return m, m + width * s, m - width * s


def vwap(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
         session: np.ndarray | None = None) -> np.ndarray:
    """Volume-weighted typical price, cumulative within each session id (whole series if None)."""
    typical = (np.asarray(high, float) + np.asarray(low, float) + np.asarray(close, float)) / 3.0
    vol = np.asarray(volume, dtype=np.float64)
    pv, cv = np.cumsum(typical * vol), np.cumsum(vol)
    if session is not None and len(session):
        sid = np.asarray(session)
        starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
        seg = np.repeat(starts, np.diff(np.r_[starts, sid.size]))
        pv_before = np.r_[0.0, pv][seg]
        cv_before = np.r_[0.0, cv][seg]
        pv, cv = pv - pv_before, cv - cv_before
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cv > 0, pv / np.where(cv > 0, cv, 1.0), typical)


@dataclass(frozen=True)
class RsiState:
    """Wilder averages of gains and losses after each bar (for one-step live updates)."""

    rsi: np.ndarray
    average_gain: np.ndarray
    average_loss: np.ndarray


def _rsi_from(gain: np.ndarray | float, loss: np.ndarray | float):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.asarray(loss) == 0, np.where(np.asarray(gain) == 0, 50.0, 100.0),
                        100.0 - 100.0 / (1.0 + np.asarray(gain) / np.where(np.asarray(loss) == 0, 1, loss)))


def rsi_state(values: np.ndarray, period: int = 14) -> RsiState:
    """RSI with Wilder smoothing: first average = mean of ``period`` changes, then alpha 1/period."""
    _check_period("RSI", period)
    x = np.asarray(values, dtype=np.float64)
    out, ag, al = (np.full(x.size, np.nan) for _ in range(3))
    if x.size <= period:
        return RsiState(out, ag, al)
    d = np.diff(x)
    gains, losses = np.maximum(d, 0.0), np.maximum(-d, 0.0)

    def wilder(v: np.ndarray) -> np.ndarray:
        seeded = v[period - 1 :].copy()
        seeded[0] = v[:period].mean()
        return pd.Series(seeded).ewm(alpha=1.0 / period, adjust=False).mean().to_numpy()

    ag[period:], al[period:] = wilder(gains), wilder(losses)
    out[period:] = _rsi_from(ag[period:], al[period:])
    return RsiState(out, ag, al)


def rsi(values: np.ndarray, period: int = 14) -> np.ndarray:
    return rsi_state(values, period).rsi


def rsi_step(average_gain: float, average_loss: float, change: float, period: int) -> tuple[float, float, float]:
    """(rsi, average_gain, average_loss) at a bar from the Wilder averages at the bar before."""
    g = (average_gain * (period - 1) + max(change, 0.0)) / period
    lo = (average_loss * (period - 1) + max(-change, 0.0)) / period
    return float(_rsi_from(g, lo)), g, lo


@dataclass(frozen=True)
class MacdResult:
    macd: np.ndarray
    signal: np.ndarray
    histogram: np.ndarray
    fast_ema: np.ndarray
    slow_ema: np.ndarray


def macd(values: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9) -> MacdResult:
    """MACD line (EMA fast − EMA slow), its EMA ``signal`` and the histogram."""
    for name, p in (("MACD fast", fast), ("MACD slow", slow), ("MACD signal", signal)):
        _check_period(name, p)
    if fast >= slow:
        raise ValidationError(f"MACD fast period {fast} must be shorter than slow period {slow}")
    x = np.asarray(values, dtype=np.float64)
    f, s = ema(x, fast), ema(x, slow)
    line = f - s
    sig = np.full(x.size, np.nan)
    valid = np.flatnonzero(~np.isnan(line))
    if valid.size:
        sig[valid[0] :] = ema(line[valid[0] :], signal)
    return MacdResult(line, sig, line - sig, f, s)
