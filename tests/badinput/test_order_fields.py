"""Bad order fields, through the one order service against the simulator: each is refused with one line that
names the field and what would be valid, nothing reaches the broker and nothing is recorded."""

from __future__ import annotations

import math

import pytest

from terminal.domain import Instrument, Order, OrderRejected, OrderSide, OrderType

AAPL = "AAPL"

# (case, order fields, words the one-line message must hold)
CASES = [
    ("negative quantity", dict(quantity=-5), "quantity -5 must be > 0"),
    ("zero quantity", dict(quantity=0), "quantity 0 must be > 0"),
    ("NaN quantity", dict(quantity=math.nan), "quantity nan is not a finite number"),
    ("infinite quantity", dict(quantity=math.inf), "quantity inf is not a finite number"),
    ("fractional shares", dict(quantity=1.5), "not a multiple of the lot size 1"),
    ("limit without price", dict(order_type=OrderType.LIMIT), "LMT order needs a limit price"),
    ("negative limit", dict(order_type=OrderType.LIMIT, limit_price=-1.0), "limit price -1.0 must be > 0"),
    ("NaN limit", dict(order_type=OrderType.LIMIT, limit_price=math.nan), "limit price nan is not a finite number"),
    ("off the tick grid", dict(order_type=OrderType.LIMIT, limit_price=100.005),
     "not on the 0.01 tick grid of AAPL; nearest valid prices are 100.0 and 100.01"),
    ("market with a limit", dict(limit_price=100.0), "MKT order takes no limit price"),
    ("stop without price", dict(order_type=OrderType.STOP), "STP order needs a stop price"),
    ("trail with both", dict(order_type=OrderType.TRAIL, trail_amount=1.0, trail_percent=1.0),
     "TRAIL order needs exactly one of trail amount or trail percent"),
    ("trail percent 150", dict(order_type=OrderType.TRAIL, trail_percent=150.0),
     "trail percent 150.0 must be between 0 and 100"),
    ("huge order", dict(quantity=1_000_000), "exceeds the max"),
]


def test_every_bad_order_field_is_refused_with_one_line_and_leaves_nothing_behind(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = loop.run_until_complete(session.market.qualify(AAPL))
    stored_before = session.store.orders.list(limit=100)
    for case, fields, words in CASES:
        quantity = fields.pop("quantity", 10)
        order = Order(aapl, OrderSide.BUY, quantity, **fields)
        with pytest.raises(OrderRejected) as caught:
            loop.run_until_complete(session.orders.place(order, confirmed=True))
        message = str(caught.value)
        assert words in message, f"{case}: {message!r}"
        assert "\n" not in message and "Traceback" not in message, case
    assert sim.engine.submitted_count == 0
    assert session.store.orders.list(limit=100) == stored_before
    assert session.orders.working() == []


def test_an_unknown_symbol_is_refused_before_anything_is_sent(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    with pytest.raises(OrderRejected, match="NOSUCH is not known at the broker"):
        loop.run_until_complete(session.orders.place(
            Order(Instrument("NOSUCH"), OrderSide.BUY, 1, OrderType.LIMIT, limit_price=10.0), confirmed=True))
    assert sim.engine.submitted_count == 0
