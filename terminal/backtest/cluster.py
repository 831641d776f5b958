"""Grids on a Dask distributed cluster: the same rows, progress and cancel as the process pool, on many machines.

- **Data once per worker.** The request (strategy source, bars, settings) is scattered to every
  worker once (``broadcast``); each task names only its parameter sets.
- **User code in a helper process.** A Dask worker runs tasks in threads, where no timer signal can
  stop a loop, so each worker thread keeps one helper process (spawned on its first task) that runs
  the strategy with the same per-run time limit as a pool worker (``optimize.run_task``). A helper
  that does not answer in time is killed, and so is one that a strategy ends (``os._exit``); its rows
  get the reason, and the next task starts a new helper. The bars are sent to a helper once.
- **A worker that dies loses only its tasks.** The scheduler reruns them on the other workers
  (``retries`` covers a task that fails while its worker goes down).
- **Bounded.** At most two tasks per worker thread are in flight; rows of statistics stream back
  back as each task ends.
- **Cancel** drops the queued tasks and kills every helper on the cluster, so runs in the middle of a
  long loop stop at once.

Workers need quant-terminal installed (the tasks are its functions): ``quant-terminal cluster`` starts
a scheduler and workers here, ``quant-terminal cluster --join tcp://HOST:8786`` adds this machine's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

import pandas as pd

from terminal.backtest.optimize import (
    WORKER_ENDED,
    batches,
    run_task,
    stage_text,
    task_size,
    warm_up,
)
from terminal.backtest.runner import BacktestRequest

RETRIES = 2  # a task is tried again this often when it fails with its worker
CONNECT_TIMEOUT = 10.0
HELPER_GRACE = 60.0  # seconds a helper may take to start (imports, vectorbt's kernels) beyond the runs' limits


class ClusterError(ValueError):
    """The cluster cannot be used (unreachable, no workers); the message says what to do."""


# --- in a Dask worker -------------------------------------------------------------------------------

def helper_main(fd: int, engine: str) -> None:
    """The helper process: runs the tasks it is sent, in its main thread (where the time limit's timer works)."""
    from multiprocessing.connection import Connection

    conn = Connection(fd)
    warm_up(engine)
    requests: dict[str, BacktestRequest] = {}
    while True:
        try:
            kind, token, payload = conn.recv()
        except (EOFError, OSError):  # the worker went away
            return
        if kind == "request":
            requests = {token: payload}  # one grid at a time per helper
            continue
        conn.send(run_task(requests[token], payload))


class _Helper:
    """A plain child process (a nanny's worker is daemonic and may not use multiprocessing's), on a socket pair."""

    def __init__(self, engine: str) -> None:
        ours, theirs = socket.socketpair()
        self.conn = Connection(ours.detach())
        fd = theirs.fileno()
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from terminal.backtest.cluster import helper_main; helper_main({fd}, {engine!r})"],
            pass_fds=(fd,), stdin=subprocess.DEVNULL)
        theirs.close()
        self.engine = engine
        self.token = ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait(timeout=5)
        self.conn.close()


_helpers: dict[int, _Helper] = {}
_lock = threading.Lock()


def _helper(engine: str) -> _Helper:
    key = threading.get_ident()
    with _lock:
        helper = _helpers.get(key)
        if helper is not None and (helper.engine != engine or not helper.alive()):
            helper.kill()
            helper = None
        if helper is None:
            helper = _helpers[key] = _Helper(engine)
        return helper


def _drop(helper: _Helper) -> None:
    helper.kill()
    with _lock:
        for key, value in list(_helpers.items()):
            if value is helper:
                del _helpers[key]


def kill_helpers() -> int:
    """Run on every worker at cancel: stop each helper now (a strategy may be in a long loop)."""
    with _lock:
        helpers = list(_helpers.values())
        _helpers.clear()
    for helper in helpers:
        helper.kill()
    return len(helpers)


def run_remote(request: BacktestRequest, token: str, param_sets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Dask task: the rows of ``param_sets``, computed in this worker thread's helper process."""
    helper = _helper(request.engine)
    try:
        if helper.token != token:
            helper.conn.send(("request", token, request))
            helper.token = token
        helper.conn.send(("run", token, param_sets))
        deadline = request.time_limit * len(param_sets) + HELPER_GRACE
        if helper.conn.poll(deadline):
            return helper.conn.recv()
        error = f"stopped after the time limit of {request.time_limit:g} s per run (does the strategy loop forever?)"
    except (EOFError, OSError, BrokenPipeError):
        error = WORKER_ENDED
    _drop(helper)
    return [{**params, "error": error} for params in param_sets]


# --- in the terminal or the CLI ----------------------------------------------------------------------

def connect(address: str) -> Any:
    """A client of the scheduler at ``address`` with at least one worker; ClusterError says what is wrong."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("a Dask cluster needs Dask's distributed scheduler: pip install 'quant-terminal[cluster]' "
                           "(the desktop bundle has no cluster client)") from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} ({exc}); start one with "
                           "'quant-terminal cluster' or check the address (tcp://HOST:8786)") from None
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except TimeoutError:
        client.close()
        raise ClusterError(f"the Dask scheduler at {address} has no workers; start some with "
                           f"'quant-terminal cluster --join {address}'") from None
    return client


def worker_threads(client: Any) -> int:
    return sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()) or 1


def optimize_on_cluster(address: str, request: BacktestRequest, combos: Iterable[dict[str, Any]],
                        on_result: Callable[[dict[str, Any]], None] | None = None,
                        cancelled: Callable[[], bool] = lambda: False,
                        on_stage: Callable[[str], None] | None = None) -> pd.DataFrame:
    """``optimize`` on the cluster at ``address``: one row per parameter set that finished."""
    if on_stage is not None:
        on_stage(f"connecting to the Dask scheduler at {address} …")
    client = connect(address)
    rows: list[dict[str, Any]] = []
    token = uuid.uuid4().hex
    futures: dict[Any, list[dict[str, Any]]] = {}
    try:
        threads = worker_threads(client)
        if on_stage is not None:
            on_stage(stage_text(request.engine, threads, f" on the cluster at {address}"))
        [shared] = client.scatter([replace(request)], broadcast=True, hash=False)
        total = len(combos) if hasattr(combos, "__len__") else 0
        todo = batches(combos, task_size(request.engine, total, threads))

        def submit() -> bool:
            batch = next(todo, None)
            if batch is None:
                return False
            future = client.submit(run_remote, shared, token, batch, retries=RETRIES, pure=False)
            futures[future] = batch
            return True

        for _ in range(2 * threads):
            if not submit():
                break
        while futures:
            if cancelled():
                client.cancel(list(futures))
                client.run(kill_helpers)
                break
            finished = [f for f in list(futures) if f.done()]
            if not finished:
                time.sleep(0.05)
                continue
            for future in finished:
                batch = futures.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - a task that failed on every try: its rows say why
                    result = [{**params, "error": f"failed on the cluster: {type(exc).__name__}: {exc}"}
                              for params in batch]
                for row in result:
                    rows.append(row)
                    if on_result is not None:
                        on_result(row)
                if not cancelled():
                    submit()
    finally:
        client.close()
    return pd.DataFrame(rows)
