"""Live strategy benchmark: what one closed bar costs a strategy running live in its worker, and what the order
path adds — each with a baseline measured in the same run.

1. Decision per bar, by history length: the SMA crossover's worker answering one new bar after warming up on
   1,000 / 10,000 / 50,000 bars (it runs ``init`` again over the whole history, then ``next``). Baseline: the
   same pipe round trip to a worker whose strategy does nothing (no indicators).
2. Bar to order at the simulator: a strategy that trades every 5-second bar, on the simulator over loopback
   through the real session and order service; from the 5-second bar that closes a bar reaching the session
   to the order's fill reaching it. Baseline: a market order from ``OrderService.place`` to its fill (the
   ticket's path), same session.

Run: python tests/bench/live_bench.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

NOTHING = '''
from terminal.backtest.api import Strategy


class Nothing(Strategy):
    params = {}
'''


def _rows(n: int) -> list:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    return [(i * 5_000_000_000, c, c * 1.001, c * 0.999, c, 100.0) for i, c in enumerate(close)]


def _per_bar(source: str, name: str, params: dict, history: int, bars: int = 200) -> float:
    from terminal.backtest.api import Sizing
    from terminal.backtest.live import LiveWorker

    rows = _rows(history + bars)
    worker = LiveWorker(source, name, params, Sizing(units=10), "X")
    try:
        worker.started(30)
        worker.warm(rows[:history], [0.0] * history, 100_000.0, 300)
        started = time.perf_counter()
        for row in rows[history:]:
            worker.decide(row, 0.0, 100_000.0, 30)
        return (time.perf_counter() - started) / bars
    finally:
        worker.stop()


def decisions() -> None:
    from terminal.backtest.loader import template_source

    sma = template_source("sma_cross")
    for history in (1_000, 10_000, 50_000):
        base = _per_bar(NOTHING, "nothing", {}, history)
        took = _per_bar(sma, "sma_cross", {"fast": 10, "slow": 30}, history)
        print(f"decision per bar after {history:>6,} bars: sma_cross {took * 1000:.2f} ms; a strategy doing "
              f"nothing {base * 1000:.2f} ms (the pipe and the bar's arrays); {took / base:.1f}×")


FLIP = '''
from terminal.backtest.api import Strategy


class Flip(Strategy):
    params = {}

    def next(self):
        if self.position == 0:
            self.buy(10)
        else:
            self.close()
'''


async def _order_path(folder: str) -> None:
    from terminal.broker.ib import IBBroker
    from terminal.config import load_settings
    from terminal.domain import Order, OrderSide, OrderType
    from terminal.services.session import TradingSession
    from terminal.sim.tws_server import SimServer
    from terminal.store import Store

    sim = SimServer(port=0, seed=9, tick_interval=0.05)
    await sim.start()
    settings = load_settings(config_path=Path(folder) / "none.toml", environ={"QT_NO_KEYRING": "1"},
                             overrides={"db_url": f"sqlite:///{folder}/live.sqlite", "ib": f"127.0.0.1:{sim.port}:1",
                                        "confirm_orders": False})
    session = TradingSession(settings, Store.open(settings.resolved_db_url), IBBroker())
    await session.start()
    try:
        aapl = await session.market.qualify("AAPL")
        await session.market.subscribe(aapl)
        while aapl.key not in session.market.quotes:
            await asyncio.sleep(0.05)
        manual = []
        for n in range(10):
            started = time.perf_counter()
            placed = await session.orders.place(Order(aapl, OrderSide.BUY if n % 2 == 0 else OrderSide.SELL, 10,
                                                      OrderType.MARKET), confirmed=True)
            while session.orders.orders[placed.client_order_id].filled_quantity < 10:
                await asyncio.sleep(0.001)
            manual.append(time.perf_counter() - started)
        strategies = session.strategies
        closed: dict[int, float] = {}  # bar start (s) -> when the terminal had it closed (perf_counter)
        arrived: dict[str, float] = {}  # client order id -> when its fill reached the session
        on_bar = strategies.on_bar

        def timed_bar(instrument, bar):  # type: ignore[no-untyped-def]
            now = time.perf_counter()
            for run in strategies.runs.values():
                if run.builder is not None and run.instrument.key == instrument.key:
                    t = int(bar.time.timestamp())
                    if t + 5 >= t - t % 5 + 5:
                        closed[t - t % 5] = now
            on_bar(instrument, bar)

        strategies.on_bar = timed_bar  # type: ignore[method-assign]
        session.orders.fill_added.connect(lambda fill: arrived.setdefault(fill.client_order_id, time.perf_counter()))
        run = await strategies.start("flip", FLIP, {}, "AAPL", "5s", warmup_bars=0, confirmed=True)
        deadline = time.monotonic() + 90
        while len(run.fills) < 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        latencies = [arrived[f.client_order_id] - closed[int(f.client_order_id.split("-")[1])] for f in run.fills
                     if f.client_order_id in arrived and int(f.client_order_id.split("-")[1]) in closed]
        await session.strategies.stop(run.run_id, flatten=True, confirmed=True)
        live, ticket = statistics.median(latencies), statistics.median(manual)
        print(f"closed bar to the strategy's fill, on the simulator: median {live * 1000:.1f} ms over "
              f"{len(latencies)} bars (decision in the worker, the store, risk, the order at the simulator, the "
              f"fill back); a market order from place() to its fill: median {ticket * 1000:.1f} ms; "
              f"{live / ticket:.1f}×")
    finally:
        await session.stop()
        session.store.close()
        await sim.stop()


def main() -> int:
    decisions()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_order_path(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
