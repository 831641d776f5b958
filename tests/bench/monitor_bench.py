"""Monitor benchmark: requests/s through nginx, and the terminal's Qt loop while clients watch it.

Figures, all through a real nginx (Debian's, private prefix, basic auth, one worker) on this machine:
- baseline: nginx serving a static JSON file of the same size as the positions answer (no proxy);
- standalone: ``quant-terminal monitor`` (a separate process, reading a SQLite store that holds a
  terminal's snapshot with 20 positions) behind nginx, GET /api/positions;
- in-terminal: the real terminal window (offscreen) on the built-in simulator with 50 streaming
  symbols and 20 positions, ``--monitor`` on its own thread, behind nginx, GET /api/positions;
- the terminal's Qt loop while 10 event-stream clients and 100 requests/s (paced) come through
  nginx: the lateness of a 10 ms QTimer, p50/p99/max, against the same window with no monitor
  traffic measured just before (same run). Target p99 <= 16 ms.
Throughput is measured with ApacheBench (``ab -k -c 8``, apache2-utils) in its own process.

Run: QT_QPA_PLATFORM=offscreen python tests/bench/monitor_bench.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from terminal.monitor.nginx import render_nginx_config  # noqa: E402
from tests.monitor.nginx_support import start_nginx, write_htpasswd  # noqa: E402

USER, PASSWORD = "desk", "bench-password"
POSITIONS = 20

# 10 event streams and a paced GET loop through nginx, in a process of their own (aiohttp client).
LOAD_SCRIPT = r"""
import asyncio, json, sys, time
import aiohttp
url, seconds, rate, streams = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
auth = aiohttp.BasicAuth(sys.argv[5], sys.argv[6])
async def main():
    events, latencies, errors = [0], [], [0]
    async with aiohttp.ClientSession(auth=auth) as session:
        async def stream():
            try:
                async with session.get(url + "api/stream", timeout=aiohttp.ClientTimeout(total=None)) as r:
                    async for line in r.content:
                        if line.startswith(b"event:"):
                            events[0] += 1
            except (aiohttp.ClientError, asyncio.CancelledError):
                pass
        readers = [asyncio.ensure_future(stream()) for _ in range(streams)]
        start = time.perf_counter(); n = 0
        while (now := time.perf_counter()) - start < seconds:
            due = start + n / rate
            if due > now:
                await asyncio.sleep(due - now)
            t0 = time.perf_counter()
            try:
                async with session.get(url + "api/positions") as r:
                    await r.read()
                    if r.status != 200:
                        errors[0] += 1
            except aiohttp.ClientError:
                errors[0] += 1
            latencies.append((time.perf_counter() - t0) * 1000); n += 1
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    latencies.sort()
    print(json.dumps({"requests": n, "errors": errors[0], "events": events[0],
                      "p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99) - 1]}))
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ab(url: str, seconds: float, concurrency: int = 8) -> subprocess.Popen:
    tool = shutil.which("ab")
    if tool is None:
        raise SystemExit("ApacheBench (ab) is missing: apt-get install apache2-utils")
    return subprocess.Popen([tool, "-q", "-k", "-c", str(concurrency), "-t", str(seconds), "-n", "10000000",
                             "-A", f"{USER}:{PASSWORD}", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ab_result(process: subprocess.Popen) -> dict[str, float]:
    out, err = process.communicate()
    rate = re.search(r"Requests per second:\s+([\d.]+)", out)
    # ab counts an answer whose length differs from the first as failed ("Length"): live positions change
    # size as prices tick, so only connect, receive and exception failures are failures here.
    failed = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: \d+, Exceptions: (\d+)\)", out)
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if rate is None:
        raise SystemExit(f"ab failed: {err or out}")
    return {"rps": float(rate.group(1)), "failed": sum(int(n) for n in failed.groups()) if failed else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


def nginx_for(folder: Path, upstream_port: int, static: Path | None = None):  # type: ignore[no-untyped-def]
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    htpasswd = write_htpasswd(folder / "htpasswd", USER, PASSWORD)
    text = render_nginx_config(port, [("127.0.0.1", upstream_port)], folder / "nginx", htpasswd=htpasswd,
                               rate=1_000_000, burst=100_000)
    if static is not None:  # the baseline: the same server block, one location answering from a file
        text = text.replace("location / {", f"location = /static.json {{\n      auth_basic \"bench\";\n"
                                            f"      auth_basic_user_file {htpasswd};\n      alias {static};\n"
                                            "    }\n    location / {", 1)
    return start_nginx(folder / "nginx", text, port)


def positions_snapshot() -> dict:
    from datetime import UTC, datetime

    from terminal.monitor.state import iso
    rows = [{"account": "DU1234567", "instrument_key": f"S{i}:STK:SMART:USD", "symbol": f"S{i}", "sec_type": "STK",
             "currency": "USD", "quantity": 100.0 * (i + 1), "average_cost": 100.0 + i, "market_price": 101.0 + i,
             "market_value": (101.0 + i) * 100 * (i + 1), "unrealized_pnl": 100.0 * (i + 1),
             "realized_pnl": 0.0} for i in range(POSITIONS)]
    return {"as_of": iso(datetime.now(UTC)), "connection": {"state": "CONNECTED", "broker": "IB"},
            "account": {"account": "DU1234567", "net_liquidation": 1_000_000.0}, "positions": rows}


def standalone(folder: Path, seconds: float) -> tuple[dict[str, float], dict[str, float], int]:
    """``quant-terminal monitor`` as its own process behind nginx, and the nginx static-file baseline."""
    from terminal.monitor.session_feed import DESK_KEY
    from terminal.store import Store

    db = folder / "desk.sqlite"
    store = Store.open(f"sqlite:///{db}")
    store.key_values.set(DESK_KEY + "DU1234567", positions_snapshot())
    store.close()
    port = free_port()
    monitor = subprocess.Popen([sys.executable, "-m", "terminal", "--db", f"sqlite:///{db}", "monitor", "--listen",
                                f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        monitor.stderr.readline()
        time.sleep(1.5)  # the first poll of the store
        body = json.loads(_get(f"http://127.0.0.1:{port}/api/positions"))
        static = folder / "positions.json"
        static.write_text(json.dumps(body))
        nginx = nginx_for(folder, port, static)
        try:
            base = ab_result(ab(f"http://127.0.0.1:{nginx.port}/static.json", seconds))
            ours = ab_result(ab(f"http://127.0.0.1:{nginx.port}/api/positions", seconds))
        finally:
            nginx.stop()
    finally:
        monitor.terminate()
        monitor.wait(10)
    return base, ours, static.stat().st_size


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def in_terminal(folder: Path, seconds: float, symbols: int) -> dict[str, object]:
    import qasync
    from PySide6.QtWidgets import QApplication

    from terminal.config import load_settings
    from terminal.domain import Order, OrderSide, OrderStatus
    from terminal.ui.main import build_session, open_window, start_monitor
    from tests.support.lag import TimerLag

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app, already_running=False)
    asyncio.set_event_loop(loop)
    settings = load_settings(config_path=folder / "none.toml", environ={"QT_NO_KEYRING": "1"},
                             overrides={"db_url": f"sqlite:///{folder / 'terminal.sqlite'}", "confirm_orders": False,
                                        "monitor": "127.0.0.1:0", "max_position": 1e9, "max_notional": 1e12})
    session = build_session(settings)
    window = loop.run_until_complete(open_window(session))
    window.resize(1600, 1000)
    window.show()
    from tests.bench.stream_bench import stock_symbols

    chosen = stock_symbols(symbols)

    async def prepare() -> None:
        for symbol in chosen:
            await window.watchlist.add_symbol(symbol)
        for symbol in chosen[:POSITIONS]:
            instrument = session.market.instrument_for_symbol(symbol)
            await session.orders.place(Order(instrument, OrderSide.BUY, 100), confirmed=True)

    loop.run_until_complete(prepare())
    deadline = time.perf_counter() + 20
    while sum(o.status is OrderStatus.FILLED for o in session.orders.orders.values()) < POSITIONS:
        if time.perf_counter() > deadline:
            raise SystemExit("the bench's market orders did not fill within 20 s")
        loop.run_until_complete(asyncio.sleep(0.1))
    monitor = start_monitor(session, settings, loop)
    nginx = nginx_for(folder / "terminal", monitor.thread.server.port)
    url = f"http://127.0.0.1:{nginx.port}/"
    probe = TimerLag().start()
    lags = probe.lags

    def run_for(process: subprocess.Popen | None, duration: float) -> list[float]:
        lags.clear()
        end = time.perf_counter() + duration
        while time.perf_counter() < end or (process is not None and process.poll() is None):
            loop.run_until_complete(asyncio.sleep(0.2))
        return list(lags)

    run_for(None, 3.0)  # warm-up
    quiet = run_for(None, seconds)
    load = subprocess.Popen([sys.executable, "-c", LOAD_SCRIPT, url, str(seconds), "100", "10", USER, PASSWORD],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    loaded = run_for(load, seconds)
    out, err = load.communicate()
    traffic = json.loads(out) if out.strip() else {"error": err.strip().splitlines()[-1:]}
    throughput_process = ab(url + "api/positions", seconds)
    throughput_lags = run_for(throughput_process, seconds)
    throughput = ab_result(throughput_process)
    probe.stop()
    nginx.stop()
    monitor.stop()
    loop.run_until_complete(session.stop())
    window.close()
    session.store.close()
    loop.close()  # ends the loop's executor threads
    return {"quiet": quiet, "loaded": loaded, "traffic": traffic, "throughput": throughput,
            "throughput_lags": throughput_lags, "requests_served": monitor.thread.server.requests}


def describe(lags: list[float]) -> str:
    if not lags:
        return "no samples"
    return (f"p50 {statistics.median(lags):.1f} ms, p99 {float(np.percentile(lags, 99)):.1f} ms, "
            f"max {max(lags):.0f} ms ({len(lags)} samples)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--symbols", type=int, default=50, help="streaming symbols in the terminal's watchlist")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    print(f"machine: {os.cpu_count()} cores; nginx with basic auth (apr1), 1 worker; ab -k -c 8 for {args.seconds:g} s",
          flush=True)
    base, standalone_rps, size = standalone(folder, args.seconds)
    print(f"baseline  nginx static file ({size} bytes, same auth):     {base['rps']:8,.0f} req/s", flush=True)
    print(f"standalone monitor process behind nginx, /api/positions: {standalone_rps['rps']:8,.0f} req/s "
          f"({standalone_rps['rps'] / base['rps']:.2f}x the static file; failed {standalone_rps['failed']}, "
          f"non-2xx {standalone_rps['non2xx']})", flush=True)
    terminal = in_terminal(folder, args.seconds, args.symbols)
    throughput = terminal["throughput"]
    print(f"in-terminal monitor behind nginx, /api/positions:      {throughput['rps']:8,.0f} req/s "  # type: ignore[index]
          f"({throughput['rps'] / base['rps']:.2f}x the static file; failed {throughput['failed']}, "  # type: ignore[index]
          f"non-2xx {throughput['non2xx']}); Qt loop meanwhile: {describe(terminal['throughput_lags'])}")  # type: ignore[index,arg-type]
    print(f"terminal Qt loop, 10 ms timer lateness ({args.symbols} symbols streaming, {POSITIONS} positions):")
    print(f"  no monitor traffic:                     {describe(terminal['quiet'])}")  # type: ignore[arg-type]
    print(f"  10 streams + 100 req/s through nginx:   {describe(terminal['loaded'])}  (target p99 <= 16 ms)")  # type: ignore[arg-type]
    traffic = terminal["traffic"]
    if "error" in traffic:  # type: ignore[operator]
        print(f"  the load generator failed: {traffic['error']}")  # type: ignore[index]
    else:
        print(f"  that traffic: {traffic['requests']:,} GETs ({traffic['errors']} errors), p50 {traffic['p50']:.1f} ms, "  # type: ignore[index]
              f"p99 {traffic['p99']:.1f} ms through nginx; {traffic['events']:,} stream events received")  # type: ignore[index]
    return 0 if not math.isnan(base["rps"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
