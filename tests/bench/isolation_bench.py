"""What keeping user strategy code out of the terminal's process costs.

Measured: reading a strategy's parameters from its syntax tree (what the editor, the optimizer
dock and the CLI do now) against executing the module in-process (what they did before);
the editor's check (the module loaded in a fresh worker process) and a whole backtest in a
worker against the same backtest in-process (baseline); and how fast a 10^8-point grid is
refused, with the memory it takes.
Run: python tests/bench/isolation_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from terminal.backtest.loader import load_strategy, read_declaration, template_source  # noqa: E402
from terminal.backtest.optimize import grid, parse_values  # noqa: E402
from terminal.backtest.runner import BacktestRequest, check_in_worker, execute, run_in_worker  # noqa: E402
from terminal.data import read_bars_csv  # noqa: E402


def median_seconds(action, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    source = template_source("sma_cross")
    import backtesting

    goog = read_bars_csv(Path(backtesting.__file__).parent / "test" / "GOOG.csv")
    request = BacktestRequest(source, {"GOOG": goog}, "sma_cross", time_limit=120)

    static = median_seconds(lambda: read_declaration(source, "sma_cross"), 200)
    exec_in_process = median_seconds(lambda: load_strategy(source, "sma_cross"), 200)
    print(f"parameters from the syntax tree   {static * 1e3:8.3f} ms   (exec in-process, before: "
          f"{exec_in_process * 1e3:.3f} ms; {static / exec_in_process:.2f}x)")
    check = median_seconds(lambda: check_in_worker(source, "sma_cross"), args.repeat)
    print(f"check on save, module in a worker {check * 1e3:8.1f} ms")
    inline = median_seconds(lambda: execute(request), args.repeat)
    worker = median_seconds(lambda: run_in_worker(request), args.repeat)
    print(f"backtest of GOOG ({len(goog)} bars)  in a worker {worker * 1e3:.0f} ms, in-process (baseline) "
          f"{inline * 1e3:.0f} ms: the worker costs {(worker - inline) * 1e3:+.0f} ms ({worker / inline:.2f}x)")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        grid({"fast": parse_values("1:10000:1", 10), "slow": parse_values("1:10000:1", 30)})
    except ValueError:
        pass
    refused = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"10^8-point grid refused in {refused * 1e3:.0f} ms, peak {peak / 2**20:.1f} MiB "
          "(before: built first, ~190 MB/s until killed at 10 GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
