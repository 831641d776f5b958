"""Specifications of the domain model: validation messages, status transitions, position arithmetic."""

from datetime import UTC, datetime

import pytest

from terminal.domain import (
    Bar,
    BarSize,
    Fill,
    Instrument,
    InvalidInstrument,
    Order,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    SecType,
    ValidationError,
    check_transition,
)

AAPL = Instrument("AAPL", primary_exchange="NASDAQ")
ES = Instrument("ES", SecType.FUTURE, "CME", tick_size=0.25, multiplier=50)
T0 = datetime(2024, 1, 2, 15, 30, tzinfo=UTC)


def test_limit_price_off_the_tick_grid_is_rejected_with_nearest_valid_prices():
    order = Order(AAPL, OrderSide.BUY, 100, OrderType.LIMIT, limit_price=101.003)
    with pytest.raises(OrderRejected, match=r"101.003 is not on the 0.01 tick grid of AAPL.*101.0 and 101.01"):
        order.validate()


def test_future_price_must_be_on_quarter_point_grid():
    ES.check_price(4500.25)
    with pytest.raises(ValidationError, match="0.25 tick grid"):
        ES.check_price(4500.1)


@pytest.mark.parametrize("quantity", [0, -5, float("nan"), float("inf")])
def test_non_positive_or_non_finite_quantity_is_rejected(quantity):
    with pytest.raises(OrderRejected, match="quantity"):
        Order(AAPL, OrderSide.SELL, quantity).validate()


def test_stop_limit_needs_both_prices_and_market_order_takes_no_limit():
    with pytest.raises(OrderRejected, match="needs a stop price"):
        Order(AAPL, OrderSide.SELL, 10, OrderType.STOP_LIMIT, limit_price=100.0).validate()
    with pytest.raises(OrderRejected, match="takes no limit price"):
        Order(AAPL, OrderSide.BUY, 10, OrderType.MARKET, limit_price=100.0).validate()
    Order(AAPL, OrderSide.SELL, 10, OrderType.STOP_LIMIT, limit_price=99.5, stop_price=100.0).validate()


def test_trailing_order_needs_exactly_one_of_amount_or_percent():
    with pytest.raises(OrderRejected, match="exactly one"):
        Order(AAPL, OrderSide.SELL, 10, OrderType.TRAIL).validate()
    with pytest.raises(OrderRejected, match="exactly one"):
        Order(AAPL, OrderSide.SELL, 10, OrderType.TRAIL, trail_amount=1.0, trail_percent=1.0).validate()
    Order(AAPL, OrderSide.SELL, 10, OrderType.TRAIL, trail_percent=2.5).validate()


def test_filled_order_cannot_be_cancelled():
    check_transition(OrderStatus.SUBMITTED, OrderStatus.FILLED)
    with pytest.raises(ValidationError, match="from Filled to Cancelled"):
        check_transition(OrderStatus.FILLED, OrderStatus.CANCELLED)


def test_bar_with_high_below_low_names_the_time():
    with pytest.raises(ValidationError, match="high 9 is below low 10"):
        Bar(T0, 10, 9, 10, 10)


def test_bar_time_must_be_time_zone_aware():
    with pytest.raises(ValidationError, match="no time zone"):
        Bar(datetime(2024, 1, 2), 1, 1, 1, 1)


def test_bar_size_parses_ib_and_short_spellings():
    assert BarSize.parse("5 mins") is BarSize.MIN_5
    assert BarSize.parse("1h") is BarSize.HOUR_1
    assert BarSize.parse("1d") is BarSize.DAY_1
    with pytest.raises(ValidationError, match="use one of"):
        BarSize.parse("7m")


def test_instrument_needs_symbol_and_positive_tick():
    with pytest.raises(InvalidInstrument, match="symbol is empty"):
        Instrument("  ")
    with pytest.raises(InvalidInstrument, match="tick_size"):
        Instrument("X", tick_size=0)


_EXEC_IDS = iter(range(1, 1_000_000))


def _fill(side, qty, price, commission=1.0, instrument=AAPL):
    return Fill(f"e{next(_EXEC_IDS)}", 1, instrument, side, qty, price, T0, commission)


def test_position_average_cost_and_realized_pnl_follow_fills():
    p = Position(AAPL)
    p = p.apply_fill(_fill(OrderSide.BUY, 100, 10.0))
    p = p.apply_fill(_fill(OrderSide.BUY, 100, 12.0))
    assert p.quantity == 200 and p.average_cost == pytest.approx(11.0)
    p = p.apply_fill(_fill(OrderSide.SELL, 50, 13.0))
    assert p.quantity == 150 and p.average_cost == pytest.approx(11.0)
    assert p.realized_pnl == pytest.approx(50 * 2.0 - 3.0)
    p = p.apply_fill(_fill(OrderSide.SELL, 200, 9.0))  # flips to short 50 at 9
    assert p.quantity == -50 and p.average_cost == pytest.approx(9.0)
    assert p.realized_pnl == pytest.approx(100 - 3.0 + 150 * (9.0 - 11.0) - 1.0)


def test_future_pnl_uses_multiplier():
    p = Position(ES).apply_fill(_fill(OrderSide.BUY, 2, 4500.0, 0.0, ES))
    p = p.apply_fill(_fill(OrderSide.SELL, 2, 4502.5, 0.0, ES))
    assert p.realized_pnl == pytest.approx(2 * 2.5 * 50)


def test_order_describe_reads_like_a_ticket():
    order = Order(AAPL, OrderSide.BUY, 100, OrderType.LIMIT, limit_price=187.5)
    assert order.describe() == "BUY 100 AAPL LMT 187.50 DAY"


def test_session_provenance_from_account_type_and_ib_account_ids():
    from terminal.domain import Provenance, session_provenance

    assert session_provenance(["DU1234567"], "SIMULATOR") is Provenance.SIMULATOR
    assert session_provenance(["DU1234567"], "replay") is Provenance.REPLAY
    assert session_provenance(["DU1234567"], "INDIVIDUAL") is Provenance.PAPER
    assert session_provenance(["DF998877"]) is Provenance.PAPER
    assert session_provenance(["U7654321"], "INDIVIDUAL") is Provenance.LIVE
    assert session_provenance([]) is Provenance.UNKNOWN
    assert Provenance.parse("SIMULATOR") is Provenance.SIMULATOR and Provenance.parse("gbm?") is Provenance.UNKNOWN
