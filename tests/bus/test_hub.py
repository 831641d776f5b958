"""Hub and terminals on a real Kafka broker and the simulator: quotes, orders exactly once, desk risk."""

from __future__ import annotations

from terminal.domain import Instrument, Order, OrderSide, OrderStatus, OrderType
from tests.support.trading import wait

AAPL = Instrument("AAPL")


def test_two_terminals_on_one_hub_see_the_same_quotes(loop, desk):
    hub = desk.hub()
    alice, bob = desk.terminal("alice"), desk.terminal("bob")
    for session in (alice, bob):
        instrument = desk.run(session.market.qualify("AAPL"))
        desk.run(session.market.subscribe(instrument))
    wait(loop, lambda: all(s.market.quotes.get(AAPL.key) for s in (alice, bob)), 10, "quotes at both terminals")
    assert ("quotes", AAPL.key) in hub.wanted()
    seen = {}
    for name, session in (("alice", alice), ("bob", bob)):
        session.market.quote_updated.connect(lambda item, name=name: seen.setdefault(name, []).append(item[1]))
    wait(loop, lambda: len(seen.get("alice", [])) > 5 and len(seen.get("bob", [])) > 5, 10, "a stream of quotes")
    common = {q.time for q in seen["alice"]} & {q.time for q in seen["bob"]}
    assert common, "the two terminals saw no quote in common"


def test_an_order_from_each_terminal_reaches_the_simulator_once(loop, desk):
    desk.hub()
    alice, bob = desk.terminal("alice"), desk.terminal("bob")
    placed = []
    for session in (alice, bob):
        instrument = desk.run(session.market.qualify("AAPL"))
        desk.run(session.market.subscribe(instrument))
        wait(loop, lambda s=session: AAPL.key in s.market.quotes, 10, "a quote")
        placed.append(desk.run(session.orders.place(Order(instrument, OrderSide.BUY, 10, OrderType.MARKET))))
    for session, order in zip((alice, bob), placed, strict=True):
        wait(loop, lambda s=session, o=order: s.orders.orders[o.client_order_id].status is OrderStatus.FILLED, 10,
             "the fill at the terminal")
    at_sim = desk.at_simulator()
    assert [at_sim[o.client_order_id] for o in placed] == [1, 1]
    # each terminal sees its own order only
    assert set(alice.orders.orders) == {placed[0].client_order_id}
    assert set(bob.orders.orders) == {placed[1].client_order_id}
    wait(loop, lambda: len(alice.orders.fills) == 1 and len(bob.orders.fills) == 1, 10, "one fill at each terminal")
    (fill,) = alice.orders.fills
    assert fill.client_order_id == placed[0].client_order_id and fill.quantity == 10 and fill.commission > 0


def test_a_java_consumer_reads_the_fill_messages(loop, desk):
    """The bus is JSON for any consumer: the Java Kafka client and Jackson read a fill with every field it must carry."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    import pytest

    from tests.support.kafka import JARS_HOME

    libs = JARS_HOME / "lib-4.1.1"
    if shutil.which("java") is None or not libs.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have java and the Kafka jars in {libs}")
        pytest.skip(f"needs java and the Kafka client jars in {libs}")
    desk.hub()
    alice = desk.terminal("alice")
    instrument = desk.run(alice.market.qualify("AAPL"))
    desk.run(alice.market.subscribe(instrument))
    wait(loop, lambda: AAPL.key in alice.market.quotes, 10, "a quote")
    placed = desk.run(alice.orders.place(Order(instrument, OrderSide.SELL, 4, OrderType.MARKET)))
    wait(loop, lambda: len(alice.orders.fills) == 1, 10, "the fill")
    source = Path(__file__).parent / "java" / "ReadFills.java"
    result = subprocess.run(["java", "-cp", f"{libs}/*", str(source), desk.bootstrap, desk.topics.fills, "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    (line,) = result.stdout.strip().splitlines()
    v, kind, client_order_id, exec_id, symbol, side, quantity, price, commission, moment = line.split("\t")
    fill = alice.orders.fills[0]
    assert (v, kind, client_order_id, exec_id, symbol, side) == ("1", "fill", placed.client_order_id,
                                                                  fill.execution_id, "AAPL", "SELL")
    assert float(quantity) == 4 and abs(float(price) - fill.price) < 1e-9 and float(commission) > 0
    assert moment.startswith(f"{fill.time:%Y-%m-%d}")


def test_a_second_hub_on_the_same_bus_is_refused(loop, desk):
    import pytest

    from terminal.bus.kafka import BusError

    desk.hub()
    with pytest.raises(BusError, match="another desk hub .* is live"):
        desk.hub()


def test_brackets_and_modifies_go_through_the_hub(loop, desk):
    hub = desk.hub()
    alice = desk.terminal("alice")
    instrument = desk.run(alice.market.qualify("AAPL"))
    desk.run(alice.market.subscribe(instrument))
    wait(loop, lambda: AAPL.key in alice.market.quotes, 10, "a quote")
    last = alice.market.reference_price(instrument)
    parent = Order(instrument, OrderSide.BUY, 5, OrderType.LIMIT, limit_price=round(last * 0.98, 2))
    placed = desk.run(alice.orders.place_bracket(parent, take_profit_offset=2.0, stop_loss_offset=2.0))
    keys = [o.client_order_id for o in placed]
    assert keys[1:] == [f"{keys[0]}-tp", f"{keys[0]}-sl"]
    wait(loop, lambda: all(k in hub.session.orders.orders and hub.session.orders.orders[k].order_id for k in keys),
         10, "the bracket at the hub")
    wait(loop, lambda: desk.at_simulator()[keys[0]] == 1, 10, "the bracket at the simulator")
    assert [desk.at_simulator()[k] for k in keys] == [1, 1, 1]
    wait(loop, lambda: alice.orders.orders[keys[0]].status is OrderStatus.SUBMITTED, 10, "the parent working")
    lower = round(last * 0.97, 2)
    desk.run(alice.orders.modify(keys[0], limit_price=lower))
    wait(loop, lambda: hub.session.orders.orders[keys[0]].limit_price == lower, 10, "the modify at the hub")
    wait(loop, lambda: any(w.order.client_order_id == keys[0] and w.order.limit_price == lower
                           for w in desk.sim.engine.orders.values()), 10, "the modify at the simulator")
    desk.run(alice.orders.cancel(keys[0]))
    wait(loop, lambda: alice.orders.orders[keys[0]].status is OrderStatus.CANCELLED, 10, "the cancel")
