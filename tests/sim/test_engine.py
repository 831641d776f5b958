"""Matching engine specifications: fills, partial fills, brackets, cancels, commissions."""

from __future__ import annotations

from datetime import UTC, datetime

from terminal.domain import Instrument, Order, OrderSide, OrderStatus, OrderType, TimeInForce
from terminal.sim.events import BookLevel, BookSnapshot, Execution, OrderUpdate, Rejection
from terminal.sim.matching import Accounts, MatchingEngine, commission

AAPL = Instrument("AAPL", contract_id=265598)
T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def book(bid: float, ask: float, size: float = 100.0, last: float | None = None) -> BookSnapshot:
    return BookSnapshot(AAPL.contract_id, T0, (BookLevel(bid, size),), (BookLevel(ask, size),),
                        last if last is not None else (bid + ask) / 2, 1.0)


def fills(events: list) -> list[Execution]:
    return [e for e in events if isinstance(e, Execution)]


def test_market_buy_larger_than_depth_fills_across_two_books() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01, size=100))
    first = fills(engine.submit(1, Order(AAPL, OrderSide.BUY, 150, order_id=1)))
    second = fills(engine.on_book(book(100.00, 100.02, size=100)))
    assert [(f.fill.quantity, f.fill.price) for f in first + second] == [(100, 100.01), (50, 100.02)]


def test_unknown_cancel_is_rejected_with_10147() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    events = engine.cancel(1, 42)
    assert isinstance(events[0], Rejection) and events[0].code == 10147


def test_bracket_stop_fill_cancels_take_profit() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01))
    engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=100.05, order_id=1, transmit=False))
    engine.submit(1, Order(AAPL, OrderSide.SELL, 10, OrderType.LIMIT, limit_price=110.0, order_id=2, parent_id=1,
                           transmit=False))
    engine.submit(1, Order(AAPL, OrderSide.SELL, 10, OrderType.STOP, stop_price=95.0, order_id=3, parent_id=1))
    events = engine.on_book(book(94.0, 94.02, last=94.0))
    statuses = {e.order.order_id: e.order.status for e in events if isinstance(e, OrderUpdate)}
    assert statuses[3] is OrderStatus.FILLED and statuses[2] is OrderStatus.CANCELLED


def test_stock_commission_has_minimum_and_one_percent_cap() -> None:
    assert commission(AAPL, 10, 100.0) == 0.35
    assert commission(AAPL, 1000, 100.0) == 3.5
    assert commission(AAPL, 1000, 0.05) == 0.5


def test_limit_buy_rests_then_fills_at_limit_when_ask_reaches_it() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01))
    assert not fills(engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=99.50, order_id=1)))
    done = fills(engine.on_book(book(99.40, 99.50)))
    assert [(f.fill.quantity, f.fill.price) for f in done] == [(10, 99.50)]


def test_two_clients_see_only_their_own_open_orders() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01))
    engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=90.0, order_id=1))
    engine.submit(2, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=91.0, order_id=1))
    assert [u.order.limit_price for u in engine.open_orders(1)] == [90.0]
    assert len(engine.open_orders()) == 2


def test_global_cancel_cancels_every_working_order() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01))
    engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=90.0, order_id=1))
    engine.submit(2, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=91.0, order_id=1))
    engine.cancel_all()
    assert engine.open_orders() == []


def test_ioc_fills_displayed_size_and_cancels_the_rest() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01, size=100))
    events = engine.submit(1, Order(AAPL, OrderSide.BUY, 150, order_id=1, time_in_force=TimeInForce.IOC))
    assert [f.fill.quantity for f in fills(events)] == [100]
    assert [e.order.status for e in events if isinstance(e, OrderUpdate)][-1] is OrderStatus.CANCELLED


def test_sell_stop_triggers_when_last_trades_through_and_fills_at_bid() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01))
    assert not fills(engine.submit(1, Order(AAPL, OrderSide.SELL, 10, OrderType.STOP, stop_price=99.0, order_id=1)))
    assert not fills(engine.on_book(book(99.20, 99.22, last=99.21)))
    done = fills(engine.on_book(book(98.90, 98.92, last=98.90)))
    assert [(f.fill.quantity, f.fill.price) for f in done] == [(10, 98.90)]


def test_modified_limit_price_fills_at_the_new_price() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01))
    engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=95.0, order_id=1))
    engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=99.0, order_id=1))
    done = fills(engine.on_book(book(98.80, 98.90)))
    assert [(f.fill.quantity, f.fill.price) for f in done] == [(10, 98.90)]


def test_end_of_day_cancels_day_orders_and_keeps_gtc() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01))
    engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=90.0, order_id=1))
    engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=90.0, order_id=2,
                           time_in_force=TimeInForce.GTC))
    engine.end_of_day()
    assert [u.order.order_id for u in engine.open_orders(1)] == [2]


def test_trailing_sell_stop_follows_the_rise_and_triggers_on_the_pullback() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01, last=100.0))
    engine.submit(1, Order(AAPL, OrderSide.SELL, 10, OrderType.TRAIL, trail_amount=1.0, order_id=1))
    assert not fills(engine.on_book(book(104.99, 105.01, last=105.0)))
    assert not fills(engine.on_book(book(104.20, 104.22, last=104.2)))  # above the 104.00 stop
    done = fills(engine.on_book(book(103.90, 103.92, last=103.9)))
    assert [(f.fill.quantity, f.fill.price) for f in done] == [(10, 103.90)]


def test_oca_fill_cancels_the_other_orders_of_the_group() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01))
    engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=99.0, order_id=1, oca_group="g"))
    engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=98.0, order_id=2, oca_group="g"))
    engine.on_book(book(98.90, 99.00))
    assert engine.open_orders(1) == []


def test_order_off_the_tick_grid_is_rejected_with_201_and_the_reason() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    events = engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=99.003, order_id=1))
    rejection = next(e for e in events if isinstance(e, Rejection))
    assert rejection.code == 201 and "tick grid" in rejection.message


def _bracket(engine: MatchingEngine) -> None:
    engine.submit(1, Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=95.0, order_id=1, transmit=False))
    engine.submit(1, Order(AAPL, OrderSide.SELL, 10, OrderType.LIMIT, limit_price=110.0, order_id=2, parent_id=1,
                           transmit=False))
    engine.submit(1, Order(AAPL, OrderSide.SELL, 10, OrderType.STOP, stop_price=90.0, order_id=3, parent_id=1))


def test_bracket_children_are_held_until_the_parent_fills() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01))
    _bracket(engine)
    held = {u.order.order_id: u.order.status for u in engine.open_orders(1)}
    assert held[2] is OrderStatus.PRE_SUBMITTED and held[1] is OrderStatus.SUBMITTED
    engine.on_book(book(94.90, 95.00, last=94.95))
    working = {u.order.order_id: u.order.status for u in engine.open_orders(1)}
    assert 1 not in working and working[2] is OrderStatus.SUBMITTED


def test_modified_bracket_exit_still_waits_for_its_parent() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01))
    _bracket(engine)
    # the take-profit moved to a price the market already offers: it must not trade before its parent fills
    events = engine.submit(1, Order(AAPL, OrderSide.SELL, 10, OrderType.LIMIT, limit_price=99.0, order_id=2,
                                    parent_id=1))
    assert not fills(events)
    working = {u.order.order_id: u.order.status for u in engine.open_orders(1)}
    assert working == {1: OrderStatus.SUBMITTED, 2: OrderStatus.PRE_SUBMITTED, 3: OrderStatus.PRE_SUBMITTED}
    assert not engine.accounts.positions_of("DU1234567")


def test_cancelling_a_bracket_parent_cancels_its_children() -> None:
    engine = MatchingEngine(Accounts(), clock=lambda: T0)
    engine.on_book(book(99.99, 100.01))
    _bracket(engine)
    engine.cancel(1, 1)
    assert engine.open_orders(1) == []
