"""A terminal's requests to the hub (qualify, history, what-if …) answered from the hub's broker, over real Kafka."""

from __future__ import annotations

from terminal.domain import Order, OrderSide, OrderType


def test_a_what_if_through_the_hub_is_the_brokers_preview(loop, desk):
    desk.hub()
    alice = desk.terminal("alice")
    instrument = desk.run(alice.market.qualify("AAPL"))
    preview = desk.run(alice.broker.what_if(Order(instrument, OrderSide.BUY, 100, OrderType.MARKET)))
    assert preview.source == "broker" and preview.commission > 0, preview
