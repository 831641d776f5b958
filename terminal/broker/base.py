"""The Broker protocol in domain terms, and the errors every implementation raises."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from terminal.broker.events import EventBus
from terminal.domain import (
    Account,
    AccountValue,
    Bar,
    BarSize,
    Fill,
    Instrument,
    Order,
    OrderPreview,
    Position,
    Provenance,
    Quote,
)

# Longest span one historical request may cover per bar size (IB's limits, kept conservative).
HISTORY_CHUNK = {
    BarSize.SEC_5: timedelta(hours=1), BarSize.MIN_1: timedelta(days=7), BarSize.MIN_5: timedelta(days=30),
    BarSize.MIN_15: timedelta(days=30), BarSize.HOUR_1: timedelta(days=30), BarSize.DAY_1: timedelta(days=365),
}


class BrokerError(RuntimeError):
    """The broker refused or could not carry out a request; the message says why."""


class NotConnected(BrokerError):
    """No connection to TWS / Gateway / the simulator right now; nothing was sent."""


class UnknownInstrument(BrokerError):
    """The broker has no security definition for the instrument (IB error 200)."""


class OrderNotAtBroker(BrokerError):
    """The order is not known to this broker connection: nothing was modified or cancelled."""


class Broker(Protocol):
    """What the services need of a broker connection; ``IBBroker`` implements it over the TWS API.

    Orders are addressed by our client order id (IB ``orderRef``, set before sending) and IB's
    permanent id, never by the IB order id alone: a restarted TWS / Gateway reuses order ids.
    After every connect and reconnect the connection publishes ``ConnectionEvent(CONNECTED)``
    once its own sync (open orders, completed orders, executions, positions) is complete.
    ``provenance`` says what the session is (live, paper, simulator, replay; UNKNOWN until the first
    connect completes), and every order, fill and account the connection reports carries it.
    """

    events: EventBus
    record_ticks: bool  # publish a TickEvent with every tick besides the QuoteEvents (for the recorder)
    provenance: Provenance

    @property
    def is_connected(self) -> bool: ...

    @property
    def client_id(self) -> int: ...

    async def connect(self, host: str, port: int, client_id: int, timeout: float = 10.0) -> None: ...
    async def disconnect(self) -> None: ...
    def forget_streams(self) -> None: ...
    def remember(self, instrument: Instrument) -> None: ...
    async def qualify(self, instrument: Instrument) -> Instrument: ...
    async def search(self, pattern: str) -> list[Instrument]: ...
    async def subscribe_quotes(self, instrument: Instrument) -> None: ...
    async def unsubscribe_quotes(self, instrument: Instrument) -> None: ...
    async def subscribe_depth(self, instrument: Instrument, levels: int = 10) -> None: ...
    async def unsubscribe_depth(self, instrument: Instrument) -> None: ...
    async def subscribe_bars(self, instrument: Instrument) -> None: ...
    async def history(self, instrument: Instrument, bar_size: BarSize, start: datetime, end: datetime,
                      progress: Callable[[float], None] | None = None,
                      open_periods: Sequence[tuple[datetime, datetime]] | None = None) -> list[Bar]: ...
    async def snapshot(self, instrument: Instrument, timeout: float = 3.0) -> Quote: ...
    async def place(self, order: Order) -> Order: ...
    async def place_bracket(self, parent: Order, *children: Order) -> list[Order]: ...
    async def modify(self, order: Order) -> Order: ...
    async def cancel(self, order: Order) -> None: ...
    async def cancel_all(self) -> None: ...
    async def what_if(self, order: Order, timeout: float = 5.0) -> OrderPreview: ...
    async def open_orders(self) -> list[Order]: ...
    async def completed_orders(self) -> list[Order]: ...
    async def executions(self) -> list[Fill]: ...
    async def positions(self) -> list[Position]: ...
    async def account(self) -> Account: ...
    async def account_values(self) -> list[AccountValue]: ...
    async def server_time(self) -> datetime: ...
