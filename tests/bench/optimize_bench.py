"""Optimization benchmark: one SMA-crossover grid (100 fast/slow pairs, 100k one-minute bars) on every path.

- baseline: vectorbt called directly (``vbt.MA.run`` + ``Portfolio.from_signals``, next-open fills, 95 %
  of equity, long/short reversals), in this process, with its kernels warmed;
- ours, vectorized: ``run_grid`` in this process (the wrapper's cost against the baseline), and
  ``optimize(engine="vectorized")`` on the process pool (what ``quant-terminal optimize`` runs, worker
  start-up and vectorbt's import included);
- ours, event engine (backtrader): the process pool (today's path), and a Dask cluster started by
  ``quant-terminal cluster`` on loopback with 1 and with 2 workers.

Figures are bar-runs per second (bars × runs / wall time). Targets (issue 16): vectorized ≥ 0.7×
direct vectorbt and ≥ 20× the backtrader pool; Dask with 2 workers ≥ 1.8× one worker.
Run: python tests/bench/optimize_bench.py [--bars 100000] [--event-runs 100]
(``--event-runs`` limits the slow event-engine paths to the first N pairs, a multiple of 10; default: all.)
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from backtest_bench import bars  # noqa: E402 - the same one-minute GBM bars as the backtest bench

from terminal.backtest.api import Sizing  # noqa: E402
from terminal.backtest.loader import load_strategy, template_source  # noqa: E402
from terminal.backtest.optimize import optimize  # noqa: E402
from terminal.backtest.runner import BacktestRequest  # noqa: E402

FASTS = list(range(5, 55, 5))  # 10 × 10 = 100 pairs
SLOWS = list(range(60, 260, 20))


def direct_vectorbt(frame: pd.DataFrame, pairs: list[tuple[int, int]]) -> pd.DataFrame:
    """The grid as a vectorbt user writes it: every pair a column, one simulation, the usual summary.
    Long above the slow average, short below; a change of side reverses at the next open to 95 % of
    equity (``from_signals`` cannot reverse with a percent size, so target-percent orders)."""
    import vectorbt as vbt
    from vectorbt.portfolio.enums import SizeType

    close = frame["close"]
    fast = vbt.MA.run(close, window=[f for f, _ in pairs]).ma.to_numpy()
    slow = vbt.MA.run(close, window=[s for _, s in pairs]).ma.to_numpy()
    wanted = np.where(np.isnan(slow), np.nan, np.sign(fast - slow))
    before = np.vstack([np.full((1, len(pairs)), np.nan), wanted[:-1]])
    change = ~np.isnan(before) & (wanted != 0) & (wanted != before)  # a cross, as sma_cross trades
    size = np.where(change, wanted * 0.95, np.nan)
    size = np.vstack([np.full((1, len(pairs)), np.nan), size[:-1]])  # decided at a close, filled next open
    previous_close = np.concatenate([frame["open"].to_numpy()[:1], close.to_numpy()[:-1]])
    portfolio = vbt.Portfolio.from_orders(close=close.to_numpy()[:, None], size=size,
                                          size_type=SizeType.TargetPercent, price=frame["open"].to_numpy()[:, None],
                                          val_price=previous_close[:, None], size_granularity=1.0,
                                          init_cash=100_000, freq="1min")
    return pd.DataFrame({"total_return": portfolio.total_return().to_numpy(),
                         "sharpe": portfolio.sharpe_ratio().to_numpy(),
                         "max_drawdown": portfolio.max_drawdown().to_numpy(),
                         "trades": portfolio.trades.count().to_numpy()})


def our_grid(frame: pd.DataFrame, pairs: list[tuple[int, int]]) -> pd.DataFrame:
    from terminal.backtest.engines.vectorbt_engine import run_grid

    strategy = load_strategy(template_source("sma_cross"), "sma_cross")
    rows = [row for chunk in run_grid(strategy, {"BENCH": frame}, [{"fast": f, "slow": s} for f, s in pairs],
                                      100_000, 0.0, 0.0, Sizing(percent=0.95), 252 * 390) for row in chunk]
    return pd.DataFrame(rows)


def timed(label: str, work: int, call) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - started
    if isinstance(result, pd.DataFrame) and "error" in result and (result["error"] != "").any():
        raise SystemExit(f"{label}: runs failed: {result['error'].unique()[:3]}")
    rate = work / seconds
    print(f"  {label:<46} {seconds:8.1f} s {rate:>13,.0f} bar-runs/s", flush=True)
    return rate


def start_cluster(workers: int) -> tuple[str, subprocess.Popen]:
    from terminal.backtest.cluster import ClusterError, connect

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "terminal", "cluster", "--port", str(port), "--workers",
                                str(workers)], stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"tcp://127.0.0.1:{port}"
    for _ in range(180):
        try:
            client = connect(address)
            client.wait_for_workers(workers, timeout=60)
            client.close()
            return address, process
        except ClusterError:
            time.sleep(0.5)
    raise SystemExit("quant-terminal cluster did not start")


def stop_cluster(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--event-runs", type=int, default=len(FASTS) * len(SLOWS))
    args = parser.parse_args()
    frame = bars(args.bars)
    pairs = [(f, s) for f in FASTS for s in SLOWS]
    work = args.bars * len(pairs)
    print(f"SMA crossover grid: {len(pairs)} pairs × {args.bars:,} one-minute bars ({work:,} bar-runs); "
          f"event engines: the first {max(1, args.event_runs // len(SLOWS)) * len(SLOWS)} pairs; "
          f"{os.cpu_count()} cores")
    direct_vectorbt(frame.iloc[:500], pairs[:2])  # vectorbt's kernels compiled / loaded before any timing
    our_grid(frame.iloc[:500], pairs[:2])
    small = frame.iloc[:20_000]
    expected, got = direct_vectorbt(small, pairs), our_grid(small, pairs)  # the same work, or no comparison
    if not (np.array_equal(expected["trades"], got["trades"])
            and np.allclose(expected["total_return"], got["total_return"], rtol=1e-9)):
        raise SystemExit("run_grid and direct vectorbt disagree: the baseline is not the same grid")
    base = timed("vectorbt directly (baseline, 1 process)", work, lambda: direct_vectorbt(frame, pairs))
    ours = timed("ours: run_grid (1 process)", work, lambda: our_grid(frame, pairs))
    space = {"fast": FASTS, "slow": SLOWS}
    request = BacktestRequest(template_source("sma_cross"), {"BENCH": frame}, "sma_cross", engine="vectorized",
                              periods_per_year=252 * 390)
    pooled = timed("ours: optimize --engine vectorized (pool of 2)", work, lambda: optimize(request, space, 2))
    event = BacktestRequest(template_source("sma_cross"), {"BENCH": frame}, "sma_cross", engine="backtrader",
                            periods_per_year=252 * 390)
    event_space = {"fast": FASTS[:max(1, args.event_runs // len(SLOWS))], "slow": SLOWS}
    event_work = args.bars * len(FASTS[:max(1, args.event_runs // len(SLOWS))]) * len(SLOWS)

    def event_grid(cluster: str | None = None) -> pd.DataFrame:
        return optimize(event, event_space, 2, cluster=cluster)

    pool = timed("ours: optimize --engine backtrader (pool of 2)", event_work, event_grid)
    dask = {}
    for workers in (1, 2):
        address, process = start_cluster(workers)
        try:
            dask[workers] = timed(f"ours: backtrader on Dask, {workers} worker(s)", event_work,
                                  lambda address=address: event_grid(address))
        finally:
            stop_cluster(process)
    print(f"vectorized (1 process) / direct vectorbt: {ours / base:.2f}x (target >= 0.7x)")
    print(f"vectorized pool / backtrader pool:        {pooled / pool:.1f}x (target >= 20x)")
    print(f"Dask 2 workers / 1 worker:                {dask[2] / dask[1]:.2f}x (target >= 1.8x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
