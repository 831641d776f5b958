"""Order identity and reconciliation against the simulator: every order is ours, known at the broker, never misattributed.

Each test drives the real TradingSession (real IB client over loopback, real store) and
restarts the simulator or the session the way a user's TWS / terminal would.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from ib_async import IB, LimitOrder, Stock

from terminal.broker.base import OrderNotAtBroker
from terminal.broker.events import OrderEvent
from terminal.domain import Order, OrderRejected, OrderSide, OrderStatus, OrderType
from terminal.services.confirmation import ConfirmationRequired
from terminal.services.order_book import NOT_AT_BROKER
from tests.support.trading import close, fill_order, wait


def _aapl(loop, session):
    return loop.run_until_complete(session.market.qualify("AAPL"))


def _resting_buy(loop, session, instrument, quantity=10, below=0.97):
    """A buy limit under the market: it works and does not fill."""
    price, _ = loop.run_until_complete(session.market.reference_price_now(instrument))
    return Order(instrument, OrderSide.BUY, quantity, OrderType.LIMIT, limit_price=instrument.round_to_tick(price * below))


def _at_sim(sim, client_id=1):
    """The simulator's orders of one client, by our client order id (IB orderRef)."""
    return {w.order.client_order_id: w for (c, _), w in sim.engine.orders.items() if c == client_id}


def _restart(loop, sims, sim, **options):
    """Stop the simulator and start a fresh one on the same port (no memory of orders, as a restarted Gateway)."""
    port = sim.port
    loop.run_until_complete(sim.stop())
    return sims(port=port, **options)


def _reconnected(loop, session, after):
    wait(loop, lambda: session.last_reconcile is not None and session.last_reconcile is not after,
         timeout=15, what="reconnect and reconciliation")


def test_bracket_children_carry_our_client_order_id_before_they_are_sent(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _aapl(loop, session)
    placed = loop.run_until_complete(session.orders.place_bracket(_resting_buy(loop, session, aapl), 2.0, 3.0))
    wait(loop, lambda: len(_at_sim(sim)) == 3, what="three orders at the simulator")
    at_sim = _at_sim(sim)
    assert set(at_sim) == {o.client_order_id for o in placed}
    parent, take, stop = placed
    assert take.parent_ref == stop.parent_ref == parent.client_order_id
    assert at_sim[take.client_order_id].order.parent_id == at_sim[parent.client_order_id].order.order_id
    wait(loop, lambda: session.orders.orders[take.client_order_id].status is OrderStatus.PRE_SUBMITTED,
         what="the take-profit held")


def test_restarted_simulator_reuses_order_ids_and_updates_never_land_on_old_records(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _aapl(loop, session)
    first = loop.run_until_complete(session.orders.place_bracket(_resting_buy(loop, session, aapl), 2.0, 3.0))
    wait(loop, lambda: all(session.orders.orders[o.client_order_id].perm_id for o in first), what="acknowledged")
    before = session.last_reconcile
    sim = _restart(loop, sims, sim)
    _reconnected(loop, session, before)
    old = {o.client_order_id: session.orders.orders[o.client_order_id] for o in first}
    assert all(o.status is OrderStatus.INACTIVE and o.reason.startswith(NOT_AT_BROKER) for o in old.values())

    second = loop.run_until_complete(session.orders.place_bracket(
        _resting_buy(loop, session, aapl, quantity=20), 2.0, 3.0, confirmed=True))
    assert {o.order_id for o in second} & {o.order_id for o in first}, "the restarted simulator reuses order ids"
    wait(loop, lambda: [session.orders.orders[o.client_order_id].status for o in second]
         == [OrderStatus.SUBMITTED, OrderStatus.PRE_SUBMITTED, OrderStatus.PRE_SUBMITTED], what="the new bracket working")
    assert {k: session.orders.orders[k] for k in old} == old  # nothing of the second run landed on the first
    stored = {o.client_order_id: o for o in session.store.orders.list()}
    loop.run_until_complete(session.records.flush())
    stored = {o.client_order_id: o for o in session.store.orders.list()}
    assert all(stored[k].status is OrderStatus.INACTIVE and stored[k].quantity == 10 for k in old)


def test_orders_gone_after_a_restart_become_inactive_stop_counting_and_cancel_nothing(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port, max_position=25)
    aapl = _aapl(loop, session)
    stale = loop.run_until_complete(session.orders.place(_resting_buy(loop, session, aapl, quantity=20)))
    wait(loop, lambda: session.orders.orders[stale.client_order_id].status is OrderStatus.SUBMITTED, what="working")
    close(loop, session)
    sim = _restart(loop, sims, sim)

    restarted = sessions(sim.port, max_position=25)  # same store: the terminal starts again
    gone = restarted.orders.orders[stale.client_order_id]
    assert gone.status is OrderStatus.INACTIVE and gone.reason == f"{NOT_AT_BROKER} after reconnect"
    assert any(stale.client_order_id in e.message and "Inactive" in e.message for e in restarted.log.entries)
    assert stale.client_order_id in restarted.last_reconcile.inactivated
    # It no longer eats the max-position budget: 20 more would be 40 > 25 if it still counted.
    aapl = _aapl(loop, restarted)  # the same requests as the first run, so the same IB order id comes next
    live = loop.run_until_complete(restarted.orders.place(_resting_buy(loop, restarted, aapl, quantity=20)))
    assert live.order_id == stale.order_id, "the new order got the stale order's IB id"
    wait(loop, lambda: restarted.orders.orders[live.client_order_id].status is OrderStatus.SUBMITTED, what="working")
    loop.run_until_complete(restarted.orders.cancel(stale.client_order_id))  # nothing to cancel
    loop.run_until_complete(asyncio.sleep(0.3))
    assert restarted.orders.orders[live.client_order_id].status is OrderStatus.SUBMITTED
    assert _at_sim(sim)[live.client_order_id].order.status is OrderStatus.SUBMITTED


def test_terminal_restart_with_the_broker_still_running_keeps_working_orders(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _aapl(loop, session)
    resting = loop.run_until_complete(session.orders.place(_resting_buy(loop, session, aapl)))
    bought = fill_order(loop, session, Order(aapl, OrderSide.BUY, 7))
    close(loop, session)
    restarted = sessions(sim.port)
    assert restarted.orders.orders[resting.client_order_id].status is OrderStatus.SUBMITTED
    assert restarted.orders.orders[bought.client_order_id].filled_quantity == 7
    assert restarted.last_reconcile.new_fills == 0 and not restarted.last_reconcile.inactivated
    assert not restarted.last_reconcile.mismatches
    loop.run_until_complete(restarted.orders.cancel(resting.client_order_id))
    wait(loop, lambda: restarted.orders.orders[resting.client_order_id].status is OrderStatus.CANCELLED, what="cancel")


def test_fills_made_while_the_terminal_was_away_are_applied_exactly_once(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _aapl(loop, session)
    price, _ = loop.run_until_complete(session.market.reference_price_now(aapl))
    # A buy limit just above the market fills at once; stop the terminal before it hears of it.
    order = loop.run_until_complete(session.orders.place(
        Order(aapl, OrderSide.BUY, 30, OrderType.LIMIT, limit_price=aapl.round_to_tick(price * 1.01))))
    loop.run_until_complete(session.broker.disconnect())
    wait(loop, lambda: _at_sim(sim)[order.client_order_id].order.status is OrderStatus.FILLED, what="the fill at the sim")
    close(loop, session)
    for _ in range(2):  # twice: the second start must not apply them again
        restarted = sessions(sim.port)
        mine = restarted.orders.orders[order.client_order_id]
        assert mine.status is OrderStatus.FILLED and mine.filled_quantity == 30
        fills = [f for f in restarted.orders.fills if f.client_order_id == order.client_order_id]
        assert sum(f.quantity for f in fills) == 30 and len({f.execution_id for f in fills}) == len(fills)
        close(loop, restarted)
    assert sum(f.quantity for f in restarted.store.fills.list(client_order_id=order.client_order_id)) == 30


def test_order_placed_outside_the_terminal_is_external_with_a_stable_identity(loop, sims, sessions):
    sim = sims()
    other = IB()
    loop.run_until_complete(other.connectAsync("127.0.0.1", sim.port, clientId=7, timeout=5))
    contract = Stock("AAPL", "SMART", "USD")
    loop.run_until_complete(other.qualifyContractsAsync(contract))
    other.placeOrder(contract, LimitOrder("BUY", 3, 50.0))  # no orderRef: not one of ours
    wait(loop, lambda: sim.engine.submitted_count == 1, what="the outside order")
    other.disconnect()
    for _ in range(2):
        session = sessions(sim.port, client_id=7)
        external = [o for o in session.orders.orders.values() if o.is_external]
        assert len(external) == 1
        assert external[0].client_order_id == f"ext-{external[0].perm_id}" and external[0].quantity == 3
        assert external[0].status is OrderStatus.SUBMITTED
        close(loop, session)


def test_a_late_event_never_moves_a_filled_order_back(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _aapl(loop, session)
    order = fill_order(loop, session, Order(aapl, OrderSide.BUY, 5))
    filled = session.orders.orders[order.client_order_id]
    for status in (OrderStatus.SUBMITTED, OrderStatus.CANCELLED, OrderStatus.INACTIVE):
        # a late status with every fill in it: only the state machine can refuse it (Filled is final)
        late = Order(aapl, OrderSide.BUY, 5, client_order_id=order.client_order_id, order_id=order.order_id,
                     perm_id=filled.perm_id, status=status, filled_quantity=5.0,
                     average_fill_price=filled.average_fill_price)
        session.broker.events.publish(OrderEvent(late))
        assert session.orders.orders[order.client_order_id] == filled


def test_fill_reported_before_its_order_is_kept_and_applied(loop, sims, sessions):
    sim = sims(executions_first=True)  # execDetails before openOrder, as TWS may send them
    session = sessions(sim.port)
    aapl = _aapl(loop, session)
    order = fill_order(loop, session, Order(aapl, OrderSide.BUY, 12))
    wait(loop, lambda: sum(f.quantity for f in session.orders.fills if f.client_order_id == order.client_order_id) == 12,
         what="its fills")
    assert session.orders.orders[order.client_order_id].filled_quantity == 12


def test_unmatched_fill_waits_for_its_order(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _aapl(loop, session)
    from datetime import UTC, datetime

    from terminal.domain import Fill

    fill = Fill("0000e-test.1", 41, aapl, OrderSide.SELL, 4, 100.0, datetime.now(UTC), perm_id=4242)
    order = Order(aapl, OrderSide.SELL, 4, order_id=41, perm_id=4242, status=OrderStatus.FILLED, filled_quantity=4,
                  average_fill_price=100.0)

    async def events_in_that_order():  # broker events arrive on the loop
        assert session.orders.on_fill(fill)
        assert session.orders.unapplied_fills() == [fill]
        return session.orders.on_order(order)

    key = loop.run_until_complete(events_in_that_order())
    assert key == "ext-4242" and not session.orders.unapplied_fills()
    assert [f.client_order_id for f in session.orders.fills if f.execution_id == fill.execution_id] == [key]
    loop.run_until_complete(session.records.flush())
    assert [f.client_order_id for f in session.store.fills.list(client_order_id=key)] == [key]


def test_cancel_by_an_ib_order_id_alone_never_reaches_another_order(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _aapl(loop, session)
    live = loop.run_until_complete(session.orders.place(_resting_buy(loop, session, aapl)))
    wait(loop, lambda: session.orders.orders[live.client_order_id].status is OrderStatus.SUBMITTED, what="working")
    # An order of an earlier run that had the same IB order id, as a restarted Gateway hands them out again.
    earlier = replace(live, client_order_id="qt-earlier-run-1", perm_id=0)
    with pytest.raises(OrderNotAtBroker, match="qt-earlier-run-1"):
        loop.run_until_complete(session.broker.cancel(earlier))
    loop.run_until_complete(asyncio.sleep(0.3))
    assert _at_sim(sim)[live.client_order_id].order.status is OrderStatus.SUBMITTED


def test_orders_of_other_clients_are_shown_as_external_and_counted_by_cancel_all(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port, client_id=1, confirm_orders=True)
    other = IB()
    loop.run_until_complete(other.connectAsync("127.0.0.1", sim.port, clientId=7, timeout=5))
    try:
        contract = Stock("AAPL", "SMART", "USD")
        loop.run_until_complete(other.qualifyContractsAsync(contract))
        other.placeOrder(contract, LimitOrder("BUY", 3, 50.0))
        wait(loop, lambda: sim.engine.submitted_count == 1, what="the other client's order")
        loop.run_until_complete(session.reconcile())
        external = [o for o in session.orders.working() if o.is_external]
        assert [(o.quantity, o.api_client_id) for o in external] == [(3, 7)]
        with pytest.raises(ConfirmationRequired, match="Cancel all 1 working order.*1 of them placed outside"):
            loop.run_until_complete(session.orders.cancel_all())
        with pytest.raises(OrderRejected, match="placed by API client id 7"):  # IB lets only its client cancel it
            loop.run_until_complete(session.orders.cancel(external[0].client_order_id))
        assert loop.run_until_complete(session.orders.cancel_all(confirmed=True)) == 1
        wait(loop, lambda: not any(w.order.status.is_working for w in sim.engine.orders.values()),
             what="the global cancel")
    finally:
        other.disconnect()


def test_a_restart_with_another_client_id_keeps_our_working_order_working(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port, client_id=1)
    aapl = _aapl(loop, session)
    placed = loop.run_until_complete(session.orders.place(_resting_buy(loop, session, aapl)))
    wait(loop, lambda: session.orders.orders[placed.client_order_id].perm_id, what="acknowledged")
    close(loop, session)
    again = sessions(sim.port, client_id=2)
    order = again.orders.orders[placed.client_order_id]
    assert order.status is OrderStatus.SUBMITTED and order.api_client_id == 1 and not order.is_external
    assert any("working under API client id 1" in e.message for e in again.log.entries)
    with pytest.raises(OrderRejected, match="placed by API client id 1; this terminal is client id 2"):
        loop.run_until_complete(again.orders.cancel(placed.client_order_id))
    assert _at_sim(sim)[placed.client_order_id].order.status is OrderStatus.SUBMITTED


def test_a_modified_bracket_exit_does_not_trade_before_its_parent_fills(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _aapl(loop, session)
    parent, take_profit, stop_loss = loop.run_until_complete(
        session.orders.place_bracket(_resting_buy(loop, session, aapl), 2.0, 3.0))
    wait(loop, lambda: session.orders.orders[stop_loss.client_order_id].perm_id, what="the bracket acknowledged")
    last, _ = loop.run_until_complete(session.market.reference_price_now(aapl))
    # the take-profit dragged below the market: were it live, it would sell at once
    loop.run_until_complete(session.orders.modify(take_profit.client_order_id,
                                                  limit_price=aapl.round_to_tick(last * 0.99), confirmed=True))
    loop.run_until_complete(asyncio.sleep(0.5))
    at_sim = _at_sim(sim)
    assert [at_sim[o.client_order_id].order.status for o in (parent, take_profit, stop_loss)] == [
        OrderStatus.SUBMITTED, OrderStatus.PRE_SUBMITTED, OrderStatus.PRE_SUBMITTED]
    assert session.portfolio.position_quantity(aapl) == 0 and not sim.engine.executions
