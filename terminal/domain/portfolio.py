"""Positions and account values, and the pure P&L arithmetic that updates a position from fills."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from terminal.domain.instrument import Instrument
from terminal.domain.order import Fill
from terminal.domain.provenance import Provenance


@dataclass(frozen=True, slots=True)
class Position:
    """Net position in one instrument; ``average_cost`` per unit, excluding multiplier."""

    instrument: Instrument
    quantity: float = 0.0
    average_cost: float = 0.0
    realized_pnl: float = 0.0
    market_price: float = math.nan
    account: str = ""

    @property
    def market_value(self) -> float:
        if not math.isfinite(self.market_price):
            return math.nan
        return self.quantity * self.market_price * self.instrument.multiplier

    @property
    def unrealized_pnl(self) -> float:
        if not math.isfinite(self.market_price) or self.quantity == 0:
            return 0.0 if self.quantity == 0 else math.nan
        return (self.market_price - self.average_cost) * self.quantity * self.instrument.multiplier

    def apply_fill(self, fill: Fill) -> Position:
        """Position after ``fill`` (average-cost method; commission goes into realized P&L)."""
        q0, q = self.quantity, fill.signed_quantity
        mult = self.instrument.multiplier
        realized = self.realized_pnl - fill.commission
        if q0 == 0 or (q0 > 0) == (q > 0):
            new_q = q0 + q
            avg = (self.average_cost * abs(q0) + fill.price * abs(q)) / abs(new_q)
            return replace(self, quantity=new_q, average_cost=avg, realized_pnl=realized)
        closing = min(abs(q0), abs(q))
        realized += closing * (fill.price - self.average_cost) * (1 if q0 > 0 else -1) * mult
        new_q = q0 + q
        if abs(new_q) < 1e-12:
            return replace(self, quantity=0.0, average_cost=0.0, realized_pnl=realized)
        if (new_q > 0) == (q0 > 0):
            return replace(self, quantity=new_q, realized_pnl=realized)
        return replace(self, quantity=new_q, average_cost=fill.price, realized_pnl=realized)


@dataclass(frozen=True, slots=True)
class AccountValue:
    """One account value as IB reports it (``NetLiquidation``, ``TotalCashValue`` …)."""

    account: str
    tag: str
    value: str
    currency: str = "USD"

    @property
    def number(self) -> float:
        try:
            return float(self.value)
        except ValueError:
            return math.nan


@dataclass(frozen=True, slots=True)
class Account:
    """The account summary the terminal shows."""

    account: str
    net_liquidation: float = math.nan
    total_cash: float = math.nan
    buying_power: float = math.nan
    daily_pnl: float = math.nan
    unrealized_pnl: float = math.nan
    realized_pnl: float = math.nan
    currency: str = "USD"
    provenance: Provenance = Provenance.UNKNOWN  # live, paper, simulator or replay: the broker session's

    @property
    def ledger(self) -> str:
        """The key of this account's own figures (daily-loss baseline, realized P&L): a simulator account
        and a real one never share them, even under the same id."""
        return f"{self.provenance.value}:{self.account}"
