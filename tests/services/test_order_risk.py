"""Risk, confirmation, previews and durable records on every order path, against the simulator."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from terminal.broker.base import BrokerError
from terminal.domain import Instrument, Order, OrderRejected, OrderSide, OrderStatus, OrderType
from terminal.services.confirmation import ConfirmationPolicy, ConfirmationRequired
from tests.support.trading import close, fill_order, wait


def _qualified(loop, session, symbol="AAPL"):
    return loop.run_until_complete(session.market.qualify(symbol))


def _price(loop, session, instrument):
    return loop.run_until_complete(session.market.reference_price_now(instrument))[0]


def _rule(loop, coroutine) -> str:
    with pytest.raises(OrderRejected) as info:
        loop.run_until_complete(coroutine)
    return f"{info.value.rule}: {info.value}"


def test_market_order_without_a_quote_is_valued_from_a_snapshot(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    msft = _qualified(loop, session, "MSFT")
    assert msft.key not in session.market.quotes  # nothing subscribed
    text = _rule(loop, session.orders.place(Order(msft, OrderSide.BUY, 9_999)))
    assert text.startswith("max_notional: notional ") and "exceeds the max notional 1,000,000" in text
    assert sim.engine.submitted_count == 0


def test_no_price_at_all_rejects_orders_that_need_one(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    msft = _qualified(loop, session, "MSFT")

    async def no_quote(instrument, timeout=3.0):
        raise BrokerError(f"the broker sent no quote of {instrument.display_name} within {timeout:g} s")

    session.broker.snapshot = no_quote  # as TWS does for an instrument without market data permissions
    text = _rule(loop, session.orders.place(Order(msft, OrderSide.BUY, 10)))
    assert text.startswith("no_reference_price: no price for MSFT") and "within 3 s" in text
    assert sim.engine.submitted_count == 0


def test_unknown_instrument_is_never_sent(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    text = _rule(loop, session.orders.place(Order(Instrument("NOSUCH"), OrderSide.BUY, 1, OrderType.LIMIT,
                                                  limit_price=10.0)))
    assert text.startswith("instrument: NOSUCH is not known at the broker")
    assert sim.engine.submitted_count == 0


def test_unqualified_instrument_is_qualified_before_sending(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    order = loop.run_until_complete(session.orders.place(Order(Instrument("AAPL"), OrderSide.BUY, 1)))
    assert order.instrument.contract_id == 265598
    wait(loop, lambda: session.orders.orders[order.client_order_id].status is OrderStatus.FILLED, what="filled")


@pytest.mark.parametrize(("take_profit", "stop_loss", "expected"), [
    (-1.0, 2.0, "take-profit offset -1 must be a positive distance"),
    (2.0, 0.0, "stop-loss offset 0 must be a positive distance"),
    (0.004, 2.0, "take-profit offset 0.004 is less than one tick (0.01)"),
    (None, None, "bracket needs a take-profit or stop-loss offset"),
])
def test_bracket_offsets_are_positive_and_at_least_one_tick(loop, sims, sessions, take_profit, stop_loss, expected):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    entry = aapl.round_to_tick(_price(loop, session, aapl) * 0.99)
    parent = Order(aapl, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=entry)
    text = _rule(loop, session.orders.place_bracket(parent, take_profit, stop_loss))
    assert text.startswith("validation: ") and expected in text
    assert sim.engine.submitted_count == 0


def test_bracket_exits_pass_the_price_band(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    last = _price(loop, session, aapl)
    parent = Order(aapl, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=aapl.round_to_tick(last * 0.99))
    text = _rule(loop, session.orders.place_bracket(parent, last * 5.37, 2.0))  # take-profit 537 % away
    assert text.startswith("price_band: limit price") and "the price band is ±5%" in text
    assert sim.engine.submitted_count == 0


def test_modify_of_a_partly_filled_order_checks_what_remains(loop, sims, sessions):
    sim = sims(tick_interval=30.0)  # a still market: what did not fill at once keeps working
    shown = sim.market.book(265598).asks[0].size
    limit = shown + 300
    session = sessions(sim.port, max_order_quantity=limit, max_position=100_000, max_notional=100_000_000)
    aapl = _qualified(loop, session)
    best_ask = sim.market.book(aapl.contract_id).asks[0].price
    # Buy more than the best ask shows, limited to the best ask: part fills, the rest works.
    order = loop.run_until_complete(session.orders.place(
        Order(aapl, OrderSide.BUY, shown + 200, OrderType.LIMIT, limit_price=best_ask)))
    wait(loop, lambda: session.orders.orders[order.client_order_id].filled_quantity == shown, what="a partial fill")
    assert session.orders.orders[order.client_order_id].status is OrderStatus.SUBMITTED
    text = _rule(loop, session.orders.modify(order.client_order_id, quantity=shown))
    assert "must be above the" in text
    # What remains may be as large as the max order quantity; one more share and it is not.
    loop.run_until_complete(session.orders.modify(order.client_order_id, quantity=shown + limit))
    text = _rule(loop, session.orders.modify(order.client_order_id, quantity=shown + limit + 1))
    assert text.startswith(f"max_order_quantity: quantity {limit + 1:g} exceeds")


def test_modify_passes_the_price_band(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    last = _price(loop, session, aapl)
    order = loop.run_until_complete(session.orders.place(
        Order(aapl, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=aapl.round_to_tick(last * 0.97))))
    text = _rule(loop, session.orders.modify(order.client_order_id, limit_price=aapl.round_to_tick(last * 0.5)))
    assert text.startswith("price_band: limit price")


def test_the_same_order_twice_within_two_seconds_asks_again():
    now = [100.0]
    policy = ConfirmationPolicy(confirm_orders=False, clock=lambda: now[0])
    aapl = Instrument("AAPL")
    order = Order(aapl, OrderSide.SELL, 100, OrderType.LIMIT, limit_price=187.5)
    policy.check_new([order], confirmed=False)  # confirm off: the first goes
    policy.sent(order)
    now[0] += 0.8
    with pytest.raises(ConfirmationRequired, match=r"was sent 0.8 s ago. Send it again\?"):
        policy.check_new([order], confirmed=False)
    policy.check_new([Order(aapl, OrderSide.SELL, 200, OrderType.LIMIT, limit_price=187.5)], confirmed=False)
    policy.check_new([order], confirmed=True)  # the user said yes
    now[0] += 1.5
    policy.check_new([order], confirmed=False)


def test_double_send_through_the_service_asks_and_sends_only_on_yes(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    order = Order(aapl, OrderSide.BUY, 10)
    loop.run_until_complete(session.orders.place(order))
    with pytest.raises(ConfirmationRequired):
        loop.run_until_complete(session.orders.place(order))
    assert sim.engine.submitted_count == 1
    loop.run_until_complete(session.orders.place(order, confirmed=True))
    wait(loop, lambda: sim.engine.submitted_count == 2, what="the confirmed second order")


def test_confirm_orders_asks_before_anything_is_recorded_or_sent(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port, confirm_orders=True)
    aapl = _qualified(loop, session)
    last = _price(loop, session, aapl)
    resting = Order(aapl, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=aapl.round_to_tick(last * 0.97))
    with pytest.raises(ConfirmationRequired, match="Send this order"):
        loop.run_until_complete(session.orders.place(resting))
    assert not session.orders.orders and not session.store.orders.list()
    placed = loop.run_until_complete(session.orders.place(resting, confirmed=True))
    with pytest.raises(ConfirmationRequired, match="Modify this order"):
        loop.run_until_complete(session.orders.modify(placed.client_order_id, quantity=20))
    with pytest.raises(ConfirmationRequired, match=r"Cancel all 1 working order\(s\)"):
        loop.run_until_complete(session.orders.cancel_all())
    wait(loop, lambda: sim.engine.submitted_count == 1, what="the confirmed order")
    assert session.orders.orders[placed.client_order_id].quantity == 10


def test_order_is_committed_to_the_store_before_it_is_sent(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    seen_in_store = []
    send = session.broker.place

    async def place_and_look(order):
        seen_in_store.append(session.store.orders.get(order.client_order_id))  # what a crash now would leave
        return await send(order)

    session.broker.place = place_and_look
    order = loop.run_until_complete(session.orders.place(Order(aapl, OrderSide.BUY, 3)))
    assert seen_in_store[0] is not None and seen_in_store[0].status is OrderStatus.PENDING_SUBMIT
    assert seen_in_store[0].client_order_id == order.client_order_id


def test_a_locked_database_delays_records_but_loses_none_and_an_unrecorded_order_is_never_sent(
        loop, sims, sessions, tmp_path):
    sim = sims()
    session = sessions(sim.port, db="locked")
    aapl = _qualified(loop, session)
    last = _price(loop, session, aapl)
    resting = loop.run_until_complete(session.orders.place(
        Order(aapl, OrderSide.BUY, 4, OrderType.LIMIT, limit_price=aapl.round_to_tick(last * 0.97))))
    wait(loop, lambda: session.orders.orders[resting.client_order_id].status is OrderStatus.SUBMITTED, what="working")
    locker = sqlite3.connect(tmp_path / "locked.sqlite", check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the database longer than SQLite's busy timeout
    threading.Timer(6.5, locker.rollback).start()
    # The resting order becomes marketable and fills while the fill cannot be written ...
    loop.run_until_complete(session.orders.modify(resting.client_order_id, limit_price=aapl.round_to_tick(last * 1.03)))
    wait(loop, lambda: session.orders.orders[resting.client_order_id].status is OrderStatus.FILLED, what="filled")
    # ... and a new order cannot be recorded in time, so it is not sent.
    text = _rule(loop, session.orders.place(Order(aapl, OrderSide.BUY, 2)))
    assert text.startswith("store: not sent: the store did not record BUY 2 AAPL MKT DAY within 5 s")
    wait(loop, lambda: sim.engine.submitted_count == 1, timeout=1, what="only the first order at the broker")
    assert loop.run_until_complete(session.records.flush(timeout=20))
    assert session.records.retries > 0
    assert session.store.orders.get(resting.client_order_id).status is OrderStatus.FILLED
    assert sum(f.quantity for f in session.store.fills.list(client_order_id=resting.client_order_id)) == 4
    unsent = [o for o in session.store.orders.list() if o.quantity == 2]
    assert [o.status for o in unsent] == [OrderStatus.INACTIVE] and unsent[0].reason.startswith("not sent")
    assert sim.engine.submitted_count == 1
    locker.close()


def test_kill_switch_survives_a_restart(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)

    async def kill():  # the menu action runs on the event loop
        await session.orders.set_kill_switch(True)

    loop.run_until_complete(kill())
    close(loop, session)
    restarted = sessions(sim.port)
    assert restarted.risk.kill_switch
    text = _rule(loop, restarted.orders.place(Order(aapl, OrderSide.BUY, 1)))
    assert text.startswith("kill_switch:")

    async def reset():  # the menu action runs on the event loop
        restarted.orders.set_kill_switch(False)
        await restarted.records.flush()

    loop.run_until_complete(reset())
    close(loop, restarted)
    assert not sessions(sim.port).risk.kill_switch


def test_what_if_previews_without_trading(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    preview = loop.run_until_complete(session.orders.preview(Order(aapl, OrderSide.BUY, 100)))
    assert preview.source == "broker" and preview.commission == pytest.approx(0.35)
    assert preview.initial_margin_change > 0
    loop.run_until_complete(asyncio.sleep(0.3))
    assert sim.engine.submitted_count == 0 and not sim.engine.orders
    assert loop.run_until_complete(session.broker.positions()) == []
    assert loop.run_until_complete(session.broker.open_orders()) == []


def test_what_if_for_a_stock_without_exchange_gets_321_and_the_preview_says_it_is_an_estimate(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    from dataclasses import replace

    nowhere = replace(aapl, exchange="")
    with pytest.raises(BrokerError, match="IB 321: .*Missing order exchange"):
        loop.run_until_complete(session.broker.what_if(Order(nowhere, OrderSide.BUY, 100, client_order_id="p")))
    preview = loop.run_until_complete(session.orders.preview(Order(nowhere, OrderSide.BUY, 100)))
    assert preview.source == "estimate" and "321" in preview.note and preview.commission == pytest.approx(0.35)


def test_position_mismatch_blocks_the_symbol_until_acknowledged(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    fill_order(loop, session, Order(aapl, OrderSide.BUY, 100))
    # Someone trades 50 more in the same account from another client (TWS, another terminal).
    from ib_async import IB, MarketOrder, Stock

    other = IB()
    loop.run_until_complete(other.connectAsync("127.0.0.1", sim.port, clientId=9, timeout=5))
    contract = Stock("AAPL", "SMART", "USD")
    loop.run_until_complete(other.qualifyContractsAsync(contract))
    other.placeOrder(contract, MarketOrder("BUY", 50))
    wait(loop, lambda: sim.accounts.positions["DU1234567"][aapl.contract_id].quantity == 150, what="the outside trade")
    other.disconnect()
    report = loop.run_until_complete(session.reconcile())
    assert [(m.instrument.symbol, m.broker, m.expected) for m in report.mismatches] == [("AAPL", 150, 100)]
    text = _rule(loop, session.orders.place(Order(aapl, OrderSide.SELL, 10)))
    assert text.startswith("position_mismatch: position mismatch in AAPL: the broker reports +150")

    async def acknowledge():  # the Positions dock's button runs on the event loop
        session.acknowledge_position(aapl.key)

    loop.run_until_complete(acknowledge())
    # the book follows the broker from the acknowledgement on: the sell's fill moves it from +150, not +100
    fill_order(loop, session, Order(aapl, OrderSide.SELL, 10))
    loop.run_until_complete(session.records.flush())
    assert session.store.position_book.all()[("DU1234567", aapl.key)] == 140


def test_positions_agree_after_a_restart_of_the_terminal(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = _qualified(loop, session)
    fill_order(loop, session, Order(aapl, OrderSide.BUY, 60))
    close(loop, session)
    restarted = sessions(sim.port)
    assert not restarted.last_reconcile.mismatches and not restarted.risk.blocked


def test_daily_loss_limit_resets_at_the_stated_time_and_zone():
    from terminal.domain import Account
    from terminal.services.portfolio import PortfolioService
    from terminal.services.trading_day import TradingDay, day_start

    at, zone = TradingDay("09:30", "America/New_York").at, TradingDay("09:30", "America/New_York").zone
    # 09:29 New York on 25 Nov 2026 (EST, UTC-5) still belongs to the day that started on the 24th.
    assert day_start(datetime(2026, 11, 25, 14, 29, tzinfo=UTC), at, zone) == datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
    assert day_start(datetime(2026, 11, 25, 14, 30, tzinfo=UTC), at, zone) == datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    now = [datetime(2026, 11, 25, 15, 0, tzinfo=UTC)]
    portfolio = PortfolioService(TradingDay("09:30", "America/New_York"), clock=lambda: now[0])
    portfolio.on_account(Account("DU1", net_liquidation=1_000_000))
    portfolio.on_account(Account("DU1", net_liquidation=940_000))
    assert portfolio.daily_pnl() == -60_000
    now[0] = datetime(2026, 11, 26, 14, 31, tzinfo=UTC)  # 09:31 New York the next day
    portfolio.on_account(Account("DU1", net_liquidation=940_000))
    assert portfolio.daily_pnl() == 0


def test_daily_loss_baseline_survives_a_restart(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    baseline = session.portfolio.trading_day.start_equity
    loop.run_until_complete(session.records.flush())
    close(loop, session)
    sim.accounts.cash["DU1234567"] -= 70_000  # a loss the terminal did not see happen
    restarted = sessions(sim.port)
    assert restarted.portfolio.trading_day.start_equity == baseline
    assert restarted.portfolio.daily_pnl() == pytest.approx(-70_000, abs=1_000)
    aapl = _qualified(loop, restarted)
    text = _rule(loop, restarted.orders.place(Order(aapl, OrderSide.BUY, 1)))
    assert text.startswith("daily_loss_limit:")
