"""The desk monitor on the bus: every trader's orders and fills, read-only."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import urllib.request

from terminal.domain import Order, OrderSide, OrderStatus, OrderType
from tests.support.trading import wait


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_desk_monitor_on_the_bus_shows_every_traders_orders(loop, desk, tmp_path):
    desk.hub()
    alice, bob = desk.terminal("alice"), desk.terminal("bob")
    keys = []
    for session in (alice, bob):
        instrument = desk.run(session.market.qualify("AAPL"))
        desk.run(session.market.subscribe(instrument))
        wait(loop, lambda s=session, i=instrument: i.key in s.market.quotes, 10, "a quote")
        keys.append(desk.run(session.orders.place(Order(instrument, OrderSide.BUY, 1, OrderType.MARKET))).client_order_id)
    wait(loop, lambda: all(s.orders.orders[k].status is OrderStatus.FILLED for s, k in zip((alice, bob), keys, strict=True)), 10,
         "both fills")
    port = _free_port()
    env = {**os.environ, "QT_NO_KEYRING": "1", "QT_BUS_PREFIX": desk.topics.prefix}
    monitor = subprocess.Popen([sys.executable, "-m", "terminal", "--data-dir", str(tmp_path / "monitor"),
                                "monitor", "--feed", f"kafka://{desk.bootstrap}", "--listen", f"127.0.0.1:{port}"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def get(path: str):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                return json.loads(response.read())

        seen: dict = {}

        async def poll():
            for _ in range(150):
                try:
                    seen["fills"] = await asyncio.to_thread(get, "/api/fills")
                    seen["connection"] = await asyncio.to_thread(get, "/api/connection")
                except OSError:
                    await asyncio.sleep(0.2)
                    continue
                rows = seen["fills"] if isinstance(seen["fills"], list) else seen["fills"].get("fills", [])
                if {r.get("client_order_id") for r in rows} >= set(keys):
                    return
                await asyncio.sleep(0.2)

        loop.run_until_complete(poll())
        rows = seen["fills"] if isinstance(seen["fills"], list) else seen["fills"].get("fills", [])
        assert {r.get("client_order_id") for r in rows} >= set(keys), seen
    finally:
        monitor.terminate()
        output = monitor.communicate(timeout=10)[0]
    assert "monitor on http://127.0.0.1" in output, output
