"""Order path benchmark: what identity, risk checks and the write-ahead record cost per order.

Measured: 500 market orders through the order service of a real TradingSession (qualified
instrument, risk rules, committed to SQLite before sending, fill and status written in one
transaction), time until ``place()`` returns (the order is at the broker) and until the
session shows it Filled. Baseline in the same run: the same orders through the bare
IBBroker (ib_async ``placeOrder`` with an orderRef, no checks, no records), to Filled.
Both with ib_async's 45-requests-per-second client throttle off (it would dominate p99).
Run: python tests/bench/order_bench.py [--orders 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from terminal.broker.events import OrderEvent  # noqa: E402
from terminal.broker.ib import IBBroker  # noqa: E402
from terminal.config import load_settings  # noqa: E402
from terminal.domain import Instrument, Order, OrderSide, OrderStatus  # noqa: E402
from terminal.services.session import TradingSession  # noqa: E402
from terminal.sim.tws_server import SimServer  # noqa: E402
from terminal.store import Store  # noqa: E402


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


async def bare_broker(port: int, count: int) -> list[float]:
    broker = IBBroker()
    broker.ib.client.MaxRequests = 0  # the client throttles to 45 requests/s by default; measure our path instead
    await broker.connect("127.0.0.1", port, 11)
    aapl = await broker.qualify(Instrument("AAPL"))
    filled: dict[str, asyncio.Future] = {}

    def on_event(event: object) -> None:
        if isinstance(event, OrderEvent) and event.order.status is OrderStatus.FILLED:
            future = filled.get(event.order.client_order_id)
            if future is not None and not future.done():
                future.set_result(None)

    broker.events.subscribe(on_event)
    times = []
    for n in range(count):
        key = f"bare-{n}"
        filled[key] = asyncio.get_running_loop().create_future()
        side = OrderSide.BUY if n % 2 == 0 else OrderSide.SELL
        t0 = time.perf_counter()
        await broker.place(Order(aapl, side, 10, client_order_id=key))
        await filled[key]
        times.append((time.perf_counter() - t0) * 1000)
    await broker.disconnect()
    return times


async def order_service(port: int, count: int, folder: Path) -> tuple[list[float], list[float]]:
    settings = load_settings(config_path=folder / "none.toml", environ={"QT_NO_KEYRING": "1"}, overrides={
        "db_url": f"sqlite:///{folder / 'bench.sqlite'}", "ib": f"127.0.0.1:{port}:12", "confirm_orders": False})
    broker = IBBroker()
    broker.ib.client.MaxRequests = 0
    session = TradingSession(settings, Store.open(settings.resolved_db_url), broker)
    await session.start()
    aapl = await session.market.qualify("AAPL")
    await session.market.subscribe(aapl)
    await asyncio.sleep(0.3)
    sent_times, filled_times = [], []
    for n in range(count):
        side = OrderSide.BUY if n % 2 == 0 else OrderSide.SELL
        t0 = time.perf_counter()
        order = await session.orders.place(Order(aapl, side, 10), confirmed=True)
        sent_times.append((time.perf_counter() - t0) * 1000)
        while session.orders.orders[order.client_order_id].status is not OrderStatus.FILLED:
            await asyncio.sleep(0)
        filled_times.append((time.perf_counter() - t0) * 1000)
    await session.stop()
    session.store.close()
    return sent_times, filled_times


async def main(count: int) -> None:
    server = SimServer(port=0, seed=3, tick_interval=60.0)  # a still market: nothing but the orders
    await server.start()
    with tempfile.TemporaryDirectory() as scratch:
        bare = await bare_broker(server.port, count)
        sent, filled = await order_service(server.port, count, Path(scratch))
    await server.stop()
    b50, b99 = percentiles(bare)
    s50, s99 = percentiles(sent)
    f50, f99 = percentiles(filled)
    print(f"{count} market orders, place -> Filled, loopback simulator:")
    print(f"  baseline, bare IBBroker.place:           p50 {b50:.2f} ms  p99 {b99:.2f} ms")
    print(f"  order service (checks + write-ahead):    p50 {f50:.2f} ms  p99 {f99:.2f} ms  ({f50 / b50:.1f}x)")
    print(f"    of which until sent (record committed): p50 {s50:.2f} ms  p99 {s99:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    asyncio.run(main(parser.parse_args().orders))
