"""Grid search over declared parameters across worker processes, and a walk-forward split.

At most ``2 × workers`` runs are in flight, so memory stays bounded however large the
grid; each finished run comes back as one row of statistics (no equity curve) and is
streamed to ``on_result``. Every run has the request's time limit inside its worker: a
strategy that loops forever becomes a row with an error, not a stuck grid. Cancel by
returning True from ``cancelled``: queued runs are dropped and the running workers are
killed, so cancelling returns at once even in the middle of a long run.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from terminal.backtest.runner import (
    BacktestRequest,
    TimeLimitReached,
    execute,
    quiet_stdout,
    run_in_worker,
)

# Grids larger than this are refused: the table of rows is kept in memory and shown in the UI.
MAX_COMBINATIONS = 20_000
# The pool is rebuilt after a strategy ends a worker process (os._exit, a crash) at most this often.
MAX_BROKEN_POOLS = 3
WORKER_ENDED = "a worker process ended while this ran (does the strategy call os._exit or crash the interpreter?)"


class Grid:
    """Every combination of the parameter values, counted before anything is built and produced one at a
    time: memory does not depend on the grid's size (larger grids are refused before any run)."""

    def __init__(self, space: dict[str, Iterable[Any]]) -> None:
        self.axes = {name: list(values) for name, values in space.items()}
        self.size = math.prod(len(values) for values in self.axes.values()) if self.axes else 0
        if self.size > MAX_COMBINATIONS:
            counts = " × ".join(f"{len(v):,} {k}" for k, v in self.axes.items())
            raise ValueError(f"{counts} = {self.size:,} parameter sets is more than {MAX_COMBINATIONS:,}; "
                             "use coarser steps or fewer values")

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = list(self.axes)
        for values in itertools.product(*self.axes.values()):
            yield dict(zip(names, values, strict=True))


def grid(space: dict[str, Iterable[Any]]) -> Grid:
    return Grid(space)


def _run_one(request: BacktestRequest) -> tuple[dict[str, Any], dict[str, float], str]:
    """One grid point in a pool worker, stopped by a timer signal at the request's time limit."""
    try:
        with time_limit(request.time_limit):
            result = execute(request)
    except TimeLimitReached:
        return request.params, {}, _late(request.time_limit)
    return request.params, result.statistics, result.error


def _late(limit: float) -> str:
    return f"stopped after the time limit of {limit:g} s"


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeLimitReached in this (main) thread after ``seconds`` (a timer signal; no-op where there is none)."""
    timed = hasattr(signal, "setitimer")
    if timed:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _alarm(_signum: int, _frame: Any) -> None:
    raise TimeLimitReached


def run_task(request: BacktestRequest, param_sets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for some grid points, in a worker: one run each on the event engines; on the vectorized engine one
    simulation for all of them, each parameter set's own code (``init``, ``signals``) under the time limit."""
    if request.engine != "vectorized":
        rows = []
        for params in param_sets:
            _params, statistics, error = _run_one(replace(request, params={**request.params, **params}))
            rows.append({**params, **statistics, "error": error})
        return rows
    from terminal.backtest.engines.vectorbt_engine import Plan, run_grid
    from terminal.backtest.loader import load_strategy

    try:
        strategy = load_strategy(request.strategy_source, request.strategy_name)
    except Exception as exc:  # noqa: BLE001 - the strategy's failure is each row's error
        return [{**params, "error": str(exc)} for params in param_sets]

    def guard(params: dict, build: Callable[[], Plan]) -> Plan:
        try:
            with time_limit(request.time_limit):
                return build()
        except TimeLimitReached:
            return Plan(params, None, 0.0, _late(request.time_limit))

    merged = [{**request.params, **params} for params in param_sets]
    chunks = run_grid(strategy, request.frames, merged, request.cash, request.commission, request.slippage,
                      request.sizing, request.periods_per_year, guard)
    rows = [row for chunk in chunks for row in chunk]
    fixed = set(request.params) - {k for params in param_sets for k in params}
    return [{**params, **{k: v for k, v in row.items() if k not in fixed}} for params, row in zip(param_sets, rows,
                                                                                                   strict=True)]


def warm_up(engine: str) -> None:
    """Worker initializer: the vectorized engine imports vectorbt and loads its compiled (numba) kernels once per
    process, before any task, so no run pays it; the kernels are compiled on first use and cached on disk."""
    quiet_stdout()
    if engine == "vectorized":
        from terminal.backtest.engines.vectorbt_engine import warm_up as warm

        warm()


def task_size(engine: str, combinations: int, workers: int) -> int:
    """Grid points per task: one on the event engines; on the vectorized engine enough for a few tasks per worker
    (one simulation each), at most one vectorbt chunk."""
    if engine != "vectorized":
        return 1
    from terminal.backtest.engines.vectorbt_engine import CHUNK_COLUMNS

    return max(1, min(CHUNK_COLUMNS, math.ceil(combinations / (2 * workers))))


def batches(combos: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    todo = iter(combos)
    while batch := list(itertools.islice(todo, size)):
        yield batch


def stage_text(engine: str, workers: int, where: str = "") -> str:
    if engine == "vectorized":
        return (f"starting {workers} worker(s){where}: loading vectorbt and its compiled kernels (numba: compiled "
                "on first use, then cached) …")
    return f"starting {workers} worker(s){where} …"


def _new_pool(workers: int, engine: str = "backtrader") -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=warm_up, initargs=(engine,))


def optimize(request: BacktestRequest, space: dict[str, Iterable[Any]], workers: int | None = None,
             on_result: Callable[[dict[str, Any]], None] | None = None,
             cancelled: Callable[[], bool] = lambda: False, cluster: str | None = None,
             on_stage: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per parameter set that finished: the parameters, then every statistic, then ``error``
    (empty when the run succeeded). ``on_result`` gets each row as it arrives, ``on_stage`` what is being
    prepared before the first. With ``cluster`` (a Dask scheduler address) the grid runs there."""
    combos = grid(space)
    if cluster:
        from terminal.backtest.cluster import optimize_on_cluster

        return optimize_on_cluster(cluster, request, combos, on_result, cancelled, on_stage)
    workers = max(1, min(workers or os.cpu_count() or 1, len(combos) or 1))
    if on_stage is not None:
        on_stage(stage_text(request.engine, workers))
    rows: list[dict[str, Any]] = []
    pending: dict[Future, list[dict[str, Any]]] = {}
    todo = batches(combos, task_size(request.engine, len(combos), workers))
    pool = _new_pool(workers, request.engine)
    broken = 0
    stopped = False

    def add(row: dict[str, Any]) -> None:
        rows.append(row)
        if on_result is not None:
            on_result(row)

    try:
        while True:
            while len(pending) < 2 * workers and not cancelled():
                batch = next(todo, None)
                if batch is None:
                    break
                pending[pool.submit(run_task, request, batch)] = batch
            if not pending:
                break
            done, _ = wait(set(pending), timeout=0.2, return_when=FIRST_COMPLETED)
            pool_broke = False
            for future in done:
                batch = pending.pop(future)
                try:
                    for row in future.result():
                        add(row)
                except BrokenProcessPool:
                    pool_broke = True
                    for params in batch:
                        add({**params, "error": WORKER_ENDED})
            if pool_broke:
                broken += 1
                for batch in pending.values():  # every run in flight went down with the pool
                    for params in batch:
                        add({**params, "error": WORKER_ENDED})
                pending.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                if broken >= MAX_BROKEN_POOLS:
                    raise OptimizationAborted(
                        f"stopped: the strategy ended its worker processes {broken} times (os._exit or a crash); "
                        f"{len(rows)} of {len(combos)} runs done", pd.DataFrame(rows))
                pool = _new_pool(workers, request.engine)
            if cancelled():
                stopped = True
                break
    finally:
        if stopped:
            _kill(pool)
        pool.shutdown(wait=not stopped, cancel_futures=True)
    return pd.DataFrame(rows)


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now (a run may be in the middle of a long or endless loop)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


def _succeeded(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["error"] == ""] if "error" in results else results


def heatmap(results: pd.DataFrame, x: str, y: str, metric: str = "sharpe") -> pd.DataFrame:
    """Pivot of ``metric`` over two parameters (the best value where other parameters vary), for the 2-D heatmap."""
    return _succeeded(results).pivot_table(index=y, columns=x, values=metric, aggfunc="max").sort_index().sort_index(
        axis=1)


def rank(results: pd.DataFrame, metric: str = "sharpe") -> pd.DataFrame:
    """Every row, best ``metric`` first; runs without a value (failed, or NaN) last."""
    return results.sort_values(metric, ascending=False, na_position="last")


def best_row(results: pd.DataFrame, metric: str = "sharpe") -> pd.Series:
    ok = _succeeded(results)
    if ok.empty or metric not in ok:
        raise ValueError("every run failed; see the 'error' column")
    return rank(ok, metric).iloc[0]


class OptimizationAborted(Exception):
    """The grid could not go on; ``table`` holds the runs that finished."""

    def __init__(self, message: str, table: pd.DataFrame) -> None:
        super().__init__(message)
        self.table = table


class OptimizationCancelled(Exception):
    """The user cancelled a walk-forward; ``table`` holds the in-sample runs that finished."""

    def __init__(self, table: pd.DataFrame) -> None:
        super().__init__(f"cancelled after {len(table)} runs")
        self.table = table


@dataclass(frozen=True)
class WalkForward:
    best_params: dict[str, Any]
    in_sample: dict[str, float]
    out_of_sample: dict[str, float]
    table: pd.DataFrame
    split_time: pd.Timestamp


def walk_forward(request: BacktestRequest, space: dict[str, Iterable[Any]], split: float = 0.7,
                 metric: str = "sharpe", workers: int | None = None,
                 on_result: Callable[[dict[str, Any]], None] | None = None,
                 cancelled: Callable[[], bool] = lambda: False, cluster: str | None = None,
                 on_stage: Callable[[str], None] | None = None) -> WalkForward:
    """Optimize on the first ``split`` of the bars, then run the best parameters on the rest: a large drop
    from in-sample to out-of-sample means the grid fitted noise."""
    if not 0.1 <= split <= 0.9:
        raise ValueError(f"in-sample share {split:g} must be between 0.1 and 0.9")
    first = next(iter(request.frames.values()))
    cut = first.index[int(len(first) * split)]
    in_frames = {s: f[f.index < cut] for s, f in request.frames.items()}
    out_frames = {s: f[f.index >= cut] for s, f in request.frames.items()}
    table = optimize(replace(request, frames=in_frames), space, workers, on_result, cancelled, cluster, on_stage)
    if cancelled():
        raise OptimizationCancelled(table)
    top = best_row(table, metric)
    best = {name: (top[name].item() if hasattr(top[name], "item") else top[name]) for name in space}
    out = run_in_worker(replace(request, frames=out_frames, params={**request.params, **best}))
    if not out.ok:
        raise ValueError(f"the out-of-sample run failed: {out.error}")
    return WalkForward(best, {k: top[k] for k in out.statistics if k in top}, out.statistics, table, cut)


def parse_values(spec: str, default: Any) -> list[Any]:
    """The values of one parameter, typed like its declared default: ``start:stop:step`` (both ends
    included), or a comma list (``5,10,20``; ``true,false`` for a bool)."""
    kind = type(default)
    text = spec.strip()
    if not text:
        raise ValueError("give values: start:stop:step or a comma list")
    if ":" in text:
        if kind not in (int, float):
            raise ValueError(f"a range needs a numeric parameter, not {kind.__name__}")
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"range {text!r} must be start:stop:step")
        start, stop, step = (_number(p, kind) for p in parts)
        if step <= 0 or stop < start:
            raise ValueError(f"range {text!r}: step must be > 0 and stop ≥ start")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        if count > MAX_COMBINATIONS:
            raise ValueError(f"range {text!r} has {count:,} values")
        return [kind(round(start + k * step, 10)) for k in range(count)]
    values = [_number(p, kind) if kind in (int, float) else _typed(p.strip(), kind) for p in text.split(",") if p.strip()]
    return list(dict.fromkeys(values))


def _number(text: str, kind: type) -> Any:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text.strip()!r} is not a finite number")
    if kind is int and value != int(value):
        raise ValueError(f"{text.strip()!r} is not a whole number")
    return kind(value)


def _typed(text: str, kind: type) -> Any:
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{text!r} is not true or false")
        return text.lower() in ("true", "1", "yes")
    return text


def suggest_values(default: Any) -> str:
    """A starting grid around a declared default: half to double it in five steps."""
    if isinstance(default, bool):
        return "false,true"
    if isinstance(default, int) and default > 0:
        low, high = max(1, default // 2), default * 2
        step = max(1, (high - low) // 4)
        return f"{low}:{high}:{step}"
    if isinstance(default, float) and default > 0:
        return f"{default / 2:g}:{default * 2:g}:{default * 1.5 / 4:g}"
    return str(default)
