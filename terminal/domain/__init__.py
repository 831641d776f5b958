"""Domain model shared by simulator, broker, store, backtests and UI: frozen dataclasses, no I/O."""

from terminal.domain.errors import DomainError, InvalidInstrument, OrderRejected, ValidationError
from terminal.domain.instrument import Instrument, SecType
from terminal.domain.market import Bar, BarSize, Quote
from terminal.domain.order import (
    Fill,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    check_transition,
)
from terminal.domain.portfolio import Account, AccountValue, Position

__all__ = [
    "Account",
    "AccountValue",
    "Bar",
    "BarSize",
    "DomainError",
    "Fill",
    "Instrument",
    "InvalidInstrument",
    "Order",
    "OrderRejected",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Position",
    "Quote",
    "SecType",
    "TimeInForce",
    "ValidationError",
    "check_transition",
]
