"""Analytics service: the statsmodels work of the quant tools (pair scans, tests of a pair) in a worker process.

statsmodels takes seconds on long minute series (ADF on 20,000 bars: ~1.5 s) and runs Python, holding
the GIL, between its small LAPACK calls. In a thread it is slower still: measured on a 2-core machine
beside a 10 ms timer, 20 s against 1.5 s, OpenBLAS's own threads competing with the loop's. So one
worker process, started on first use and ended with the session, does it; the loop only sends the
series and gets the answer.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pandas as pd

from terminal.domain import DomainError

if TYPE_CHECKING:  # statsmodels (a second at import) loads in the worker only: the window starts without it
    from terminal.analytics import quant

# BLAS libraries size their thread pools from the environment when numpy loads in the worker. One thread:
# else OpenBLAS's spinning helpers fight the terminal's own threads and processes for the cores (ADF on
# 12,000 bars beside one busy process on 2 cores: 11-23 s, against 0.6-0.8 s single-threaded).
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class AnalyticsService:
    """One worker process for the quant tools; a worker that died (killed, out of memory) is replaced by the
    next call, which then fails with a DomainError only if the new one dies too."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def scan_pairs(self, closes: dict[str, pd.Series]) -> pd.DataFrame:
        """Engle-Granger over every pair of ``closes`` (see ``quant.scan_pairs``)."""
        return await self._run("scan_pairs", closes)

    async def pair_tests(self, y: pd.Series, x: pd.Series, ratio: float, intercept: float) -> quant.PairTests:
        """Spread, z-score, ADF and Johansen of one pair (see ``quant.pair_tests``)."""
        return await self._run("pair_tests", y, x, ratio, intercept)

    async def _run(self, function: str, *args: Any) -> Any:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
        pool = self._pool
        try:
            with _environment(WORKER_ENVIRONMENT):  # a spawning pool starts its process in submit()
                future = pool.submit(_in_worker, function, *args)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None
            raise DomainError("the analytics worker process ended; run it again") from None

    def close(self) -> None:
        """End the worker (queued work is dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _in_worker(function: str, *args: Any) -> Any:
    """Runs in the worker: ``terminal.analytics.quant.<function>(*args)``."""
    from terminal.analytics import quant

    return getattr(quant, function)(*args)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
