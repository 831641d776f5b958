"""The hub killed -9 mid-command, Kafka restarted, a hub restarted: nothing placed twice, subscriptions restored,
a stale feed shown as stale."""

from __future__ import annotations

import asyncio
import time

import pytest

from terminal.domain import Instrument, Order, OrderSide, OrderStatus, OrderType
from tests.bus.conftest import IN_CI
from tests.support.kafka import PrivateKafka, can_run
from tests.support.trading import wait

AAPL = Instrument("AAPL")


def _watching(desk, session, symbol="AAPL"):
    instrument = desk.run(session.market.qualify(symbol))
    desk.run(session.market.subscribe(instrument))
    wait(desk.loop, lambda: instrument.key in session.market.quotes, 15, f"a quote of {symbol}")
    return instrument


def _sent_to_broker(desk, session, instrument, quantity=7):
    """Place a market order from ``session`` and return once the hub has sent it to the broker (it has an IB order
    id) — the simulator, slowed down, has not confirmed it yet."""
    task = asyncio.ensure_future(session.orders.place(Order(instrument, OrderSide.BUY, quantity, OrderType.MARKET)),
                                 loop=desk.loop)
    wait(desk.loop, lambda: any(o.order_id for o in session.orders.orders.values()) or task.done(), 15,
         "the hub to send the order to the broker")
    if task.done():
        task.result()
    (order,) = session.orders.orders.values()
    return order, task


def test_hub_killed_mid_command_restarts_and_finds_the_order_at_the_broker(loop, desk):
    sim = desk.simulator()
    desk.hub_process()
    alice = desk.terminal("alice", answer_timeout=20.0)
    instrument = _watching(desk, alice)
    sim.order_delay = 1.0  # the exchange takes a second to confirm: the hub dies in between
    order, task = _sent_to_broker(desk, alice, instrument)
    desk.kill_hub_process()
    wait(loop, lambda: desk.at_simulator()[order.client_order_id] == 1, 10, "the simulator to take the order")
    desk.hub_process()  # its command is redelivered (never committed): found at the broker, not placed again
    wait(loop, lambda: alice.orders.orders[order.client_order_id].status is OrderStatus.FILLED, 20,
         "the terminal to see the fill through the new hub")
    loop.run_until_complete(asyncio.sleep(1.0))
    assert desk.at_simulator()[order.client_order_id] == 1
    assert len(alice.orders.fills) == 1
    task.cancel()


def test_an_order_lost_with_the_hub_and_the_exchange_is_unknown_and_never_resent(loop, desk, sims):
    sim = desk.simulator()
    desk.hub_process()
    alice = desk.terminal("alice", answer_timeout=20.0)
    instrument = _watching(desk, alice)
    sim.order_delay = 60.0  # the exchange never gets round to it ...
    order, task = _sent_to_broker(desk, alice, instrument)
    desk.kill_hub_process()
    port = sim.port
    loop.run_until_complete(sim.stop())  # ... and goes down with it: the order is nowhere
    desk.sim = sims(port=port)
    desk.hub_process()
    wait(loop, lambda: alice.orders.orders[order.client_order_id].status is OrderStatus.UNKNOWN, 20,
         "the order to be shown as Unknown")
    assert "UNKNOWN" in alice.orders.orders[order.client_order_id].reason
    loop.run_until_complete(asyncio.sleep(1.5))
    assert desk.at_simulator()[order.client_order_id] == 0  # the redelivered command was not re-sent
    # the trader cancels it: the hub looks once more, does not find it, and settles it
    desk.run(alice.orders.cancel(order.client_order_id))
    wait(loop, lambda: alice.orders.orders[order.client_order_id].status is OrderStatus.INACTIVE, 10,
         "the Unknown order to be settled")
    task.cancel()


def test_a_restarted_hub_restores_the_desks_subscriptions_within_5_s(loop, desk):
    hub = desk.hub()
    alice = desk.terminal("alice")
    _watching(desk, alice, "AAPL")
    _watching(desk, alice, "MSFT")
    desk.stop_hub(hub)
    seen: list = []
    alice.market.quote_updated.connect(seen.append)
    started = time.monotonic()
    hub = desk.hub()
    assert {key for kind, key in hub.wanted() if kind == "quotes"} >= {AAPL.key, Instrument("MSFT").key}
    wait(loop, lambda: {i.key for i, _ in seen} >= {AAPL.key, Instrument("MSFT").key}, 10.0,
         "quotes of both symbols from the new hub")
    assert time.monotonic() - started < 5.0, "the desk's subscriptions took more than 5 s to come back"


def test_a_terminal_whose_feed_stops_shows_it_within_2_s(loop, desk):
    hub = desk.hub()
    alice = desk.terminal("alice")
    _watching(desk, alice)
    assert alice.status.state == "CONNECTED"
    desk.stop_hub(hub)
    stopped = time.monotonic()
    wait(loop, lambda: alice.status.state != "CONNECTED", 2.0, "the status to leave CONNECTED")
    assert time.monotonic() - stopped < 2.0
    assert "stale" in alice.status.message or "hub" in alice.status.message
    with pytest.raises(Exception, match="not connected|not sent"):
        desk.run(alice.orders.place(Order(alice.market.instruments[AAPL.key], OrderSide.BUY, 1, OrderType.MARKET)))
    desk.hub()
    wait(loop, lambda: alice.status.state == "CONNECTED", 10, "live again with a new hub")


@pytest.fixture
def private_kafka(tmp_path):
    why = can_run()
    if why:
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    broker = PrivateKafka(tmp_path / "kafka")
    broker.start(fresh=True)
    yield broker
    broker.stop()


def test_orders_survive_a_kafka_restart_exactly_once(loop, tmp_path, topics, sims, private_kafka):
    from tests.bus.desk import Desk

    desk = Desk(loop, tmp_path, private_kafka.bootstrap, topics, sims)
    try:
        hub = desk.hub()
        alice, bob = desk.terminal("alice"), desk.terminal("bob")
        placed = []
        for session in (alice, bob):
            instrument = _watching(desk, session)
            placed.append(desk.run(session.orders.place(Order(instrument, OrderSide.BUY, 2, OrderType.MARKET))))
        private_kafka.kill()
        wait(loop, lambda: alice.status.state != "CONNECTED" and bob.status.state != "CONNECTED", 3,
             "both feeds to go stale with Kafka down")
        private_kafka.start()  # same data: every topic, offset and committed position kept
        wait(loop, lambda: alice.status.state == "CONNECTED" and bob.status.state == "CONNECTED", 60,
             "both terminals live again")
        # live quotes come back before the hub's command reader has its partition again: the terminals say so
        wait(loop, lambda: not alice.broker.orders_blocked and not bob.broker.orders_blocked, 60,
             "the hub to read commands again")
        for session in (alice, bob):
            instrument = session.market.instruments[AAPL.key]
            placed.append(desk.run(session.orders.place(Order(instrument, OrderSide.SELL, 1, OrderType.MARKET)),
                                   timeout=60))
        for session in (alice, bob):
            wait(loop, lambda s=session: all(o.status is OrderStatus.FILLED for o in s.orders.orders.values()), 20,
                 "every order filled")
        counts = desk.at_simulator()
        assert [counts[o.client_order_id] for o in placed] == [1, 1, 1, 1]
        assert hub.session.orders.orders.keys() >= {o.client_order_id for o in placed}
    finally:
        desk.close()
