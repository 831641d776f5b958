"""Aggregation of OHLCV bars to a coarser bar size (1m → 5m, 1h, 1D …), vectorized with pandas."""

from __future__ import annotations

import pandas as pd

from terminal.domain import BarSize, ValidationError


def resample_bars(frame: pd.DataFrame, source: BarSize, target: BarSize) -> pd.DataFrame:
    """Aggregate bars: first open, max high, min low, last close, summed volume; empty buckets dropped."""
    if target.seconds < source.seconds:
        raise ValidationError(f"cannot make {target.short} bars from coarser {source.short} bars")
    if target == source or frame.empty:
        return frame
    rule = f"{target.seconds}s"
    grouped = frame.resample(rule, label="left", closed="left")
    out = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    return out.dropna(subset=["open"])
