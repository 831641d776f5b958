"""Backtest benchmark: bars/s of stock backtrader vs our runner's configuration, and grid wall time 1 vs all cores.

Stock baseline (same run, same data, same SMA(10/30) crossover rules): a plain bt.Strategy
with bt.indicators.SMA + CrossOver on Cerebro's defaults (standard observers on).
Ours: the engine-neutral SmaCross template through terminal.backtest (numpy indicators,
stdstats off). Data: synthetic GBM one-minute bars.
Run: python tests/bench/backtest_bench.py [--sizes 100000 1000000] [--grid-bars 20000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import backtrader as bt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from terminal.backtest.api import Sizing  # noqa: E402
from terminal.backtest.engines.backtrader_engine import run_backtrader  # noqa: E402
from terminal.backtest.loader import load_strategy, template_source  # noqa: E402
from terminal.backtest.optimize import optimize  # noqa: E402
from terminal.backtest.runner import BacktestRequest  # noqa: E402


def bars(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.0008, n)))
    spread = np.abs(rng.normal(0, 0.02, n))
    index = pd.date_range("2015-01-01", periods=n, freq="min", tz="UTC", name="time")
    return pd.DataFrame({"open": close, "high": close + spread, "low": close - spread, "close": close,
                         "volume": 1000.0}, index=index)


class StockSmaCross(bt.Strategy):
    params = (("fast", 10), ("slow", 30))

    def __init__(self) -> None:
        self.cross = bt.indicators.CrossOver(bt.indicators.SMA(period=self.p.fast), bt.indicators.SMA(period=self.p.slow))

    def next(self) -> None:
        if self.cross > 0:
            self.close()
            self.buy(size=10)
        elif self.cross < 0:
            self.close()
            self.sell(size=10)


def stock(frame: pd.DataFrame) -> float:
    feed = frame.copy()
    feed.index = feed.index.tz_localize(None)
    cerebro = bt.Cerebro()
    cerebro.adddata(bt.feeds.PandasData(dataname=feed, openinterest=None))
    cerebro.addstrategy(StockSmaCross)
    cerebro.broker.setcash(1e6)
    t0 = time.perf_counter()
    cerebro.run()
    return time.perf_counter() - t0


def ours(frame: pd.DataFrame) -> float:
    strategy = load_strategy(template_source("sma_cross"), "sma_cross")
    t0 = time.perf_counter()
    run_backtrader(strategy, {"BENCH": frame}, {"size": 10}, 1e6, sizing=Sizing(units=10), fast=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--grid-bars", type=int, default=20_000)
    args = parser.parse_args()
    print("backtrader, SMA 10/30 crossover, one-minute GBM bars; target: ours >= 2x stock")
    for n in args.sizes:
        frame = bars(n)
        s, o = stock(frame), ours(frame)
        print(f"{n:>9,} bars: stock backtrader {n / s:>9,.0f} bars/s ({s:6.1f} s)   ours {n / o:>9,.0f} bars/s "
              f"({o:6.1f} s)   ratio {s / o:.2f}x", flush=True)
    cores = os.cpu_count() or 1
    request = BacktestRequest(template_source("sma_cross"), {"BENCH": bars(args.grid_bars)}, "sma_cross",
                              sizing=Sizing(units=10))
    space = {"fast": [5, 10, 15, 20], "slow": [40, 60, 80, 100]}
    timings = {}
    for workers in sorted({1, cores}):
        t0 = time.perf_counter()
        table = optimize(request, space, workers=workers)
        timings[workers] = time.perf_counter() - t0
        assert len(table) == 16
    line = "   ".join(f"{w} worker(s) {t:.1f} s" for w, t in timings.items())
    print(f"grid of 16 runs on {args.grid_bars:,} bars: {line}   speed-up {timings[1] / timings[max(timings)]:.2f}x "
          f"on {cores} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
