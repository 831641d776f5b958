"""Orders through the hub reach the simulator exactly once: resends, redeliveries, a hub killed -9 mid-command,
expired commands; desk-wide limits across terminals."""

from __future__ import annotations

import asyncio
import time

from terminal.bus import codec
from terminal.bus.hub import DeskLimits
from terminal.bus.kafka import Producer
from terminal.domain import Instrument, Order, OrderSide, OrderStatus, OrderType
from tests.support.trading import wait

AAPL = Instrument("AAPL")


def _watching(desk, session, symbol="AAPL"):
    instrument = desk.run(session.market.qualify(symbol))
    desk.run(session.market.subscribe(instrument))
    wait(desk.loop, lambda: instrument.key in session.market.quotes, 10, f"a quote of {symbol}")
    return instrument


def _command(desk, order: Order, trader="script", ttl: float | None = 30.0, sent: float | None = None) -> dict:
    now = time.time() if sent is None else sent
    return codec.envelope("command", command="place", client_order_id=order.client_order_id, trader=trader,
                          terminal=f"{trader}-raw", role="trader", orders=[codec.order_dict(order)],
                          expires=None if ttl is None else now + ttl) | {"sent": now}


def _produce(desk, *messages: dict) -> None:
    async def send():
        producer = Producer(desk.bootstrap, asyncio.get_running_loop())
        for message in messages:
            await producer.send_confirmed(desk.topics.commands, message["client_order_id"], message)
        await asyncio.to_thread(producer.close)

    desk.run(send())


def test_the_same_command_twice_places_one_order(loop, desk):
    hub = desk.hub()
    alice = desk.terminal("alice")
    instrument = _watching(desk, alice)
    order = Order(instrument, OrderSide.BUY, 3, OrderType.MARKET, client_order_id="dup-1")
    command = _command(desk, order)
    _produce(desk, command, command)  # a redelivery, or a script resending after a timeout
    wait(loop, lambda: hub.commands_done >= 2, 15, "the hub to take both commands")
    wait(loop, lambda: hub.session.orders.orders["dup-1"].status is OrderStatus.FILLED, 10, "the fill")
    assert desk.at_simulator()["dup-1"] == 1
    # the terminal's own resend path: the same client order id from the order service is refused there ...
    placed = desk.run(alice.orders.place(Order(instrument, OrderSide.BUY, 2, OrderType.MARKET)))
    wait(loop, lambda: alice.orders.orders[placed.client_order_id].status is OrderStatus.FILLED, 10, "alice's fill")
    # ... and a resend of it on the bus (the terminal timed out waiting) is answered, not placed again
    again = _command(desk, alice.orders.orders[placed.client_order_id], trader="alice")
    _produce(desk, again)
    wait(loop, lambda: hub.commands_done >= 4, 15, "the resend")
    assert desk.at_simulator()[placed.client_order_id] == 1


def test_an_expired_command_is_refused_and_never_reaches_the_simulator(loop, desk):
    hub = desk.hub()
    alice = desk.terminal("alice")
    _watching(desk, alice)
    instrument = hub.session.market.instruments[AAPL.key]
    late = Order(instrument, OrderSide.BUY, 5, OrderType.MARKET, client_order_id="late-1")
    _produce(desk, _command(desk, late, ttl=2.0, sent=time.time() - 5.0))  # sent 5 s ago, 2 s to live
    wait(loop, lambda: hub.commands_done >= 1, 15, "the hub to read the command")
    assert desk.at_simulator()["late-1"] == 0
    assert hub._rejected["late-1"].status is OrderStatus.INACTIVE
    assert hub._rules["late-1"] == "expired"


def test_a_market_order_waiting_through_a_hub_outage_is_rejected_as_expired(loop, desk):
    """The terminal sent it just before the hub died; the hub comes back after its expiry: refused, not executed late."""
    hub = desk.hub()
    alice = desk.terminal("alice", ttl=2.0)
    instrument = _watching(desk, alice)
    desk.stop_hub(hub)
    wait(loop, lambda: not alice.broker.is_connected, 3, "the feed to go stale")
    order = alice.orders._identify(Order(instrument, OrderSide.BUY, 4, OrderType.MARKET))
    _produce(desk, _command(desk, order, trader="alice", ttl=2.0))
    loop.run_until_complete(asyncio.sleep(3.0))  # the outage outlasts the command's 2 s
    hub = desk.hub()
    wait(loop, lambda: order.client_order_id in hub._rejected, 15, "the hub to refuse the stale command")
    assert hub._rules[order.client_order_id] == "expired"
    assert desk.at_simulator()[order.client_order_id] == 0


def test_desk_limits_reject_what_would_breach_them_across_terminals(loop, desk):
    hub = desk.hub(max_position=15)  # the hub's per-symbol limit counts every terminal's position
    alice, bob = desk.terminal("alice"), desk.terminal("bob")
    a_instrument, b_instrument = _watching(desk, alice), _watching(desk, bob)
    first = desk.run(alice.orders.place(Order(a_instrument, OrderSide.BUY, 10, OrderType.MARKET)))
    wait(loop, lambda: alice.orders.orders[first.client_order_id].status is OrderStatus.FILLED, 10, "alice's fill")
    wait(loop, lambda: hub.session.portfolio.position_quantity(a_instrument) == 10, 10, "the hub's position")
    try:
        desk.run(bob.orders.place(Order(b_instrument, OrderSide.BUY, 10, OrderType.MARKET)))
        raise AssertionError("bob's order passed the desk's position limit")
    except Exception as exc:  # OrderRejected from bob's order service, carrying the hub's reason
        assert "max position" in str(exc) or "max_position" in str(exc), exc
    (refused,) = [o for o in bob.orders.orders.values()]
    assert refused.status is OrderStatus.INACTIVE and "desk hub refused" in refused.reason
    assert desk.at_simulator()[refused.client_order_id] == 0


def test_desk_gross_exposure_limit_counts_working_orders_of_every_terminal(loop, desk):
    hub = desk.hub(limits=DeskLimits(max_gross_exposure=30_000.0))
    alice, bob = desk.terminal("alice"), desk.terminal("bob")
    instrument = _watching(desk, alice)
    _watching(desk, bob)
    price = hub.session.market.reference_price(hub.session.market.instruments[instrument.key])
    below = round(price * 0.97, 2)  # a resting limit: working exposure, no fill
    quantity = int(20_000 / price)
    working = desk.run(alice.orders.place(Order(instrument, OrderSide.BUY, quantity, OrderType.LIMIT,
                                                limit_price=below)))
    wait(loop, lambda: alice.orders.orders[working.client_order_id].status is OrderStatus.SUBMITTED, 10, "working")
    try:
        desk.run(bob.orders.place(Order(instrument, OrderSide.BUY, quantity, OrderType.LIMIT, limit_price=below)))
        raise AssertionError("bob's order passed the desk's gross exposure limit")
    except Exception as exc:
        assert "desk gross exposure" in str(exc), exc
    # a trader cannot cancel another's order (bob's terminal does not even see it; a forged command is refused) ...
    key = working.client_order_id
    assert key not in bob.orders.orders
    forged = codec.envelope("command", command="cancel", client_order_id=key, trader="bob", terminal="bob-raw",
                            role="trader")
    done = hub.commands_done
    _produce(desk, forged)
    wait(loop, lambda: hub.commands_done > done, 10, "the forged cancel")
    assert hub.session.orders.orders[key].status is OrderStatus.SUBMITTED
    # ... the desk role can
    lead = desk.terminal("lead", role="desk")
    perm_id = hub.session.orders.orders[key].perm_id
    (seen,) = [o for o in lead.orders.orders.values() if o.perm_id == perm_id]  # another's order: external there
    desk.run(lead.orders.cancel(seen.client_order_id))
    wait(loop, lambda: alice.orders.orders[key].status is OrderStatus.CANCELLED, 10, "the desk's cancel")
