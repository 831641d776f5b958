"""Each pre-trade risk rule rejects with its name and a reason; orders inside the limits pass."""

import math

import pytest

from terminal.config import RiskLimits
from terminal.domain import Instrument, Order, OrderRejected, OrderSide, OrderType, SecType
from terminal.services.risk import RiskChecker, RiskContext

AAPL = Instrument("AAPL")
ES = Instrument("ES", SecType.FUTURE, "CME", tick_size=0.25, multiplier=50)
LIMITS = RiskLimits(max_order_quantity=1000, max_notional=100_000, price_band_percent=5, max_position=1500,
                    daily_loss_limit=10_000)
FLAT = RiskContext(reference_price=100.0, position=0, working_quantity=0, daily_pnl=0.0)


def _rule(order: Order, context: RiskContext = FLAT, checker: RiskChecker | None = None) -> str:
    with pytest.raises(OrderRejected) as info:
        (checker or RiskChecker(LIMITS)).check(order, context)
    return f"{info.value.rule}: {info.value}"


def test_order_inside_every_limit_passes():
    RiskChecker(LIMITS).check(Order(AAPL, OrderSide.BUY, 500, OrderType.LIMIT, limit_price=101.0), FLAT)


def test_max_order_quantity():
    assert _rule(Order(AAPL, OrderSide.BUY, 1001)).startswith("max_order_quantity: quantity 1001 exceeds")


def test_max_notional_uses_multiplier_for_futures():
    order = Order(ES, OrderSide.BUY, 1, OrderType.LIMIT, limit_price=4500.0)
    context = RiskContext(4500.0, 0, 0, 0.0)
    assert _rule(order, context).startswith("max_notional: notional 225,000")


def test_market_order_notional_uses_the_last_price():
    assert _rule(Order(AAPL, OrderSide.BUY, 900), RiskContext(150.0, 0, 0, 0.0)).startswith("max_notional")


def test_fat_finger_price_band():
    text = _rule(Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=110.0))
    assert text.startswith("price_band: limit price 110 is 10.0% away from last 100")


def test_max_position_counts_working_orders():
    context = RiskContext(100.0, position=800, working_quantity=500, daily_pnl=0.0)
    assert _rule(Order(AAPL, OrderSide.BUY, 300), context).startswith("max_position: position in AAPL would reach +1600")
    RiskChecker(LIMITS).check(Order(AAPL, OrderSide.SELL, 300), context)  # reducing is fine


def test_daily_loss_limit_allows_only_reducing_orders():
    context = RiskContext(100.0, position=200, working_quantity=0, daily_pnl=-12_000.0)
    assert _rule(Order(AAPL, OrderSide.BUY, 10), context).startswith("daily_loss_limit")
    RiskChecker(LIMITS).check(Order(AAPL, OrderSide.SELL, 100), context)


def test_kill_switch_blocks_everything():
    checker = RiskChecker(LIMITS)
    checker.kill_switch = True
    assert _rule(Order(AAPL, OrderSide.SELL, 1), checker=checker).startswith("kill_switch")


def test_invalid_order_is_rejected_before_the_limits():
    assert _rule(Order(AAPL, OrderSide.BUY, -5)).startswith("validation: quantity -5 must be > 0")


def test_unknown_reference_price_skips_only_price_rules():
    RiskChecker(LIMITS).check(Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=1.0),
                              RiskContext(math.nan, 0, 0, math.nan))


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="max_notional"):
        RiskChecker(LIMITS).update(max_notional=-1)
