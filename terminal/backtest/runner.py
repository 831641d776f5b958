"""Backtests in worker processes: progress through a queue, cancel, a time limit; a crash or a loop kills only the worker."""

from __future__ import annotations

import math
import multiprocessing as mp
import queue
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from terminal.analytics.stats import compute_statistics
from terminal.backtest.api import Sizing

ENGINES = ("backtrader", "backtesting")
COMPARABILITY = (
    "Both engines fill market orders at the next bar's open, take the same commission rate, and trade whole "
    "units; positions still open at the end are marked to the last close and flagged 'open'. backtesting.py "
    "skips an order it cannot afford at that open where backtrader fills it on margin, and it runs one "
    "instrument only, so pairs run on backtrader."
)


@dataclass
class BacktestRequest:
    strategy_source: str
    frames: dict[str, pd.DataFrame]
    strategy_name: str = "strategy"
    params: dict[str, Any] = field(default_factory=dict)
    engine: str = "backtrader"
    cash: float = 100_000.0
    commission: float = 0.0
    slippage: float = 0.0
    sizing: Sizing = field(default_factory=lambda: Sizing(percent=0.95))
    time_limit: float = 300.0
    fast: bool = True
    periods_per_year: float = 252.0


@dataclass
class BacktestResult:
    strategy_name: str
    engine: str
    params: dict[str, Any]
    statistics: dict[str, float]
    equity: pd.Series
    benchmark: pd.Series
    trades: list[dict]
    seconds: float
    error: str = ""
    traceback: str = ""
    error_line: int = 0
    notes: str = COMPARABILITY

    @property
    def ok(self) -> bool:
        return not self.error


def execute(request: BacktestRequest, progress: Callable[[float], None] | None = None) -> BacktestResult:
    """Run in this process (the worker calls this). Strategy errors become a result with the traceback."""
    from terminal.backtest.loader import load_strategy

    started = time.perf_counter()
    empty = pd.Series(dtype=float)
    try:
        if request.engine not in ENGINES:
            raise ValueError(f"engine {request.engine!r} is not known; use one of {', '.join(ENGINES)}")
        strategy = load_strategy(request.strategy_source, request.strategy_name)
        if request.engine == "backtrader":
            from terminal.backtest.engines.backtrader_engine import run_backtrader

            output = run_backtrader(strategy, request.frames, request.params, request.cash, request.commission,
                                    request.slippage, request.sizing, request.fast, progress)
        else:
            from terminal.backtest.engines.backtesting_engine import run_backtesting

            output = run_backtesting(strategy, request.frames, request.params, request.cash, request.commission,
                                     request.slippage, request.sizing, progress)
    except Exception as exc:
        text = traceback.format_exc()
        return BacktestResult(request.strategy_name, request.engine, request.params, {}, empty, empty, [],
                              time.perf_counter() - started, f"{type(exc).__name__}: {exc}", text,
                              _user_line(text, request.strategy_name))
    first = next(iter(request.frames.values()))
    benchmark = request.cash * first["close"] / first["close"].iloc[0]
    stats = compute_statistics(output.equity, [t["pnl"] for t in output.trades], output.exposure,
                               request.periods_per_year, benchmark)
    return BacktestResult(request.strategy_name, request.engine, request.params, stats, output.equity, benchmark,
                          output.trades, time.perf_counter() - started)


def _user_line(text: str, name: str) -> int:
    """Line number of the last traceback frame inside the user's strategy source."""
    line = 0
    marker = f'File "<{name}>", line '
    for row in text.splitlines():
        if marker in row:
            line = int(row.split(marker, 1)[1].split(",")[0])
    return line


def _worker(request: BacktestRequest, channel: mp.Queue) -> None:
    last = [0.0]

    def progress(fraction: float) -> None:
        if fraction - last[0] >= 0.01:
            last[0] = fraction
            channel.put(("progress", fraction))

    channel.put(("result", execute(request, progress)))


class Cancelled(RuntimeError):
    """The user cancelled the run."""


def run_in_worker(request: BacktestRequest, progress: Callable[[float], None] | None = None,
                  cancelled: Callable[[], bool] = lambda: False) -> BacktestResult:
    """Run ``request`` in a fresh process; blocks (call it from a thread). The worker is killed on cancel,
    at the time limit, or if it dies; the result then carries the reason instead of statistics."""
    context = mp.get_context("spawn")
    channel: mp.Queue = context.Queue()
    process = context.Process(target=_worker, args=(request, channel), daemon=True)
    started = time.perf_counter()
    process.start()
    empty = pd.Series(dtype=float)
    try:
        while True:
            try:
                kind, payload = channel.get(timeout=0.1)
            except queue.Empty:
                if cancelled():
                    raise Cancelled(f"backtest of {request.strategy_name} cancelled") from None
                if time.perf_counter() - started > request.time_limit:
                    return BacktestResult(request.strategy_name, request.engine, request.params, {}, empty, empty, [],
                                          request.time_limit, f"stopped after the time limit of "
                                          f"{request.time_limit:g} s (does the strategy loop forever?)")
                if not process.is_alive() and channel.empty():
                    return BacktestResult(request.strategy_name, request.engine, request.params, {}, empty, empty, [],
                                          time.perf_counter() - started,
                                          f"the backtest worker died (exit code {process.exitcode})")
                continue
            if kind == "progress" and progress is not None:
                progress(payload)
            elif kind == "result":
                return payload
    finally:
        if process.is_alive():
            process.kill()
        process.join(timeout=5)


def plain_json(value: Any) -> Any:
    """NaN and infinities become null, numpy scalars plain numbers: what ``json.dumps`` writes is standard JSON."""
    if hasattr(value, "item") and not isinstance(value, dict | list):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_json(v) for v in value]
    return value


def result_to_json(result: BacktestResult) -> dict[str, Any]:
    """Plain JSON for ``quant-terminal backtest --json`` and the store."""
    payload = {k: v for k, v in asdict(result).items() if k not in ("equity", "benchmark")}
    payload["equity"] = [[t.isoformat(), float(v)] for t, v in result.equity.items()]
    payload["benchmark"] = [[t.isoformat(), float(v)] for t, v in result.benchmark.items()]
    return plain_json(payload)
