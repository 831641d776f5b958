"""Simulator benchmark: order round trip (placeOrder -> Filled) and quote throughput with 100 subscriptions.

Client: ib_async over loopback. Baseline in the same run: a bare asyncio TCP echo
round trip on loopback, the floor any socket protocol pays.
Run: python tests/bench/sim_bench.py [--orders 500] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import ib_async  # noqa: E402
import numpy as np  # noqa: E402

from terminal.sim.tws_server import SimServer  # noqa: E402


async def echo_baseline(rounds: int) -> list[float]:
    async def handle(reader, writer):  # type: ignore[no-untyped-def]
        while data := await reader.read(64):
            writer.write(data)
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        writer.write(b"ping")
        await writer.drain()
        await reader.readexactly(4)
        times.append((time.perf_counter() - t0) * 1000)
    writer.close()
    server.close()
    return times


async def order_round_trips(port: int, count: int) -> list[float]:
    ib = ib_async.IB()
    await ib.connectAsync("127.0.0.1", port, clientId=11, timeout=5)
    ib.client.MaxRequests = 0  # the client throttles to 45 requests/s by default; measure the server instead
    [contract] = await ib.qualifyContractsAsync(ib_async.Stock("AAPL", "SMART", "USD"))
    ib.reqMktData(contract)
    await asyncio.sleep(0.5)
    times = []
    for n in range(count):
        done = asyncio.Event()
        trade = ib.placeOrder(contract, ib_async.MarketOrder("BUY" if n % 2 == 0 else "SELL", 100))
        t0 = time.perf_counter()
        trade.filledEvent += lambda _, done=done: done.set()
        if trade.orderStatus.status != "Filled":
            await asyncio.wait_for(done.wait(), 5)
        times.append((time.perf_counter() - t0) * 1000)
    ib.disconnect()
    return times


async def quote_throughput(port: int, subscriptions: int, seconds: float) -> tuple[float, int]:
    ib = ib_async.IB()
    await ib.connectAsync("127.0.0.1", port, clientId=12, timeout=5)
    ib.client.MaxRequests = 0
    symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "META", "NVDA", "TSLA", "AMD", "INTC", "JPM", "BAC", "XOM", "CVX",
               "KO", "PEP", "WMT", "JNJ", "PG", "V", "MA", "SPY", "QQQ"]
    contracts = await ib.qualifyContractsAsync(*[ib_async.Stock(s, "SMART", "USD") for s in symbols])
    count = [0]
    original = ib.wrapper.priceSizeTick

    def counting(*args):  # type: ignore[no-untyped-def]
        count[0] += 1
        return original(*args)

    ib.wrapper.priceSizeTick = counting
    for n in range(subscriptions):  # several request ids per contract when there are more requests than symbols
        ib.reqMktData(contracts[n % len(contracts)])
    await asyncio.sleep(1.0)
    count[0] = 0
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - t0
    ib.disconnect()
    return count[0] / elapsed, len(contracts)


async def main_async(args: argparse.Namespace) -> None:
    baseline = await echo_baseline(args.orders)
    server = SimServer(port=0, seed=1, tick_interval=args.tick)
    await server.start()
    try:
        trips = await order_round_trips(server.port, args.orders)
        rate, distinct = await quote_throughput(server.port, args.subscriptions, args.seconds)
    finally:
        await server.stop()
    p50, p99 = statistics.median(trips), float(np.percentile(trips, 99))
    b50, b99 = statistics.median(baseline), float(np.percentile(baseline, 99))
    print(f"order round trip placeOrder -> Filled ({args.orders} MKT orders, ib_async): p50 {p50:.2f} ms, "
          f"p99 {p99:.2f} ms (target p50 <= 2 ms)")
    print(f"baseline bare TCP echo on loopback:                    p50 {b50:.3f} ms, p99 {b99:.3f} ms; "
          f"ratio p50 {p50 / b50:.1f}x")
    print(f"quotes delivered: {rate:,.0f} price ticks/s to one client with {args.subscriptions} subscriptions "
          f"({distinct} instruments, market tick every {args.tick * 1000:.0f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tick", type=float, default=0.05, help="simulator tick interval in seconds")
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
