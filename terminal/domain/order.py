"""Orders, their status machine and fills."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from terminal.domain.errors import OrderRejected, ValidationError
from terminal.domain.instrument import Instrument
from terminal.domain.provenance import Provenance


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    """IB order types; values are IB's orderType strings."""

    MARKET = "MKT"
    LIMIT = "LMT"
    STOP = "STP"
    STOP_LIMIT = "STP LMT"
    TRAIL = "TRAIL"

    @property
    def needs_limit_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def needs_stop_price(self) -> bool:
        return self in (OrderType.STOP, OrderType.STOP_LIMIT)


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"


class OrderStatus(StrEnum):
    """Order life cycle, named as IB names it."""

    PENDING_SUBMIT = "PendingSubmit"
    PRE_SUBMITTED = "PreSubmitted"  # held: stop not triggered, child waiting for parent
    SUBMITTED = "Submitted"
    PENDING_CANCEL = "PendingCancel"
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    INACTIVE = "Inactive"  # rejected
    API_CANCELLED = "ApiCancelled"
    # Sent towards the broker, then the sender stopped before the broker confirmed it, and the broker does not
    # list it after a grace period: it may or may not exist. Working for every risk check (it may fill); the
    # trader checks TWS, and a cancel looks for it at the broker once more. Never re-sent.
    UNKNOWN = "Unknown"

    @property
    def is_done(self) -> bool:
        return self in _DONE

    @property
    def is_working(self) -> bool:
        return not self.is_done


_DONE = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.INACTIVE, OrderStatus.API_CANCELLED})

_LEGAL: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING_SUBMIT: frozenset(
        {OrderStatus.PRE_SUBMITTED, OrderStatus.SUBMITTED, OrderStatus.FILLED, OrderStatus.CANCELLED,
         OrderStatus.INACTIVE, OrderStatus.PENDING_CANCEL, OrderStatus.API_CANCELLED, OrderStatus.UNKNOWN}
    ),
    OrderStatus.UNKNOWN: frozenset(
        {OrderStatus.PRE_SUBMITTED, OrderStatus.SUBMITTED, OrderStatus.FILLED, OrderStatus.CANCELLED,
         OrderStatus.INACTIVE, OrderStatus.PENDING_CANCEL, OrderStatus.API_CANCELLED}
    ),
    OrderStatus.PRE_SUBMITTED: frozenset(
        {OrderStatus.SUBMITTED, OrderStatus.FILLED, OrderStatus.PENDING_CANCEL, OrderStatus.CANCELLED,
         OrderStatus.INACTIVE, OrderStatus.API_CANCELLED}
    ),
    OrderStatus.SUBMITTED: frozenset(
        {OrderStatus.PRE_SUBMITTED, OrderStatus.FILLED, OrderStatus.PENDING_CANCEL, OrderStatus.CANCELLED,
         OrderStatus.INACTIVE, OrderStatus.API_CANCELLED}
    ),
    OrderStatus.PENDING_CANCEL: frozenset(
        {OrderStatus.CANCELLED, OrderStatus.FILLED, OrderStatus.SUBMITTED, OrderStatus.PRE_SUBMITTED,
         OrderStatus.INACTIVE, OrderStatus.API_CANCELLED}
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.INACTIVE: frozenset(),
    OrderStatus.API_CANCELLED: frozenset(),
}


def can_transition(old: OrderStatus, new: OrderStatus) -> bool:
    """True if an order may move from ``old`` to ``new`` (staying put is always allowed)."""
    return old == new or new in _LEGAL[old]


def check_transition(old: OrderStatus, new: OrderStatus) -> None:
    """Raise ValidationError if an order may not move from ``old`` to ``new``."""
    if not can_transition(old, new):
        allowed = ", ".join(sorted(s.value for s in _LEGAL[old])) or "nothing (final state)"
        raise ValidationError(f"order status cannot go from {old.value} to {new.value}; allowed: {allowed}")


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the user or a strategy intends it, plus its broker-side state.

    ``client_order_id`` is ours (IB ``orderRef``): set before the order is sent and never
    changed, it is how every event is matched to the order. ``order_id`` is the IB order id
    of the connection that sent it (0 until sent) and ``perm_id`` IB's permanent id (0 until
    the broker acknowledges the order); neither alone identifies an order, because a
    restarted TWS / Gateway reuses order ids. ``parent_ref`` is the parent's client order id
    for bracket children.
    """

    instrument: Instrument
    side: OrderSide
    quantity: float
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    trail_amount: float | None = None
    trail_percent: float | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    outside_rth: bool = False
    parent_id: int = 0
    oca_group: str = ""
    transmit: bool = True
    client_order_id: str = ""
    order_id: int = 0
    account: str = ""
    status: OrderStatus = OrderStatus.PENDING_SUBMIT
    filled_quantity: float = 0.0
    average_fill_price: float = 0.0
    created: datetime | None = None
    updated: datetime | None = None
    reason: str = ""  # why rejected / cancelled
    source: str = "manual"  # ticket | hotkey | ladder | chart | close position | strategy name | external
    perm_id: int = 0
    parent_ref: str = ""
    # The IB API client id that placed it, as the broker reports it (0: unknown, or TWS itself). IB
    # sends an order's updates only to that client and lets only that client cancel or modify it.
    api_client_id: int = 0
    # The broker session it was sent to or reported by (live, paper, simulator, replay); see provenance.py.
    provenance: Provenance = Provenance.UNKNOWN

    @property
    def is_external(self) -> bool:
        """Placed outside this terminal (TWS, another API client): shown, never sent by us."""
        return self.source == "external"

    def validate(self) -> None:
        """Raise OrderRejected naming the first field that is wrong."""
        ins = self.instrument
        try:
            ins.check_quantity(self.quantity)
            if self.order_type.needs_limit_price:
                if self.limit_price is None:
                    raise ValidationError(f"{self.order_type.value} order needs a limit price")
                ins.check_price(self.limit_price, "limit price")
            elif self.limit_price is not None and self.order_type is not OrderType.TRAIL:
                raise ValidationError(f"{self.order_type.value} order takes no limit price")
            if self.order_type.needs_stop_price:
                if self.stop_price is None:
                    raise ValidationError(f"{self.order_type.value} order needs a stop price")
                ins.check_price(self.stop_price, "stop price")
            if self.order_type is OrderType.TRAIL:
                amount, percent = self.trail_amount, self.trail_percent
                if (amount is None) == (percent is None):
                    raise ValidationError("TRAIL order needs exactly one of trail amount or trail percent")
                if amount is not None:
                    ins.check_price(amount, "trail amount")
                elif percent is not None and not (0 < percent < 100):
                    raise ValidationError(f"trail percent {percent} must be between 0 and 100")
            if self.filled_quantity < 0 or self.filled_quantity > self.quantity + 1e-9:
                raise ValidationError(
                    f"filled quantity {self.filled_quantity:g} outside 0 .. {self.quantity:g}"
                )
        except ValidationError as exc:
            raise OrderRejected(str(exc), rule="validation") from exc

    @property
    def remaining(self) -> float:
        return max(0.0, self.quantity - self.filled_quantity)

    @property
    def signed_quantity(self) -> float:
        return self.side.sign * self.quantity

    @property
    def price_for_notional(self) -> float:
        for p in (self.limit_price, self.stop_price):
            if p is not None and math.isfinite(p):
                return p
        return math.nan

    def with_status(self, status: OrderStatus, **changes: object) -> Order:
        """A copy in ``status``; raises if the transition is illegal."""
        check_transition(self.status, status)
        return replace(self, status=status, **changes)  # type: ignore[arg-type]  # the fields' types vary

    def describe(self) -> str:
        """One-line human description: ``BUY 100 AAPL LMT 187.50 DAY``."""
        parts = [self.side.value, f"{self.quantity:g}", self.instrument.display_name, self.order_type.value]
        nd = self.instrument.price_decimals()
        if self.stop_price is not None:
            parts.append(f"stop {self.stop_price:.{nd}f}")
        if self.limit_price is not None:
            parts.append(f"{self.limit_price:.{nd}f}")
        if self.trail_amount is not None:
            parts.append(f"trail {self.trail_amount:.{nd}f}")
        if self.trail_percent is not None:
            parts.append(f"trail {self.trail_percent:g}%")
        parts.append(self.time_in_force.value)
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of (part of) an order."""

    execution_id: str
    order_id: int
    instrument: Instrument
    side: OrderSide
    quantity: float
    price: float
    time: datetime
    commission: float = 0.0
    account: str = ""
    client_order_id: str = ""
    realized_pnl: float = 0.0
    perm_id: int = 0
    provenance: Provenance = Provenance.UNKNOWN  # the broker session that reported it
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.execution_id:
            raise ValidationError("fill has no execution id")
        if not (self.quantity > 0):
            raise ValidationError(f"fill {self.execution_id}: quantity {self.quantity} must be > 0")
        if not (math.isfinite(self.price) and self.price > 0):
            raise ValidationError(f"fill {self.execution_id}: price {self.price} must be > 0")

    @property
    def signed_quantity(self) -> float:
        return self.side.sign * self.quantity

    @property
    def notional(self) -> float:
        return self.quantity * self.price * self.instrument.multiplier

    @property
    def ledger(self) -> str:
        """The account figures this fill belongs to (``Account.ledger``): provenance and account id."""
        return f"{self.provenance.value}:{self.account}"


@dataclass(frozen=True, slots=True)
class OrderPreview:
    """What an order would cost, as the broker answers a what-if order (nothing is executed).

    ``source`` is ``"broker"`` for the broker's own answer and ``"estimate"`` for a local
    estimate made when the broker gave none (``note`` then says why). Unknown values are NaN.
    """

    commission: float = math.nan
    min_commission: float = math.nan
    max_commission: float = math.nan
    commission_currency: str = ""
    initial_margin_change: float = math.nan
    maintenance_margin_change: float = math.nan
    initial_margin_after: float = math.nan
    equity_with_loan_after: float = math.nan
    warning: str = ""
    source: str = "broker"
    note: str = ""
