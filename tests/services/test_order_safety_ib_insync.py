"""The order-safety paths that depend on the client library's decoding, once more with ib_insync (QT_IB_CLIENT)."""

from __future__ import annotations

import importlib

import pytest

from terminal.domain import Order, OrderSide, OrderStatus, OrderType
from terminal.services.order_book import NOT_AT_BROKER
from tests.support.trading import close, fill_order, wait


@pytest.fixture
def insync_broker(monkeypatch):
    monkeypatch.setenv("QT_IB_CLIENT", "ib_insync")
    import terminal.broker.ib as module

    module = importlib.reload(module)
    assert module.CLIENT_LIBRARY == "ib_insync"
    yield module.IBBroker
    monkeypatch.delenv("QT_IB_CLIENT")
    importlib.reload(module)


def test_restart_reconciliation_fills_before_orders_and_previews(loop, sims, sessions, insync_broker):
    sim = sims(executions_first=True)
    session = sessions(sim.port, broker_class=insync_broker)
    aapl = loop.run_until_complete(session.market.qualify("AAPL"))
    bought = fill_order(loop, session, Order(aapl, OrderSide.BUY, 12))
    wait(loop, lambda: sum(f.quantity for f in session.orders.fills if f.client_order_id == bought.client_order_id)
         == 12, what="the fills that came before the order")
    price, _ = loop.run_until_complete(session.market.reference_price_now(aapl))
    resting = loop.run_until_complete(session.orders.place(
        Order(aapl, OrderSide.BUY, 5, OrderType.LIMIT, limit_price=aapl.round_to_tick(price * 0.97))))
    preview = loop.run_until_complete(session.orders.preview(Order(aapl, OrderSide.BUY, 100)))
    assert preview.source == "broker" and preview.commission > 0
    close(loop, session)
    restarted = sessions(sim.port, broker_class=insync_broker)  # the broker kept running
    assert restarted.orders.orders[resting.client_order_id].status is OrderStatus.SUBMITTED
    assert restarted.orders.orders[bought.client_order_id].filled_quantity == 12
    assert not restarted.last_reconcile.mismatches and restarted.last_reconcile.new_fills == 0
    close(loop, restarted)
    port = sim.port
    loop.run_until_complete(sim.stop())
    sim = sims(port=port)
    again = sessions(sim.port, broker_class=insync_broker)  # and now the broker forgot its orders
    gone = again.orders.orders[resting.client_order_id]
    assert gone.status is OrderStatus.INACTIVE and gone.reason.startswith(NOT_AT_BROKER)
