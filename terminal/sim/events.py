"""Values passed between the simulator's market (price paths, order book) and its matching engine."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from terminal.domain import Fill, Order


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: float
    size: float


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """The simulated order book of one instrument at one moment; bids best first, asks best first."""

    contract_id: int
    time: datetime
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    last: float = math.nan
    last_size: float = 0.0
    volume: float = 0.0

    @property
    def bid(self) -> float:
        return self.bids[0].price if self.bids else math.nan

    @property
    def ask(self) -> float:
        return self.asks[0].price if self.asks else math.nan

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order changed state (IB: openOrder + orderStatus), for the client that owns it."""

    client_id: int
    order: Order  # domain order with order_id, status, filled_quantity, average_fill_price
    perm_id: int
    last_fill_price: float = 0.0
    why_held: str = ""


@dataclass(frozen=True, slots=True)
class Execution:
    """A fill (IB: execDetails + commissionReport), for the client that owns the order."""

    client_id: int
    fill: Fill
    perm_id: int
    cumulative_quantity: float
    average_price: float


@dataclass(frozen=True, slots=True)
class Rejection:
    """An order request refused with an IB error code (201 rejected, 10147 unknown id, …)."""

    client_id: int
    order_id: int
    code: int
    message: str


EngineEvent = OrderUpdate | Execution | Rejection

