"""Grid search over declared parameters across worker processes, and a walk-forward split.

At most ``2 × workers`` runs are in flight, so memory stays bounded however large the
grid; results stream to ``on_result`` as they finish. Cancel by returning True from
``cancelled``: queued runs are dropped and the pool is shut down.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from terminal.backtest.runner import BacktestRequest, execute


def grid(space: dict[str, Iterable[Any]]) -> list[dict[str, Any]]:
    names = list(space)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(list(space[n]) for n in names))]


def _run_one(request: BacktestRequest) -> tuple[dict[str, Any], dict[str, float], str]:
    result = execute(request)
    return request.params, result.statistics, result.error


def optimize(request: BacktestRequest, space: dict[str, Iterable[Any]], workers: int | None = None,
             on_result: Callable[[dict[str, Any], dict[str, float]], None] | None = None,
             cancelled: Callable[[], bool] = lambda: False) -> pd.DataFrame:
    """One row per parameter set: the parameters, then every statistic (or ``error``)."""
    combos = grid(space)
    workers = max(1, workers or os.cpu_count() or 1)
    rows: list[dict[str, Any]] = []
    pending: set[Future] = set()
    todo = iter(combos)
    context = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        while True:
            while len(pending) < 2 * workers and not cancelled():
                params = next(todo, None)
                if params is None:
                    break
                pending.add(pool.submit(_run_one, replace(request, params={**request.params, **params})))
            if not pending:
                break
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                params, statistics, error = future.result()
                rows.append({**params, **statistics, "error": error})
                if on_result is not None:
                    on_result(params, statistics)
            if cancelled():
                for future in pending:
                    future.cancel()
                break
    return pd.DataFrame(rows)


def heatmap(results: pd.DataFrame, x: str, y: str, metric: str = "sharpe") -> pd.DataFrame:
    """Pivot of ``metric`` over two parameters, for the 2-D heatmap."""
    return results.pivot_table(index=y, columns=x, values=metric, aggfunc="max")


@dataclass(frozen=True)
class WalkForward:
    best_params: dict[str, Any]
    in_sample: dict[str, float]
    out_of_sample: dict[str, float]
    table: pd.DataFrame


def walk_forward(request: BacktestRequest, space: dict[str, Iterable[Any]], split: float = 0.7,
                 metric: str = "sharpe", workers: int | None = None) -> WalkForward:
    """Optimize on the first ``split`` of the bars, then run the best parameters on the rest."""
    first = next(iter(request.frames.values()))
    cut = first.index[int(len(first) * split)]
    in_frames = {s: f[f.index < cut] for s, f in request.frames.items()}
    out_frames = {s: f[f.index >= cut] for s, f in request.frames.items()}
    table = optimize(replace(request, frames=in_frames), space, workers)
    ranked = table[table["error"] == ""].sort_values(metric, ascending=False, key=lambda s: s.fillna(-math.inf))
    if ranked.empty:
        raise ValueError("every in-sample run failed; see the 'error' column")
    best = {name: ranked.iloc[0][name] for name in space}
    best = {k: (v.item() if hasattr(v, "item") else v) for k, v in best.items()}
    out = execute(replace(request, frames=out_frames, params={**request.params, **best}))
    return WalkForward(best, {k: ranked.iloc[0][k] for k in out.statistics}, out.statistics, table)
