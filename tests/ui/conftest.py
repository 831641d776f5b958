"""Chart test data: real GOOG daily bars from backtesting's package and synthetic minute bars."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def load_backtesting_csv(name: str) -> pd.DataFrame:
    import backtesting

    frame = pd.read_csv(Path(backtesting.__file__).parent / "test" / name, index_col=0, parse_dates=True)
    frame.columns = [c.lower() for c in frame.columns]
    frame.index = frame.index.tz_localize("UTC")
    return frame


@pytest.fixture(scope="session")
def goog() -> pd.DataFrame:
    return load_backtesting_csv("GOOG.csv")


def random_walk_bars(n: int, start: str = "2024-01-01", freq: str = "1min", seed: int = 3,
                     weekdays_only: bool = False) -> pd.DataFrame:
    """n bars of a random walk with consistent OHLC, on a UTC index (optionally weekdays only)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=int(n * 1.5) if weekdays_only else n, freq=freq, tz="UTC")
    if weekdays_only:
        index = index[index.day_of_week < 5][:n]
    close = 100 + np.cumsum(rng.normal(0, 0.05, n))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 0.05, n)
    low = np.minimum(open_, close) - rng.uniform(0, 0.05, n)
    volume = rng.integers(100, 1000, n).astype(float)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)
