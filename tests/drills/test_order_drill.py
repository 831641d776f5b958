"""The order-safety drill as a test: 10 broker restarts and 5 kill -9 of the terminal, every order and fill agrees.

Also checks the drill's own checker: a lost fill, a stuck order, a misattributed fill and a
position the book does not know are each reported.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from terminal.domain import Order, OrderSide, OrderStatus
from tests.drills.order_drill import CLIENT_ID, compare
from tests.drills.trader import state
from tests.support.trading import wait

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.drill
def test_restarts_and_kills_leave_every_order_and_fill_in_agreement(tmp_path):
    result = subprocess.run([sys.executable, "tests/drills/order_drill.py", "--restarts", "10", "--kills", "5",
                             "--workdir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "10 simulator restarts, 5 kill -9 of the terminal" in result.stdout
    assert "every order and fill agrees" in result.stdout


def test_the_drill_checker_reports_each_kind_of_disagreement(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port, client_id=CLIENT_ID)
    aapl = loop.run_until_complete(session.market.qualify("AAPL"))
    order = loop.run_until_complete(session.orders.place(Order(aapl, OrderSide.BUY, 8)))
    wait(loop, lambda: session.orders.orders[order.client_order_id].status is OrderStatus.FILLED, what="filled")
    loop.run_until_complete(session.records.flush())
    sim.freeze()
    good = state(session)
    assert compare(sim, good, session.store, "good") == []

    key = order.client_order_id
    stuck = {**good, "orders": {key: {**good["orders"][key], "status": "PendingSubmit"}}}
    assert any("stuck in PendingSubmit" in p for p in compare(sim, stuck, session.store, "stuck"))
    no_book = {**good, "book": []}
    assert any("position AAPL:STK:SMART:USD: simulator +8, book +0" in p
               for p in compare(sim, no_book, session.store, "book"))
    execution = sim.engine.executions_of(CLIENT_ID)[0]
    sim.engine.executions.append(replace(execution, fill=replace(execution.fill, execution_id="0000e-lost.1")))
    assert any("execution 0000e-lost.1" in p and "was lost" in p for p in compare(sim, good, session.store, "lost"))
    sim.engine.executions.pop()
    elsewhere = replace(order, client_order_id="qt-other", side=OrderSide.SELL, status=OrderStatus.CANCELLED)
    session.store.orders.save(elsewhere)
    fill = session.store.fills.list(client_order_id=key)[0]
    session.store.fills.save(replace(fill, execution_id="0000e-moved.1", client_order_id="qt-other"))
    found = compare(sim, good, session.store, "moved")
    assert any("misattributed to qt-other" in p for p in found)
    assert any("order qt-other says 0 filled, its fills add up to" in p for p in found)
