"""``quant-terminal --monitor``: the terminal serves its own state on a thread of its own."""

from __future__ import annotations

import json
import urllib.request

import pytest

from terminal.domain import Order, OrderSide
from tests.ui.conftest import open_with_symbol, wait_until

pytestmark = pytest.mark.gui


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_the_terminal_serves_its_position_and_answers_while_the_qt_loop_is_busy(terminal_window, qloop):
    from terminal.ui.main import start_monitor

    window, session, aapl = open_with_symbol(terminal_window, qloop, monitor="127.0.0.1:0")
    monitor = start_monitor(session, session.settings, qloop)
    try:
        base = monitor.thread.server.url
        placed = qloop.run_until_complete(session.orders.place(Order(aapl, OrderSide.BUY, 100), confirmed=True))
        wait_until(qloop, lambda: any(p["quantity"] == 100 for p in monitor.feed.state.section("positions")
                                      .value["positions"]), message="the position in the monitor")
        # The Qt loop is not running now (this test holds it): the monitor's own thread answers anyway.
        positions = _get(base + "api/positions")["positions"]
        assert [(p["symbol"], p["quantity"]) for p in positions] == [("AAPL", 100)]
        fills = _get(base + "api/fills")["fills"]
        assert [f["client_order_id"] for f in fills] == [placed.client_order_id]
        assert _get(base + "api/connection")["broker"] == "simulator"
        assert any(e.message.startswith("read-only monitor on http://127.0.0.1:")
                   for e in session.log.entries)
    finally:
        monitor.stop()
