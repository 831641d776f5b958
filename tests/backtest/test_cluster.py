"""Grids on a real Dask cluster on loopback: a scheduler and worker processes started by ``quant-terminal
cluster``; the same rows as the process pool, the time limit, a worker killed mid-grid, cancel."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from terminal.backtest.loader import template_source
from terminal.backtest.optimize import optimize
from terminal.backtest.runner import BacktestRequest
from terminal.data import read_bars_csv

pytest.importorskip("distributed", reason="the cluster needs Dask's distributed (pip install -e '.[test]')")

SLEEPY = """
import time
from terminal.backtest.api import Strategy


class Sleepy(Strategy):
    params = {'n': 1, 'loop': False}

    def init(self):
        time.sleep(0.6)

    def next(self):
        while self.p.loop:
            pass
        if len(self.data) % (5 * self.p.n) == 0:
            self.buy(1) if self.position <= 0 else self.sell(1)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    from terminal.backtest.cluster import ClusterError, connect

    address = f"tcp://127.0.0.1:{_free_port()}"
    process = subprocess.Popen([sys.executable, "-m", "terminal", "cluster", "--port", address.rsplit(":", 1)[1],
                                "--workers", "2"], stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 90
    client = None
    while client is None:
        try:
            client = connect(address)
            client.wait_for_workers(2, timeout=60)
        except ClusterError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("quant-terminal cluster did not start a scheduler with 2 workers within 90 s")
            time.sleep(0.5)
    yield address, client
    client.close()
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def goog(real_csv_dir):
    return read_bars_csv(real_csv_dir / "GOOG.csv").iloc[:600]


@pytest.mark.parametrize("engine", ["backtrader", "vectorized"])
def test_a_grid_on_the_cluster_gives_the_rows_of_the_pool(cluster, goog, engine):
    if engine == "vectorized":
        pytest.importorskip("vectorbt", reason="the vectorized engine needs vectorbt (pip install -e '.[vector]')")
    address, _client = cluster
    request = BacktestRequest(template_source("sma_cross"), {"GOOG": goog}, "sma_cross", engine=engine)
    space = {"fast": [5, 10], "slow": [20, 40, 60]}
    stages: list[str] = []
    streamed: list[dict] = []
    remote = optimize(request, space, on_result=streamed.append, cluster=address, on_stage=stages.append)
    local = optimize(request, space, workers=2)
    assert len(streamed) == 6 and "connecting to the Dask scheduler" in stages[0]
    key = ["fast", "slow"]
    remote, local = (t.sort_values(key).reset_index(drop=True) for t in (remote, local))
    assert (remote["error"] == "").all()
    for name in ("total_return", "sharpe", "trades", "max_drawdown"):
        assert remote[name].tolist() == pytest.approx(local[name].tolist(), rel=1e-12, nan_ok=True)


def test_a_strategy_that_loops_is_stopped_at_the_time_limit_on_the_cluster(cluster, goog):
    address, _client = cluster
    request = BacktestRequest(SLEEPY, {"GOOG": goog}, "sleepy", time_limit=3)
    table = optimize(request, {"n": [1, 2], "loop": [False, True]}, cluster=address).set_index(["n", "loop"])
    assert table.loc[(1, True), "error"].startswith("stopped after the time limit of 3 s")
    assert (table.xs(False, level="loop")["error"] == "").all()


def test_a_worker_that_dies_loses_only_its_tasks(cluster, goog):
    address, client = cluster
    request = BacktestRequest(SLEEPY, {"GOOG": goog}, "sleepy", time_limit=60)
    rows: list[dict] = []
    killed: list[int] = []

    def kill_one_worker() -> None:
        while len(rows) < 2:
            time.sleep(0.05)
        pids = sorted(client.run(os.getpid).values())
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    table = optimize(request, {"n": list(range(1, 13))}, on_result=rows.append, cluster=address)
    killer.join()
    assert killed and len(table) == 12
    assert (table["error"] == "").all(), table["error"].unique()
    assert sorted(table["n"]) == list(range(1, 13))  # each run once: nothing lost, nothing twice
    client.wait_for_workers(2, timeout=60)  # the nanny started a new worker


def test_cancel_stops_the_runs_on_every_worker_at_once(cluster, goog):
    address, client = cluster
    request = BacktestRequest(SLEEPY, {"GOOG": goog}, "sleepy", {"loop": True}, time_limit=300)
    started = time.monotonic()
    table = optimize(request, {"n": [1, 2, 3, 4]}, cancelled=lambda: time.monotonic() - started > 3,
                     cluster=address)
    assert time.monotonic() - started < 20 and len(table) < 4
    assert client.run(lambda: __import__("terminal.backtest.cluster", fromlist=["_helpers"])._helpers) == {
        w: {} for w in client.scheduler_info()["workers"]}


def test_an_unreachable_scheduler_is_one_clear_message(goog):
    from terminal.backtest.cluster import ClusterError

    request = BacktestRequest(template_source("sma_cross"), {"GOOG": goog}, "sma_cross")
    with pytest.raises(ClusterError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:\d+ .*quant-terminal "
                                           "cluster"):
        optimize(request, {"fast": [5]}, cluster=f"tcp://127.0.0.1:{_free_port()}")
