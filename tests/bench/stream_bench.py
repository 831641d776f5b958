"""End-to-end streaming benchmark: 500 symbols from the simulator process into the real terminal window.

What a trader runs: the simulator as a separate process (as TWS is), quotes over the socket through
ib_async, the broker adapter, the market service and into every dock of the real window (offscreen):
the watchlist with all symbols, one chart, the depth ladder, positions in five of them.

Prints for the terminal: tick messages/s decoded by its IB client (tickPrice/tickSize/tickString, as
TWS counts ticks), quote updates/s delivered into the watchlist model, the lateness of a 10 ms
QTimer (p50/p99: how long the loop makes a waiting event wait), the terminal process's CPU (the
simulator is a child process and is reported apart), and its memory after warm-up and at the end.
Ceiling in the same run: a bare ib_async client with no terminal consuming the same stream from a
simulator process started the same way.

Run: QT_QPA_PLATFORM=offscreen python tests/bench/stream_bench.py [--seconds 60] [--tick-rate 4]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import math
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from terminal.sim.contracts import Universe  # noqa: E402
from terminal.sim.process import SimulatorProcess  # noqa: E402

TICK_METHODS = ("priceSizeTick", "tickSize", "tickString")  # what ib_async's decoder calls per tick message


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process now (Linux /proc), in MB."""
    try:
        pages = int(Path(f"/proc/{pid or 'self'}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return math.nan
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_ticks(wrapper) -> list[int]:  # type: ignore[no-untyped-def]
    """Count the tick messages an ib_async Wrapper decodes (wraps its handlers on that instance)."""
    count = [0]
    for name in TICK_METHODS:
        original = getattr(wrapper, name)

        def counting(*args, _original=original):  # type: ignore[no-untyped-def]
            count[0] += 1
            return _original(*args)

        setattr(wrapper, name, counting)
    return count


def stock_symbols(count: int) -> list[str]:
    stocks = [item.instrument.symbol for item in Universe().listings if item.instrument.sec_type.value == "STK"]
    if len(stocks) < count:
        raise SystemExit(f"the simulator's universe has {len(stocks)} stocks, fewer than --symbols {count}")
    return stocks[:count]


# --- ceiling: a bare client --------------------------------------------------------------------------
async def bare_client(symbols: list[str], tick_rate: float, warmup: float, seconds: float) -> dict[str, float]:
    import ib_async

    sim = SimulatorProcess(seed=5, tick_rate=tick_rate)
    await sim.start()
    ib = ib_async.IB()
    try:
        await ib.connectAsync("127.0.0.1", sim.port, clientId=31, timeout=10)
        ib.client.MaxRequests = 0  # no terminal, no pacing: the fastest a client can subscribe
        contracts = await ib.qualifyContractsAsync(*[ib_async.Stock(s, "SMART", "USD") for s in symbols])
        ticks = count_ticks(ib.wrapper)
        updates = [0]
        ib.pendingTickersEvent += lambda tickers: updates.__setitem__(0, updates[0] + len(tickers))
        for contract in contracts:
            ib.reqMktData(contract)
        await asyncio.sleep(warmup)
        ticks[0] = updates[0] = 0
        cpu0, sim0, t0 = time.process_time(), cpu_seconds(sim.pid or 0), time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - t0
        return {"ticks": ticks[0] / elapsed, "updates": updates[0] / elapsed,
                "cpu": (time.process_time() - cpu0) / elapsed, "sim_cpu": (cpu_seconds(sim.pid or 0) - sim0) / elapsed,
                "subscribed": len(contracts)}
    finally:
        ib.disconnect()
        await sim.stop()


# --- the terminal -------------------------------------------------------------------------------------
def terminal_run(symbols: list[str], tick_rate: float, warmup: float, seconds: float,
                 profile: bool = False) -> dict[str, float]:
    import qasync
    from PySide6.QtWidgets import QApplication

    from terminal.config import load_settings
    from terminal.domain import Order, OrderSide, OrderStatus, OrderType
    from terminal.ui.main import build_session, open_window
    from tests.support.lag import TimerLag

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app, already_running=False)
    asyncio.set_event_loop(loop)
    folder = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    settings = load_settings(config_path=folder / "none.toml", environ={"QT_NO_KEYRING": "1"},
                             overrides={"db_url": f"sqlite:///{folder / 'bench.sqlite'}", "sim_tick_rate": tick_rate,
                                        "confirm_orders": False, "max_position": 1e9, "max_notional": 1e12})
    session = build_session(settings)
    window = loop.run_until_complete(open_window(session))
    window.resize(1600, 1000)
    window.show()
    started = time.perf_counter()

    async def fill_watchlist() -> None:
        for symbol in symbols:
            await window.watchlist.add_symbol(symbol)

    loop.run_until_complete(fill_watchlist())
    subscribed_in = time.perf_counter() - started
    first = session.market.instrument_for_symbol(symbols[0])
    window.show_instrument(first)
    for symbol in symbols[:5]:  # positions that tick with their quotes
        instrument = session.market.instrument_for_symbol(symbol)
        placed = loop.run_until_complete(session.orders.place(
            Order(instrument, OrderSide.BUY, 100, OrderType.MARKET), confirmed=True))
        deadline = time.perf_counter() + 10
        while session.orders.orders[placed.client_order_id].status is not OrderStatus.FILLED:
            if time.perf_counter() > deadline:
                raise SystemExit(f"the market order in {symbol} did not fill within 10 s")
            loop.run_until_complete(asyncio.sleep(0.05))
    ticks = count_ticks(session.broker.ib.wrapper)
    model = window.watchlist.model
    probe = TimerLag().start()
    lags = probe.lags
    loop.run_until_complete(asyncio.sleep(warmup))
    lags.clear()
    ticks[0] = 0
    received0 = model.updates_received
    sim_pid = getattr(session.simulator, "pid", None) or 0
    memory = [(0.0, rss_mb())]
    profiler = cProfile.Profile() if profile else None
    cpu0, sim0, t0 = time.process_time(), cpu_seconds(sim_pid), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    while (now := time.perf_counter()) - t0 < seconds:
        loop.run_until_complete(asyncio.sleep(min(5.0, seconds - (now - t0))))
        memory.append((time.perf_counter() - t0, rss_mb()))
    elapsed = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    result = {"ticks": ticks[0] / elapsed, "updates": (model.updates_received - received0) / elapsed,
              "cpu": (time.process_time() - cpu0) / elapsed, "sim_cpu": (cpu_seconds(sim_pid) - sim0) / elapsed,
              "lag_p50": statistics.median(lags) if lags else math.nan,
              "lag_p99": float(np.percentile(lags, 99)) if lags else math.nan,
              "lag_max": max(lags) if lags else math.nan,
              "rss_start": memory[0][1], "rss_end": memory[-1][1], "subscribed_in": subscribed_in,
              "watchlist_rows": model.rowCount()}
    half = [(t, m) for t, m in memory if t >= elapsed / 2]
    times, sizes = [t for t, _ in half], [m for _, m in half]
    result["rss_slope"] = float(np.polyfit(times, sizes, 1)[0]) * 60 if len(half) >= 2 else math.nan  # MB/min
    probe.stop()
    loop.run_until_complete(session.stop())
    window.close()
    session.store.close()
    loop.close()  # ends the loop's executor threads
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--tick-rate", type=float, default=4.0, help="simulator quotes/s per instrument")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds of the terminal run")
    parser.add_argument("--ceiling-seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--profile", action="store_true", help="print the terminal's profile of the measured run")
    args = parser.parse_args()
    symbols = stock_symbols(args.symbols)
    offered = args.symbols * args.tick_rate
    print(f"{args.symbols} symbols x {args.tick_rate:g} quotes/s = {offered:,.0f} quote updates/s offered by the "
          f"simulator process (5 tick messages each: bid, ask, last, volume, time); machine: {os.cpu_count()} cores",
          flush=True)
    bare = asyncio.run(bare_client(symbols, args.tick_rate, args.warmup, args.ceiling_seconds))
    print(f"ceiling, bare ib_async client ({bare['subscribed']} subscriptions, {args.ceiling_seconds:g} s): "
          f"{bare['ticks']:,.0f} ticks/s, {bare['updates']:,.0f} ticker updates/s, client CPU "
          f"{bare['cpu'] * 100:.0f} % of a core (simulator {bare['sim_cpu'] * 100:.0f} %)", flush=True)
    ours = terminal_run(symbols, args.tick_rate, args.warmup, args.seconds, args.profile)
    print(f"terminal ({ours['watchlist_rows']} watchlist rows, chart + ladder + 5 positions; {args.seconds:g} s after "
          f"{ours['subscribed_in']:.0f} s to qualify and subscribe):")
    print(f"  {ours['ticks']:,.0f} ticks/s decoded, {ours['updates']:,.0f} quote updates/s into the watchlist model "
          f"({ours['ticks'] / max(bare['ticks'], 1e-9):.2f}x the bare client's ticks)")
    print(f"  10 ms timer lag p50 {ours['lag_p50']:.1f} ms, p99 {ours['lag_p99']:.1f} ms, max {ours['lag_max']:.0f} ms "
          f"(target p99 <= 16 ms)")
    print(f"  terminal CPU {ours['cpu'] * 100:.0f} % of a core (target < 100 %); simulator process "
          f"{ours['sim_cpu'] * 100:.0f} %")
    print(f"  memory {ours['rss_start']:.0f} MB after warm-up, {ours['rss_end']:.0f} MB after {args.seconds:g} s "
          f"(second half: {ours['rss_slope']:+.1f} MB/min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
