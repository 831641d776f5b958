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

ENGINES = ("backtrader", "backtesting", "vectorized")
COMPARABILITY = (
    "Every engine fills market orders at the next bar's open, takes the same commission rate, and trades whole "
    "units; positions still open at the end are marked to the last close and flagged 'open'. An order the cash "
    "cannot pay at that open is refused by backtrader (status Margin) and skipped by backtesting.py; the "
    "vectorized engine (vectorbt) cuts it to the cash and says so in the notes. backtesting.py and the "
    "vectorized engine run one instrument only, so pairs run on backtrader."
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
    data_provenance: str = "unknown"  # Provenance.value of the bars (the weakest of the symbols')
    engine_reason: str = ""  # why this engine ran (engine_choice), said with the result
    trace: bool = False  # record orders, fills and indicators per bar for a step-through (backtrader only)


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
    data_provenance: str = "unknown"  # where the bars came from (Provenance.value); see data_warning
    trace: dict = field(default_factory=dict)  # with ``BacktestRequest.trace``: what a step-through plays

    @property
    def ok(self) -> bool:
        return not self.error


LOAD_TIME_LIMIT = 10.0  # seconds a strategy module may take to load (module-level code) in its worker


class TimeLimitReached(BaseException):  # not an Exception: nothing in a run may turn it into a strategy error
    pass


def execute(request: BacktestRequest, progress: Callable[[float], None] | None = None,
            loaded: Callable[[], None] | None = None, partial: Callable[[Any], None] | None = None) -> BacktestResult:
    """Run in this process (the worker calls this). Strategy errors become a result with the traceback."""
    from terminal.backtest.loader import load_strategy

    started = time.perf_counter()
    empty = pd.Series(dtype=float)
    try:
        if request.engine not in ENGINES:
            raise ValueError(f"engine {request.engine!r} is not known; use one of {', '.join(ENGINES)}")
        strategy = load_strategy(request.strategy_source, request.strategy_name)
        if loaded is not None:
            loaded()
        if request.trace and request.engine != "backtrader":
            raise ValueError(f"a step-through records on backtrader, not {request.engine}")
        if request.engine == "backtrader":
            from terminal.backtest.engines.backtrader_engine import run_backtrader

            output = run_backtrader(strategy, request.frames, request.params, request.cash, request.commission,
                                    request.slippage, request.sizing, request.fast, progress, request.trace,
                                    partial if request.trace else None)
        elif request.engine == "vectorized":
            from terminal.backtest.engines.vectorbt_engine import run_vectorized

            output = run_vectorized(strategy, request.frames, request.params, request.cash, request.commission,
                                    request.slippage, request.sizing, progress)
        else:
            from terminal.backtest.engines.backtesting_engine import run_backtesting

            output = run_backtesting(strategy, request.frames, request.params, request.cash, request.commission,
                                     request.slippage, request.sizing, progress)
    except (Exception, SystemExit) as exc:  # a strategy's sys.exit() is its error, never the process's exit
        text = traceback.format_exc()
        from terminal.backtest.loader import StrategyError

        if isinstance(exc, SystemExit):
            message = f"the strategy called sys.exit({exc.code!r})"
        elif isinstance(exc, StrategyError):  # already says what and where
            message = str(exc)
        else:
            message = f"{type(exc).__name__}: {exc}"
        return BacktestResult(request.strategy_name, request.engine, request.params, {}, empty, empty, [],
                              time.perf_counter() - started, message, text,
                              getattr(exc, "line", 0) or _user_line(text, request.strategy_name),
                              data_provenance=request.data_provenance)
    first = next(iter(request.frames.values()))
    benchmark = request.cash * first["close"] / first["close"].iloc[0]
    stats = compute_statistics(output.equity, [t["pnl"] for t in output.trades], output.exposure,
                               request.periods_per_year, benchmark)
    notes = " ".join([COMPARABILITY, *output.notes, *([f"Engine: {request.engine_reason}."]
                                                        if request.engine_reason else [])])
    return BacktestResult(request.strategy_name, request.engine, request.params, stats, output.equity, benchmark,
                          output.trades, time.perf_counter() - started, notes=notes,
                          data_provenance=request.data_provenance, trace=output.trace or {})


def _user_line(text: str, name: str) -> int:
    """Line number of the last traceback frame inside the user's strategy source."""
    line = 0
    marker = f'File "<{name}>", line '
    for row in text.splitlines():
        if marker in row:
            line = int(row.split(marker, 1)[1].split(",")[0])
    return line


class Cancelled(RuntimeError):
    """The user cancelled the run."""


# --- worker processes ------------------------------------------------------------------------------

@dataclass
class WorkerFailure:
    """Why a worker gave no result: it ran out of time, or its process ended (the strategy's doing)."""

    message: str


def quiet_stdout() -> None:
    """In a worker: what a strategy prints goes to stderr (the CLI's stdout may be JSON)."""
    import os
    import sys

    try:
        os.dup2(2, 1)
    except OSError:
        pass
    sys.stdout = sys.stderr


def _isolated(target: Callable[..., Any], args: tuple, channel: mp.Queue, streams: bool = False) -> None:
    """Body of every user-code worker: the strategy's prints go to stderr (the CLI's stdout may be JSON),
    progress and a 'loaded' mark go back on the channel, then the result. With ``streams`` the target also
    gets ``partial=``: what it hands it goes back as it runs (a step-through's trace, chunk by chunk)."""
    quiet_stdout()
    channel.put(("started", None))  # imports done: from here the strategy's load time counts
    last = [0.0]

    def progress(fraction: float) -> None:
        if fraction - last[0] >= 0.01:
            last[0] = fraction
            channel.put(("progress", fraction))

    def loaded() -> None:
        channel.put(("loaded", None))

    def partial(payload: Any) -> None:
        channel.put(("partial", payload))

    extra = {"partial": partial} if streams else {}
    try:
        value = target(*args, progress=progress, loaded=loaded, **extra)
    except BaseException as exc:  # noqa: BLE001 - the worker reports anything user code raised, then ends
        channel.put(("failed", f"{type(exc).__name__}: {exc}"))
        return
    channel.put(("result", value))


def supervise(target: Callable[..., Any], args: tuple, *, what: str, time_limit: float,
              load_time_limit: float = LOAD_TIME_LIMIT, progress: Callable[[float], None] | None = None,
              cancelled: Callable[[], bool] = lambda: False, partial: Callable[[Any], None] | None = None) -> Any:
    """Run ``target(*args, progress=, loaded=)`` in a fresh process and return its value, or a WorkerFailure.

    The worker is killed on cancel (Cancelled is raised), when the module takes longer than
    ``load_time_limit`` to load or the whole run longer than ``time_limit``, and whatever the
    strategy does (an endless loop, ``os._exit``, a crash) ends only the worker. Blocks: call it
    from a thread."""
    context = mp.get_context("spawn")
    channel: mp.Queue = context.Queue()
    process = context.Process(target=_isolated, args=(target, args, channel, partial is not None), daemon=True)
    started = time.perf_counter()
    process.start()
    load_started = 0.0
    is_loaded = False
    try:
        while True:
            try:
                kind, payload = channel.get(timeout=0.05)
            except queue.Empty:
                if cancelled():
                    raise Cancelled(f"{what} cancelled") from None
                now = time.perf_counter()
                elapsed = now - started
                if not load_started and elapsed > _STARTUP_LIMIT:
                    return WorkerFailure(f"{what}: the worker process did not start within {_STARTUP_LIMIT:g} s")
                if load_started and not is_loaded and now - load_started > load_time_limit:
                    return WorkerFailure(f"{what}: the strategy module did not finish loading within "
                                         f"{load_time_limit:g} s (an endless loop or a long computation at module "
                                         "level?); stopped")
                if elapsed > time_limit:
                    return WorkerFailure(f"{what}: stopped after the time limit of {time_limit:g} s "
                                         "(does the strategy loop forever?)")
                if not process.is_alive() and channel.empty():
                    process.join(timeout=1)
                    return WorkerFailure(f"{what}: {_ended(process.exitcode)}")
                continue
            if kind == "progress" and progress is not None:
                progress(payload)
            elif kind == "partial" and partial is not None:
                partial(payload)
            elif kind == "started":
                load_started = time.perf_counter()
            elif kind == "loaded":
                is_loaded = True
            elif kind == "failed":
                return WorkerFailure(f"{what}: {payload}")
            elif kind == "result":
                return payload
    finally:
        if process.is_alive():
            process.kill()
        process.join(timeout=5)
        channel.close()
        channel.join_thread()


# A spawned worker imports numpy and pandas before it reads the strategy: that is not the strategy's time.
_STARTUP_LIMIT = 60.0


def _ended(code: int | None) -> str:
    if code is not None and code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker process was killed by {name} (out of memory, or the strategy crashed the interpreter)"
    return (f"the strategy ended its worker process (exit code {code}): it must not call os._exit, and "
            "sys.exit only ends a strategy with an error")


def run_in_worker(request: BacktestRequest, progress: Callable[[float], None] | None = None,
                  cancelled: Callable[[], bool] = lambda: False,
                  load_time_limit: float = LOAD_TIME_LIMIT,
                  partial: Callable[[Any], None] | None = None) -> BacktestResult:
    """Run ``request`` in a fresh process; blocks (call it from a thread). The worker is killed on cancel
    (Cancelled is raised), at the time limit, or if it dies; the result then carries the reason."""
    started = time.perf_counter()
    outcome = supervise(execute, (request,), what=f"backtest of {request.strategy_name}",
                        time_limit=request.time_limit, load_time_limit=load_time_limit, progress=progress,
                        cancelled=cancelled, partial=partial)
    if isinstance(outcome, WorkerFailure):
        empty = pd.Series(dtype=float)
        return BacktestResult(request.strategy_name, request.engine, request.params, {}, empty, empty, [],
                              time.perf_counter() - started, outcome.message, data_provenance=request.data_provenance)
    return outcome


def _check_target(source: str, name: str, progress: Callable[[float], None],
                  loaded: Callable[[], None]) -> list:
    from terminal.backtest.loader import Problem, StrategyError, load_strategy

    try:
        load_strategy(source, name)
    except StrategyError as exc:
        return [Problem(exc.line or _user_line(traceback.format_exc(), name), exc.message)]
    loaded()
    return []


def check_in_worker(source: str, name: str = "strategy", load_time_limit: float = LOAD_TIME_LIMIT) -> list:
    """Load the strategy module in a worker (its module-level code runs there, never here): the problems
    found, each with its line, or an empty list."""
    from terminal.backtest.loader import Problem, check_strategy_source

    problems = check_strategy_source(source, name)
    if problems:
        return problems
    outcome = supervise(_check_target, (source, name), what=f"check of {name}",
                        time_limit=_STARTUP_LIMIT + load_time_limit, load_time_limit=load_time_limit)
    if isinstance(outcome, WorkerFailure):
        return [Problem(0, outcome.message)]
    return list(outcome)


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
