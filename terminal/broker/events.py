"""Typed broker events and the small bus that delivers them on the asyncio loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from terminal.domain import Account, Bar, Fill, Instrument, Order, Position, Quote

log = logging.getLogger(__name__)


class ConnectionState(Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"


@dataclass(frozen=True)
class QuoteEvent:
    instrument: Instrument | None
    quote: Quote


@dataclass(frozen=True)
class TickEvent:
    """Every tick of a quote stream since the last QuoteEvent, in the order they came, as
    (epoch seconds, "bid" | "ask" | "last" | "volume", price, size); only while a recorder asks
    for them (``Broker.record_ticks``), since a QuoteEvent already carries the state after them."""

    instrument: Instrument
    ticks: tuple[tuple[float, str, float, float], ...]


@dataclass(frozen=True)
class DepthEvent:
    instrument: Instrument
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class BarEvent:
    instrument: Instrument
    bar: Bar


@dataclass(frozen=True)
class OrderEvent:
    order: Order


@dataclass(frozen=True)
class FillEvent:
    fill: Fill


@dataclass(frozen=True)
class PositionEvent:
    position: Position


@dataclass(frozen=True)
class AccountEvent:
    account: Account


@dataclass(frozen=True)
class ErrorEvent:
    """An IB error or notice; for an order of this connection ``client_order_id`` names it."""

    code: int
    message: str
    request_id: int = -1
    order_id: int = 0
    client_order_id: str = ""


@dataclass(frozen=True)
class ConnectionEvent:
    state: ConnectionState
    attempt: int = 0
    next_retry_seconds: float = 0.0
    message: str = ""


BrokerEvent = (QuoteEvent | TickEvent | DepthEvent | BarEvent | OrderEvent | FillEvent | PositionEvent | AccountEvent
               | ErrorEvent | ConnectionEvent)


class EventBus:
    """Subscribers get every event in order; one failing subscriber is logged and the rest still run."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[BrokerEvent], object]] = []

    def subscribe(self, callback: Callable[[BrokerEvent], object]) -> None:
        if callback not in self._subscribers:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[BrokerEvent], object]) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def publish(self, event: BrokerEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("broker event subscriber %r failed on %s", callback, type(event).__name__)
