"""Domain model shared by simulator, broker, store, backtests and UI: frozen dataclasses, no I/O."""

from terminal.domain.errors import DomainError, InvalidInstrument, OrderRejected, ValidationError
from terminal.domain.instrument import Instrument, SecType
from terminal.domain.market import Bar, BarSize, Quote
from terminal.domain.order import (
    Fill,
    Order,
    OrderPreview,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    can_transition,
    check_transition,
)
from terminal.domain.portfolio import Account, AccountValue, Position
from terminal.domain.provenance import Provenance, session_provenance

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
    "OrderPreview",
    "OrderRejected",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Position",
    "Provenance",
    "Quote",
    "SecType",
    "TimeInForce",
    "ValidationError",
    "can_transition",
    "check_transition",
    "session_provenance",
]
