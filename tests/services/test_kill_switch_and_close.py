"""The kill switch, Cancel all and Close position when timing is against the trader, against the simulator.

An order being recorded while the kill switch is thrown, a kill switch thrown while the broker
is away, a close bigger than the max order size or with no price, a close clicked twice, and
a record the database refuses for good.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from terminal.broker.base import BrokerError
from terminal.domain import Order, OrderRejected, OrderSide, OrderStatus, OrderType
from terminal.services.confirmation import ConfirmationRequired
from tests.support.trading import fill_order, wait


def _qualified(loop, session, symbol="AAPL"):
    return loop.run_until_complete(session.market.qualify(symbol))


def _resting_buy(loop, session, instrument, quantity=10):
    price, _ = loop.run_until_complete(session.market.reference_price_now(instrument))
    return Order(instrument, OrderSide.BUY, quantity, OrderType.LIMIT, limit_price=instrument.round_to_tick(price * 0.97))


def _working_at(sim) -> list[Order]:
    return [w.order for w in sim.engine.orders.values() if w.order.status.is_working]


def _slow_write_ahead(session, seconds: float) -> None:
    """The store takes ``seconds`` to commit the next orders (as a database another process holds)."""
    original = session.records.write_ahead

    async def slow(order, timeout=5.0):
        await asyncio.sleep(seconds)
        await original(order, timeout)

    session.records.write_ahead = slow


@pytest.mark.parametrize("action", ["kill switch", "cancel all"])
def test_an_order_being_recorded_when_the_kill_switch_or_cancel_all_comes_is_never_sent(loop, sims, sessions, action):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    order = _resting_buy(loop, session, aapl)
    _slow_write_ahead(session, 0.5)

    async def scenario():
        placing = asyncio.ensure_future(session.orders.place(order))
        await asyncio.sleep(0.1)  # it passed its checks and is being written ahead
        if action == "kill switch":
            await session.orders.set_kill_switch(True)
        else:
            assert await session.orders.cancel_all(confirmed=True) == 1  # the order in flight is counted
        with pytest.raises(OrderRejected, match="was being recorded"):
            await placing

    loop.run_until_complete(scenario())
    loop.run_until_complete(asyncio.sleep(0.3))
    assert sim.engine.submitted_count == 0 and not _working_at(sim)
    (stopped,) = session.orders.orders.values()
    assert stopped.status is OrderStatus.CANCELLED and "not sent" in stopped.reason


def test_kill_switch_thrown_while_the_broker_is_away_cancels_everything_once_it_is_back(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    placed = loop.run_until_complete(session.orders.place(_resting_buy(loop, session, aapl)))
    wait(loop, lambda: session.orders.orders[placed.client_order_id].perm_id, what="the order acknowledged")
    before = session.last_reconcile
    session.broker.reconnect_initial = 1.0

    async def drop_then_kill():
        for client in list(sim.sessions):
            client.drop("test: the connection is lost")
        while session.broker.is_connected:
            await asyncio.sleep(0.02)
        return await session.orders.set_kill_switch(True)

    assert loop.run_until_complete(drop_then_kill()) == 0
    assert any("as soon as the connection is back" in e.message for e in session.log.entries)
    wait(loop, lambda: session.last_reconcile is not before, timeout=15, what="the reconnect")
    wait(loop, lambda: not _working_at(sim), what="the cancel after the reconnect")
    wait(loop, lambda: session.orders.orders[placed.client_order_id].status is OrderStatus.CANCELLED,
         what="the order cancelled in the terminal")
    assert session.risk.kill_switch


def test_close_position_sends_the_whole_position_even_above_the_max_order_quantity(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port, max_order_quantity=100, max_position=1000)
    aapl = _qualified(loop, session)
    for quantity in (100, 100, 99):
        fill_order(loop, session, Order(aapl, OrderSide.BUY, quantity))
    wait(loop, lambda: session.portfolio.position_quantity(aapl) == 299, what="a position of 299")
    with pytest.raises(OrderRejected, match="max order quantity"):  # a new order of that size is refused ...
        loop.run_until_complete(session.orders.place(Order(aapl, OrderSide.SELL, 299)))
    close = loop.run_until_complete(session.orders.close_position(aapl, confirmed=True))  # ... a close is not
    assert (close.side, close.quantity, close.source) == (OrderSide.SELL, 299, "close position")
    wait(loop, lambda: session.portfolio.position_quantity(aapl) == 0, what="flat")


def test_close_position_with_no_price_at_all_and_with_the_kill_switch_on(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    msft = _qualified(loop, session, "MSFT")
    fill_order(loop, session, Order(msft, OrderSide.BUY, 10))
    wait(loop, lambda: session.portfolio.position_quantity(msft) == 10, what="the position")
    session.market.quotes.pop(msft.key, None)

    async def no_quote(instrument, timeout=3.0):
        raise BrokerError("no quote")

    session.broker.snapshot = no_quote

    async def kill():
        await session.orders.set_kill_switch(True)

    loop.run_until_complete(kill())
    with pytest.raises(OrderRejected, match="kill switch"):
        loop.run_until_complete(session.orders.place(Order(msft, OrderSide.SELL, 10)))
    with pytest.raises(ConfirmationRequired, match="kill switch is on.*only closes the position"):
        loop.run_until_complete(session.orders.close_position(msft))  # always asked while it is on
    loop.run_until_complete(session.orders.close_position(msft, confirmed=True))
    wait(loop, lambda: session.portfolio.position_quantity(msft) == 0, what="flat with the kill switch on")


def test_close_cancels_the_instruments_working_orders_first_and_a_second_click_never_closes_twice(
        loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    fill_order(loop, session, Order(aapl, OrderSide.BUY, 50))
    price, _ = loop.run_until_complete(session.market.reference_price_now(aapl))
    exit_order = loop.run_until_complete(session.orders.place(
        Order(aapl, OrderSide.SELL, 50, OrderType.LIMIT, limit_price=aapl.round_to_tick(price * 1.04)), confirmed=True))
    wait(loop, lambda: session.orders.orders[exit_order.client_order_id].perm_id, what="the resting exit")
    _slow_write_ahead(session, 0.4)  # the first close is still being recorded when the second click comes

    async def two_clicks():
        first = asyncio.ensure_future(session.orders.close_position(aapl, confirmed=True))
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(session.orders.close_position(aapl, confirmed=True))
        return await asyncio.gather(first, second)

    first, second = loop.run_until_complete(two_clicks())
    assert first.quantity == 50 and second is None  # the second found the position closed by the first
    assert session.orders.orders[exit_order.client_order_id].status is OrderStatus.CANCELLED
    wait(loop, lambda: session.portfolio.position_quantity(aapl) == 0, what="flat")
    loop.run_until_complete(asyncio.sleep(0.5))
    assert session.portfolio.position_quantity(aapl) == 0 and not _working_at(sim)  # never short
    closes = [o for o in session.orders.orders.values() if o.source == "close position"]
    assert [o.status for o in closes] == [OrderStatus.FILLED]


def test_a_record_the_database_refuses_for_good_is_kept_in_the_dead_letter_file(loop, sims, sessions, tmp_path):
    sim = sims()
    session = sessions(sim.port)
    session.records.dead_letter = tmp_path / "unwritten-records.jsonl"
    session.records.retry_initial = 0.01

    def refuse(key, value):
        raise ValueError("the database refuses this row")

    session.store.key_values.set = refuse
    loop.run_until_complete(session.records.flush())
    future = session.records.save_value("kill_switch", {"on": True})
    with pytest.raises(ValueError):
        loop.run_until_complete(future)
    (line,) = (tmp_path / "unwritten-records.jsonl").read_text().splitlines()
    kept = json.loads(line)
    assert kept["record"] == "state kill_switch" and kept["values"] == ["kill_switch", {"on": True}]
    assert "refuses this row" in kept["error"]
    assert any("kept in" in e.message and "unwritten-records.jsonl" in e.message for e in session.log.entries)
